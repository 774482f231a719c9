/**
 * What the cluster benchmarks share about the cluster under test and its stored data: starting a
 * standalone node, the pids a report lists, waiting until the members are active, creating the
 * measure a data benchmark writes to, the merged write token of a load, waiting (bounded) until
 * the data nodes flushed it to parts, and the bytes their data directories take.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalCluster } from '../../runtime/local_cluster.js';
import type { LockstepClient } from '../../transport/client.js';
import type { WriteToken } from '../../transport/query_types.js';
import type { Measure } from '../../transport/schema_types.js';
import { pollUntil, sleep } from './bench_cli.js';
import type { ShardHealth } from '../../transport/api_types.js';
import { nodeShards } from '../harness/node_shards.js';

/** Interval of the bounded flush poll. */
const FLUSH_POLL_MS = 100;
/** Between part counts while merges settle after a load. */
const SETTLE_POLL_MS = 500;

/** Starts nats-server and one standalone node `name` in `dir`; stops what it started if the node fails. */
export async function startStandalone(dir: string, name: string, nodeArgs: string[] = []): Promise<LocalCluster> {
  const lc = await LocalCluster.start({
    dir,
    liaisons: 0,
    dataNodes: 0,
    claimers: 0,
    nodeArgs: ['--log-level', 'warn', ...nodeArgs],
  });
  try {
    lc.spawnNode(name, ['standalone']);
    await lc.waitReady(name);
    lc.writeClusterFile();
    return lc;
  } catch (err) {
    await lc.stop();
    throw err;
  }
}

/** The pid of the cluster's nats-server, from its cluster.json; undefined without one. */
export function natsPidOf(lc: LocalCluster): number | undefined {
  return natsPidsOf(lc)[0];
}

/** Every nats-server the cluster started (one, or the servers of its NATS cluster). */
export function natsPidsOf(lc: LocalCluster): number[] {
  try {
    const doc = JSON.parse(readFileSync(join(lc.opts.dir, 'cluster.json'), 'utf8')) as {
      natsPid?: number;
      natsPids?: number[];
    };
    if (Array.isArray(doc.natsPids)) return doc.natsPids;
    return typeof doc.natsPid === 'number' ? [doc.natsPid] : [];
  } catch {
    // No cluster.json: the NATS pid is simply not reported.
    return [];
  }
}

/** The pids of a local cluster's nodes and nats-server, so a caller can check none is left after the run. */
export function pidsOf(lc: LocalCluster): number[] {
  const pids = [...lc.nodes.values()].map((n) => n.pid);
  pids.push(...natsPidsOf(lc));
  return pids;
}

/** Polls (every `pollMs`) until the liaison lists every one of `members` as active; throws after `timeoutMs`. */
export async function waitMembersActive(
  client: LockstepClient,
  members: readonly string[],
  timeoutMs: number,
  pollMs: number,
): Promise<void> {
  const seen = await pollUntil(
    async () => {
      const r = await client.members();
      return members.every((n) => r.members.some((m) => m.name === n && m.state === 'active'));
    },
    timeoutMs,
    pollMs,
  );
  if (!seen)
    throw new Error(`the liaison did not see every member (${members.join(', ')}) active within ${timeoutMs} ms`);
}

/** What a benchmark's measure is made of. */
export type BenchMeasure = Pick<Measure, 'group' | 'name' | 'entity' | 'tag_families' | 'fields'>;

/** Where and how long `createMeasure` waits, and the group it creates. */
export interface MeasureSetup {
  /** The members to see active before creating anything. */
  members: readonly string[];
  shards: number;
  ttl: string;
  membersTimeoutMs: number;
  appliedTimeoutMs: number;
  /** Interval of the members poll. */
  pollMs: number;
}

/**
 * Once the liaison lists every member of `setup` as active, creates the measure group of `measure`
 * (`setup.shards` shards, 1 d segments, `setup.ttl`) and the measure, and waits until the measure
 * is applied everywhere. Throws when either wait runs out.
 */
export async function createMeasure(client: LockstepClient, setup: MeasureSetup, measure: BenchMeasure): Promise<void> {
  await waitMembersActive(client, setup.members, setup.membersTimeoutMs, setup.pollMs);
  const { shards, ttl } = setup;
  await client.create('group', { name: measure.group, catalog: 'measure', shards, segment_interval: '1d', ttl });
  const m = await client.create('measure', measure);
  const ready = await client.awaitApplied([`measure:${measure.group}/${measure.name}`], {
    minRevisions: [m.revision],
    timeoutMs: setup.appliedTimeoutMs,
  });
  if (!ready.applied) throw new Error(`the measure was not applied everywhere: ${JSON.stringify(ready.laggards)}`);
}

/** Folds a write's token into `into`: per shard, the largest sequence. */
export function mergeToken(into: WriteToken, t: WriteToken): void {
  for (const [s, seq] of Object.entries(t.shards)) into.shards[s] = Math.max(into.shards[s] ?? 0, seq);
}

/** A committed part's directory name (a `.tmp` one is still being written). */
const PART_DIR = /^part-\d+$/;

/**
 * The parts under a data dir (directories `part-<n>`): fewer at the end of a run than at its start
 * means background merges ran meanwhile.
 */
export function partCount(dir: string): number {
  let parts = 0;
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      // A directory a merge removed meanwhile.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (PART_DIR.test(e.name)) parts++;
      else walk(join(d, e.name));
    }
  };
  walk(dir);
  return parts;
}

/**
 * Waits until the background merges after a load have settled: the part count under `dir` held
 * still for `stillMs` (pass more than the shard actor's quiet-merge check, so a quiet segment's
 * merge has begun and ended), or `timeoutMs` passed. Returns the seconds waited and whether it
 * settled. Pacing of a benchmark, not synchronisation: nothing on the node says "merged".
 */
export async function waitPartsSettled(
  dir: string,
  stillMs: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ waited_s: number; settled: boolean }> {
  const t0 = performance.now();
  let count = partCount(dir);
  let since = t0;
  while (performance.now() - t0 < timeoutMs) {
    if (signal.aborted) throw new Error('interrupted while waiting for merges to settle');
    await sleep(SETTLE_POLL_MS);
    const now = partCount(dir);
    if (now !== count) {
      count = now;
      since = performance.now();
    } else if (performance.now() - since >= stillMs) {
      return { waited_s: Math.round(performance.now() - t0) / 1000, settled: true };
    }
  }
  return { waited_s: Math.round(performance.now() - t0) / 1000, settled: false };
}

/**
 * Sum of the sizes of the files under `dir`, and their count. Background merges may remove parts
 * while it walks: what vanished meanwhile is not counted.
 */
export function diskUsage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (gone(err)) return;
      throw err;
    }
    for (const e of entries) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) {
        try {
          bytes += statSync(path).size;
          files++;
        } catch (err) {
          if (!gone(err)) throw err;
        }
      }
    }
  };
  walk(dir);
  return { bytes, files };
}

/** Polls the data nodes' actors until, for every shard of `token`, one of them flushed its sequence to parts. */
export async function waitFlushed(
  client: LockstepClient,
  nodes: readonly string[],
  token: WriteToken,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  let last: ShardHealth[] = [];
  while (performance.now() < deadline && !signal.aborted) {
    last = [];
    for (const node of nodes) {
      last.push(...nodeShards(await client.actors(node)));
    }
    const done = Object.entries(token.shards).every(([s, seq]) =>
      last.some((x) => x.shard === `${token.group}/${s}` && x.flushed >= seq),
    );
    if (done) return;
    await sleep(FLUSH_POLL_MS);
  }
  throw new Error(
    `the shards did not flush the load in time: token ${JSON.stringify(token.shards)}, shards ${JSON.stringify(last)}`,
  );
}
