/**
 * `lockstep barrier …`: ask the cluster whether every member applied a revision, or has keys
 * present or absent (DESIGN §5). Exit 0 applied, 1 not applied (laggards printed), 2 error.
 */
import type { Command } from 'commander';
import { EVICTED_REASON } from '../../transport/api_types.js';
import type { BarrierReply, Laggard } from '../../transport/client.js';
import { errors } from '../../transport/errors.js';
import { formatKey, parseKey, parseKeyWithRevision } from '../../transport/schema_types.js';
import { parseDuration } from '../../transport/duration.js';
import { runCommand, type Output } from './output.js';

/** Exit code when the barrier answered `applied: false`. */
export const EXIT_NOT_APPLIED = 1;

const DEFAULT_TIMEOUT = '5s';
const TIMEOUT_DESC = 'how long the cluster may take, e.g. 500ms, 5s, 2m (≤ 0 means the server default, 5s)';

type Opts = { minRevision?: string; key?: string[]; timeout?: string };

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function parseTimeout(o: Opts): number {
  return parseDuration(o.timeout ?? DEFAULT_TIMEOUT, '--timeout');
}

function keysOf(o: Opts): string[] {
  if (!o.key || o.key.length === 0) throw errors.invalidArgument('at least one --key is needed');
  return o.key;
}

/** One human line per laggard: node, current revision, missing or still-present keys, reason. */
export function laggardLine(l: Laggard): string {
  const parts = [l.node];
  // Only revision calls report a member's revision; key calls report keys.
  if (l.current_revision !== undefined) parts.push(`revision=${l.current_revision}`);
  if (l.missing_keys?.length) parts.push(`missing=${l.missing_keys.join(',')}`);
  if (l.still_present_keys?.length) parts.push(`still_present=${l.still_present_keys.join(',')}`);
  if (l.keys_not_listed) parts.push(`and ${l.keys_not_listed} more keys`);
  if (l.reason) parts.push(`reason=${l.reason}`);
  return parts.join('  ');
}

/** What a barrier call asked, for its headline. */
export type BarrierAsk =
  | { call: 'revision'; minRevision: number }
  | { call: 'applied'; keys: string[]; minRevisions?: number[] }
  | { call: 'deleted'; keys: string[] };

/** Keys, and nodes per key, named in a headline at most; the laggard lines below list everything. */
export const HEADLINE_MAX_KEYS = 3;
export const HEADLINE_MAX_NODES = 4;

function capped(items: string[], max: number, noun: string, sep = ', '): string {
  if (items.length <= max) return items.join(sep);
  const more = items.length - max;
  return `${items.slice(0, max).join(sep)}${sep}and ${more} more ${more === 1 ? noun : `${noun}s`}`;
}

// A laggard that gave no answer this round is marked, so "missing" is not read as a fact about it.
function nodeLabel(l: Laggard): string {
  if (!l.reason) return l.node;
  return `${l.node} (${l.reason === EVICTED_REASON ? 'evicted during the call' : 'no answer'})`;
}

/**
 * The first line of a barrier report. Success reads `applied: …`; anything else leads with what is
 * missing and where, e.g. `NOT APPLIED: measure:g1/cpu missing on data-d1 (revision ≥ 7)`.
 */
export function barrierHeadline(ask: BarrierAsk, r: BarrierReply): string {
  // Members evicted during the call were dropped from it: reported below, but they block nothing.
  const live = r.laggards.filter((l) => l.reason !== EVICTED_REASON);
  const blocking = live.length > 0 ? live : r.laggards;
  if (ask.call === 'revision') {
    if (r.applied) return `applied: every member at revision ≥ ${ask.minRevision}`;
    const where = blocking.map((l) =>
      l.current_revision !== undefined && !l.reason ? `${l.node} (at ${l.current_revision})` : nodeLabel(l),
    );
    return `NOT APPLIED: revision ${ask.minRevision} not reached on ${capped(where, HEADLINE_MAX_NODES, 'member')}`;
  }
  const applied = ask.call === 'applied';
  const present = (k: string) => (applied ? `${k} present on every member` : `${k} absent on every member`);
  if (r.applied)
    return `${applied ? 'applied' : 'deleted'}: ${capped(ask.keys.map(present), HEADLINE_MAX_KEYS, 'key')}`;
  const lagging = ask.keys.flatMap((key, i) => {
    const on = blocking.filter((l) => (applied ? l.missing_keys : l.still_present_keys)?.includes(key));
    if (on.length === 0) return [];
    const min = applied ? ask.minRevisions?.[i] : undefined;
    const rev = min ? ` (revision ≥ ${min})` : '';
    const nodes = capped(on.map(nodeLabel), HEADLINE_MAX_NODES, 'member');
    return [`${key} ${applied ? 'missing' : 'still present'} on ${nodes}${rev}`];
  });
  // Keys beyond what a laggard lists (keys_not_listed) or members that named none: say who lags.
  if (lagging.length === 0)
    lagging.push(`no answer from ${capped(blocking.map(nodeLabel), HEADLINE_MAX_NODES, 'member')}`);
  return `${applied ? 'NOT APPLIED' : 'NOT DELETED'}: ${capped(lagging, HEADLINE_MAX_KEYS, 'key', '; ')}`;
}

// Prints a barrier reply and returns the exit code. Laggards can come with `applied: true` too
// (members evicted during the call), so they are printed either way.
function report(out: Output, r: BarrierReply, ask: BarrierAsk): number {
  out.result(r, () => [barrierHeadline(ask, r), ...r.laggards.map((l) => `  ${laggardLine(l)}`)]);
  return r.applied ? 0 : EXIT_NOT_APPLIED;
}

/** Adds `barrier revision|applied|deleted` to the program. */
export function registerBarrierCommands(program: Command): void {
  const barrier = program
    .command('barrier')
    .description(
      'wait until every cluster member applied a schema revision or keys (exit 0 applied, 1 not applied, 2 error)',
    );

  barrier
    .command('revision')
    .description('wait until every member applied at least --min-revision')
    .requiredOption('--min-revision <n>', 'the schema revision every member must have applied')
    .option('--timeout <duration>', TIMEOUT_DESC, DEFAULT_TIMEOUT)
    .action((o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const raw = o.minRevision ?? '';
        if (!/^[0-9]{1,15}$/.test(raw))
          throw errors.invalidArgument(`--min-revision must be a non-negative integer, got ${JSON.stringify(raw)}`);
        const minRevision = Number(raw);
        const timeoutMs = parseTimeout(o);
        const r = await (await client()).awaitRevision(minRevision, { timeoutMs });
        return report(out, r, { call: 'revision', minRevision });
      }),
    );

  barrier
    .command('applied')
    .description('wait until every key is present on every member (at REV or later with KIND:GROUP/NAME@REV)')
    .option('--key <key>', 'measure:GROUP/NAME[@REV], group:NAME, …; repeatable', collect)
    .option('--timeout <duration>', TIMEOUT_DESC, DEFAULT_TIMEOUT)
    .action((o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const parsed = keysOf(o).map((k) => parseKeyWithRevision(k));
        const timeoutMs = parseTimeout(o);
        const minRevisions = parsed.some((p) => p.minRevision > 0) ? parsed.map((p) => p.minRevision) : undefined;
        const r = await (
          await client()
        ).awaitApplied(
          parsed.map((p) => p.key),
          { timeoutMs, minRevisions },
        );
        return report(out, r, {
          call: 'applied',
          keys: parsed.map((p) => formatKey(p.key)),
          minRevisions: parsed.map((p) => p.minRevision),
        });
      }),
    );

  barrier
    .command('deleted')
    .description('wait until every key is absent on every member')
    .option('--key <key>', 'measure:GROUP/NAME, group:NAME, …; repeatable', collect)
    .option('--timeout <duration>', TIMEOUT_DESC, DEFAULT_TIMEOUT)
    .action((o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const keys = keysOf(o).map((k) => parseKey(k));
        const timeoutMs = parseTimeout(o);
        const r = await (await client()).awaitDeleted(keys, { timeoutMs });
        return report(out, r, { call: 'deleted', keys: keys.map((k) => formatKey(k)) });
      }),
    );
}
