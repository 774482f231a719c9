/**
 * `lockstep barrier …`: ask the cluster whether every member applied a revision, or has keys
 * present or absent (DESIGN §5). Exit 0 applied, 1 not applied (laggards printed), 2 error.
 */
import type { Command } from 'commander';
import type { BarrierReply, Laggard } from '../../transport/client.js';
import { errors } from '../../transport/errors.js';
import { parseKey, parseKeyWithRevision } from '../../transport/schema_types.js';
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

// Prints a barrier reply and returns the exit code. Laggards can come with `applied: true` too
// (members evicted during the call), so they are printed either way.
function report(out: Output, r: BarrierReply, what: string): number {
  out.result(r, () => [
    r.applied ? `applied: ${what}` : `not applied: ${what}; ${r.laggards.length} laggard(s)`,
    ...r.laggards.map((l) => `  ${laggardLine(l)}`),
  ]);
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
        return report(out, r, `every member at revision ≥ ${minRevision}`);
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
        return report(out, r, `${parsed.length} key(s) present everywhere`);
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
        return report(out, r, `${keys.length} key(s) absent everywhere`);
      }),
    );
}
