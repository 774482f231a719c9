/**
 * The query benchmark (issue: `npm run bench:query`): loads `--points` points over `--series` series
 * into a standalone node through the public write API, waits until every point is applied and
 * flushed to parts, checks the answers once against what was written, then times five queries
 * `--runs` times each, one after the other:
 *
 * - `window_mean_by_region`: mean of the first field (`f1`, or `value` in the `walk` shape) grouped
 *   by `region` over every series for one hour (the hour ending 2 h before the newest point);
 *   target median < 15 ms on a standalone node;
 * - `minute_mean_by_region`: the same per one-minute bucket (60 groups per region), in one query;
 * - `series_raw_day`: one series' raw points for the day ending at the newest point;
 * - `top10_series_by_max`: the 10 series with the largest maximum of the first field over everything loaded;
 * - `empty_range`: every series' raw points over 1 ms between two steps (none).
 *
 * Run: `npm run bench:query -- --report out.json`. Times are `performance.now()` and timestamps of
 * the written points `Date.now()`: this is a measuring tool outside the system, not logic under test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LocalCluster } from '../../runtime/local_cluster.js';
import { LockstepClient, type MeasureQuery, type WriteToken } from '../../transport/client.js';
import { codeOf } from '../../transport/errors.js';
import { MAX_SETTLE_MS, parseQueryArgs, type QueryArgs } from './query_args.js';
import { runBenchScript, runTimings, type RunTimings } from './bench_cli.js';
import {
  createMeasure,
  diskUsage,
  partCount,
  pidsOf,
  startStandalone,
  waitFlushed,
  waitPartsSettled,
} from './bench_store.js';
import {
  APPLY_QUERY_TIMEOUT_MS,
  ask,
  check,
  GROUP,
  MEASURE,
  dataProfile,
  QueryData,
  queriesOf,
  SHAPE_FIELDS,
  verify,
  type QueryName,
  writeAll,
} from './query_data.js';
import type { DataShape } from './walk.js';
import type { IngestForm } from './ingest_args.js';

const SHARDS = 4;
const NODE = 's1';
/** Points per write. */
const BATCH_POINTS = 5000;
/** How long setup waits for the node to be active and the measure applied. */
const SETUP_TIMEOUT_MS = 30_000;
/** Interval of the bounded polls (members, flushed sequences). */
const POLL_MS = 200;
/** The median the hour-window query should stay below on a standalone node. */
const TARGET_WINDOW_MEDIAN_MS = 15;

/** Timings of one query over its timed runs, and the rows (or groups) each run returned. */
export type QueryTiming = { description: string; from: number; to: number; rows: number } & RunTimings;

/** The benchmark's JSON report. */
export interface QueryReport {
  cores: number;
  node: string;
  profile: ReturnType<typeof dataProfile> & { form: IngestForm; batch: number; shards: number };
  load: {
    points: number;
    /** Writes, from the first request to the last WAL acknowledgement. */
    load_s: number;
    points_per_s: number;
    /** From the end of the writes until a query with the merged write token answered. */
    applied_s: number;
    /** From then until every shard flushed its token sequence to parts. */
    flushed_s: number;
  };
  /**
   * Files under the node's data directory once the merges after the load settled (the layout the
   * data keeps), and per point then and when every point had just been flushed (merges may be
   * running then, each holding its new part beside the ones it replaces).
   */
  disk: { bytes: number; files: number; bytes_per_point: number; flushed_bytes_per_point: number };
  /**
   * The wait for merges to settle after the load (the part count still for --settle; settled false
   * when it was cut at MAX_SETTLE_MS or not asked), and
   * the parts on disk when the timed queries start and end: fewer at the end means merges ran
   * during them.
   */
  parts: { settle_s: number; settled: boolean; before_queries: number; after_queries: number };
  queries: Record<QueryName, QueryTiming>;
  target: { query: 'window_mean_by_region'; median_ms_below: number; met: boolean };
  /** Every process the run started (the node and nats-server), all stopped before the report. */
  pids: number[];
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const perPoint = (bytes: number, points: number) => Math.round((bytes / points) * 100) / 100;

/** Creates the group and the measure once the node is active, and waits until they are applied. */
async function createSchema(client: LockstepClient, shape: DataShape): Promise<void> {
  const setup = {
    members: [NODE],
    shards: SHARDS,
    ttl: '7d',
    membersTimeoutMs: SETUP_TIMEOUT_MS,
    appliedTimeoutMs: SETUP_TIMEOUT_MS,
    pollMs: POLL_MS,
  };
  await createMeasure(client, setup, {
    group: GROUP,
    name: MEASURE,
    entity: ['host'],
    tag_families: [
      {
        name: 'default',
        tags: [
          { name: 'host', type: 'string' },
          { name: 'region', type: 'string' },
        ],
      },
    ],
    fields: SHAPE_FIELDS[shape],
  });
}

/** Waits until a query carrying `token` answers: every shard applied its part of the load. */
async function waitApplied(
  client: LockstepClient,
  data: QueryData,
  token: WriteToken,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  // Each attempt waits up to the server's largest query deadline; a DeadlineExceeded means "not yet".
  const attempts = Math.ceil((deadline - performance.now()) / APPLY_QUERY_TIMEOUT_MS) + 1;
  for (let i = 0; i < attempts; i++) {
    const left = Math.floor(deadline - performance.now());
    if (signal.aborted) throw new Error('interrupted while waiting for the load to be applied');
    if (left <= 0) break;
    try {
      const t = Math.min(APPLY_QUERY_TIMEOUT_MS, left);
      await client.queryMeasure({
        group: GROUP,
        name: MEASURE,
        from: data.firstTs,
        to: data.firstTs + 1,
        write_token: token,
        timeout_ms: t,
      });
      return;
    } catch (err) {
      if (codeOf(err) !== 'DeadlineExceeded')
        throw new Error(`read-your-writes query failed: ${codeOf(err)}: ${(err as Error).message}`, { cause: err });
    }
  }
  throw new Error(`the load was not applied within --load-timeout (token ${JSON.stringify(token.shards)})`);
}

/** Runs `q` `warmUps` times untimed, then `runs` times timed; every run must return `rows` rows or groups. */
async function timeQuery(
  client: LockstepClient,
  name: string,
  description: string,
  q: MeasureQuery,
  rows: number,
  args: QueryArgs,
  signal: AbortSignal,
): Promise<QueryTiming> {
  const ms: number[] = [];
  for (let i = 0; i < args.warmUpRuns + args.runs; i++) {
    if (signal.aborted) throw new Error(`interrupted while timing ${name}`);
    const t0 = performance.now();
    const r = await ask(client, name, q);
    const took = performance.now() - t0;
    const got = r.columns ? r.columns.ts.length : (r.groups ?? r.rows ?? []).length;
    check(got === rows, `${name} run ${i} returned ${got} rows, expected ${rows}`);
    if (i >= args.warmUpRuns) ms.push(took);
  }
  return { description, from: q.from as number, to: q.to as number, rows, ...runTimings(ms) };
}

/** One run: start, load, wait, verify, time; every process is stopped before returning. */
async function run(args: QueryArgs, signal: AbortSignal): Promise<QueryReport> {
  const dir = mkdtempSync(join(os.tmpdir(), 'lockstep-query-'));
  const clients: LockstepClient[] = [];
  let lc: LocalCluster | undefined;
  try {
    lc = await startStandalone(dir, NODE);
    const pids = pidsOf(lc);
    const admin = await LockstepClient.connect({ natsUrl: lc.natsUrl, name: 'bench-query' });
    clients.push(admin);
    await createSchema(admin, args.shape);
    const writers: LockstepClient[] = [];
    for (let i = 0; i < args.writers; i++)
      writers.push(await LockstepClient.connect({ natsUrl: lc.natsUrl, name: `bench-writer-${i}` }));
    clients.push(...writers);

    const data = new QueryData(args.points, args.series, Date.now(), args.shape);
    const t0 = performance.now();
    const deadline = t0 + args.loadTimeoutMs;
    const token = await writeAll(
      writers,
      data,
      { group: GROUP, measure: MEASURE, batchPoints: BATCH_POINTS, form: args.form },
      deadline,
      signal,
    );
    const t1 = performance.now();
    const loadS = (t1 - t0) / 1000;
    process.stderr.write(
      `query_bench: wrote ${args.points} points in ${loadS.toFixed(1)} s (${Math.round(args.points / loadS)} points/s)\n`,
    );
    await waitApplied(admin, data, token, deadline, signal);
    const t2 = performance.now();
    await waitFlushed(admin, [NODE], token, deadline, signal);
    const t3 = performance.now();
    process.stderr.write(
      `query_bench: applied ${((t2 - t1) / 1000).toFixed(1)} s and flushed ${((t3 - t2) / 1000).toFixed(1)} s after the last write\n`,
    );
    const flushedDisk = diskUsage(join(dir, 'data'));

    const qs = queriesOf(data);
    await verify(admin, data, qs);
    // Timed once the merges after the load settled (a quiet segment becomes one part): the
    // queries then see the layout the data keeps, not a moment of it.
    const settle =
      args.settleMs > 0
        ? await waitPartsSettled(join(dir, 'data'), args.settleMs, MAX_SETTLE_MS, signal)
        : { waited_s: 0, settled: false };
    if (args.settleMs > 0)
      process.stderr.write(
        `query_bench: merges ${settle.settled ? 'settled' : 'still running'} after ${settle.waited_s} s\n`,
      );
    // Counted once the merges settled: a merge under way holds its new part beside its old ones.
    const disk = diskUsage(join(dir, 'data'));
    const queries = {} as QueryReport['queries'];
    const partsBefore = partCount(join(dir, 'data'));
    for (const x of qs) queries[x.name] = await timeQuery(admin, x.name, x.description, x.q, x.rows, args, signal);
    const partsAfter = partCount(join(dir, 'data'));
    const met = queries.window_mean_by_region.median_ms < TARGET_WINDOW_MEDIAN_MS;
    process.stderr.write(
      `query_bench: window_mean_by_region median ${queries.window_mean_by_region.median_ms} ms (target < ${TARGET_WINDOW_MEDIAN_MS} ms: ${met ? 'met' : 'NOT met'})\n`,
    );
    return {
      cores: os.availableParallelism?.() ?? os.cpus().length,
      node: process.version,
      profile: { ...dataProfile(args), form: args.form, batch: BATCH_POINTS, shards: SHARDS },
      load: {
        points: args.points,
        load_s: round3(loadS),
        points_per_s: Math.round(args.points / loadS),
        applied_s: round3((t2 - t1) / 1000),
        flushed_s: round3((t3 - t2) / 1000),
      },
      disk: {
        ...disk,
        bytes_per_point: perPoint(disk.bytes, args.points),
        flushed_bytes_per_point: perPoint(flushedDisk.bytes, args.points),
      },
      parts: {
        settle_s: settle.waited_s,
        settled: settle.settled,
        before_queries: partsBefore,
        after_queries: partsAfter,
      },
      queries,
      target: { query: 'window_mean_by_region', median_ms_below: TARGET_WINDOW_MEDIAN_MS, met },
      pids,
    };
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await lc?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBenchScript('query_bench', parseQueryArgs, run);
