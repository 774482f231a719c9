/**
 * The migration benchmark (issue: `npm run bench:migration`): on a standalone node and on 1 liaison
 * + 2 data nodes + 1 claimer, loads `--points` points into a group of `--from-shards` shards through
 * the public write API, waits until they are applied and flushed, then re-shards the group to
 * `--to-shards` (a rolling rewrite migration) under a steady live write load.
 *
 * The probe writer sends a batch every PROBE_TICK_MS on a fixed schedule, not waiting for the
 * previous one (open loop, so a slow reply does not hide the writes that would have queued behind
 * it), `--write-rate` points/s in all, to series of its own at timestamps of its own, on its own
 * connection. Each write is classified by its send time into the windows of the operation's status
 * record (server epoch ms, shown as RFC 3339): before the start, copy [copy_started_at,
 * copy_completed_at], cutover [cutover_started_at, completed_at], and the gaps between them. A query
 * loop counts one loaded hour meanwhile. At the end a count with the merged write token of every
 * acknowledged write must equal the loaded points plus the acknowledged probe points.
 *
 * Times are `performance.now()` and timestamps `Date.now()`: this is a measuring tool outside the
 * system, not logic under test.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalCluster } from '../../runtime/local_cluster.js';
import { LockstepClient } from '../../transport/client.js';
import { migrationEnded, type MigrationStatus, type OperationStatus } from '../../transport/migration_types.js';
import { mergeTokens } from '../../transport/write_token.js';
import { LOAD_SERIES, parseMigrationArgs, type MigrationArgs, type MigrationProfile } from './migration_args.js';
import { runBenchScript, sleep } from './bench_cli.js';
import { createMeasure, pidsOf, startStandalone, waitFlushed } from './bench_store.js';
import { QueryData, TS_STEP_MS, writeAll } from './query_data.js';
import {
  BATCH_POINTS,
  countOf,
  epochNow,
  epochOf,
  GROUP,
  MAX_ERROR_SAMPLES,
  MEASURE,
  Probe,
  PROBE_TICK_MS,
  QueryLoop,
  round3,
  type WindowStats,
} from './migration_load.js';

/** What every write and query names. */
const TARGET = { group: GROUP, name: MEASURE };
const HOUR_MS = 3_600_000;
/** Load (the query benchmark's data: a point per series every TS_STEP_MS, ending an hour ago): writers, points per write. */
const LOAD_WRITERS = 4;
/** Probe: a batch every PROBE_TICK_MS; the first PROBE_WARM_UP_MS are not measured. */
const PROBE_WARM_UP_MS = 1000;
/** Probe writes measured after the migration completed. */
const PROBE_TAIL_MS = 2000;
const QUERY_TIMEOUT_MS = 10_000;
/** Deadline of the final count (the server's largest). */
const VERIFY_TIMEOUT_MS = 120_000;
/** How long setup waits for every member to be active and the measure applied. */
const SETUP_TIMEOUT_MS = 30_000;
/** Interval of the status and setup polls. */
const POLL_MS = 100;
/** The targets of the issue on this hardware. */
const TARGET_CUTOVER_P99_RATIO = 1.5;
const TARGET_COPY_ROWS_PER_S = 200_000;

/** Starts the migration and polls its status until it ended; throws past `timeoutMs`. */
async function migrate(admin: LockstepClient, args: MigrationArgs, signal: AbortSignal): Promise<MigrationStatus> {
  const started = await admin.migrations.start({
    targets: [GROUP],
    policy: 'rolling',
    change: { group: { shards: args.toShards } },
  });
  const deadline = performance.now() + args.migrationTimeoutMs;
  let s = started;
  for (let i = 0; i <= Math.ceil(args.migrationTimeoutMs / POLL_MS) && !migrationEnded(s.state); i++) {
    if (signal.aborted) throw new Error(`interrupted during migration ${s.id} (${s.headline})`);
    if (performance.now() > deadline)
      throw new Error(`migration ${s.id} did not end within --migration-timeout: ${s.headline}`);
    await sleep(POLL_MS);
    s = await admin.migrations.status(s.id);
  }
  return s;
}

/** /proc/loadavg's first three figures, or null where there is none. */
function loadavg(): string | null {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    // Not Linux: the figure is simply not reported.
    return null;
  }
}

/** A deployment under test, started on fresh processes: one standalone node (which holds the claimer role), or 1 + 2 + 1. */
async function startProfile(profile: MigrationProfile, dir: string): Promise<LocalCluster> {
  if (profile === 'standalone') return startStandalone(dir, 's1');
  return LocalCluster.start({ dir, liaisons: 1, dataNodes: 2, claimers: 1, nodeArgs: ['--log-level', 'warn'] });
}

/** Creates the group and measure, loads the points and waits until every shard flushed them. */
async function loadPhase(
  lc: LocalCluster,
  admin: LockstepClient,
  writers: LockstepClient[],
  args: MigrationArgs,
  signal: AbortSignal,
) {
  const tags = ['host', 'region'].map((name) => ({ name, type: 'string' as const }));
  const fields = ['f1', 'f2'].map((name) => ({ name, type: 'float' as const }));
  const measure = { ...TARGET, entity: ['host'], tag_families: [{ name: 'default', tags }], fields };
  const setup = {
    members: [...lc.nodes.keys()],
    shards: args.fromShards,
    ttl: '7d',
    membersTimeoutMs: SETUP_TIMEOUT_MS,
    appliedTimeoutMs: SETUP_TIMEOUT_MS,
    pollMs: POLL_MS,
  };
  await createMeasure(admin, setup, measure);
  const data = new QueryData(args.points, LOAD_SERIES, Date.now());
  const t0 = performance.now();
  const deadline = t0 + args.loadTimeoutMs;
  const token = await writeAll(
    writers,
    data,
    { group: GROUP, measure: MEASURE, batchPoints: BATCH_POINTS },
    deadline,
    signal,
  );
  const loadS = (performance.now() - t0) / 1000;
  const dataNodes = [...lc.nodes.values()].filter((n) => n.roles.some((r) => r === 'data' || r === 'standalone'));
  // A copy starts from the parts: it is timed on a flushed load, as a migration of older data would be.
  await waitFlushed(
    admin,
    dataNodes.map((n) => n.name),
    token,
    deadline,
    signal,
  );
  return { data, token, loadS, flushedS: (performance.now() - t0) / 1000 - loadS };
}

/** One profile on fresh processes, all stopped before returning. */
async function runProfile(profile: MigrationProfile, args: MigrationArgs, signal: AbortSignal) {
  const log = (m: string) => process.stderr.write(`migration_bench ${profile}: ${m}\n`);
  const loadavgAtStart = loadavg();
  const dir = mkdtempSync(join(os.tmpdir(), `lockstep-migration-${profile}-`));
  let lc: LocalCluster | undefined;
  const clients: LockstepClient[] = [];
  const connect = async (name: string) => {
    clients.push(await LockstepClient.connect({ natsUrl: lc!.natsUrl, name }));
    return clients[clients.length - 1]!;
  };
  const stopLoops = new AbortController();
  const loops: Promise<void>[] = [];
  try {
    lc = await startProfile(profile, dir);
    const pids = pidsOf(lc);
    const admin = await connect('bench-admin');
    const writers: LockstepClient[] = [];
    for (let i = 0; i < LOAD_WRITERS; i++) writers.push(await connect(`bench-writer-${i}`));
    const { data, token: loadToken, loadS, flushedS } = await loadPhase(lc, admin, writers, args, signal);
    log(`loaded ${args.points} points in ${loadS.toFixed(1)} s, flushed ${flushedS.toFixed(1)} s later`);

    // The loop counts the last loaded hour: what it must find never changes.
    const hour = { ...TARGET, from: data.lastTs + TS_STEP_MS - HOUR_MS, to: data.lastTs + TS_STEP_MS };
    const expectedHour = data.stepsIn(hour.from, hour.to) * LOAD_SERIES;
    const queries = new QueryLoop(
      await connect('bench-query'),
      { ...hour, timeout_ms: QUERY_TIMEOUT_MS },
      expectedHour,
    );
    const probe = new Probe(await connect('bench-probe'), args.writeRate);
    const boundMs = PROBE_WARM_UP_MS + args.baselineMs + args.migrationTimeoutMs + PROBE_TAIL_MS + SETUP_TIMEOUT_MS;
    const loopSignal = AbortSignal.any([signal, stopLoops.signal]);
    loops.push(probe.run(loopSignal, boundMs), queries.run(loopSignal, boundMs));
    // Pacing, not synchronisation: the probe keeps its own schedule; these are the windows' lengths.
    await sleep(PROBE_WARM_UP_MS);
    const baselineFrom = epochNow();
    await sleep(args.baselineMs);
    const startedAt = epochNow();
    log(
      `baseline of ${probe.writes.stats(baselineFrom, startedAt).samples} writes; re-sharding ${args.fromShards} → ${args.toShards}`,
    );
    const s = await migrate(admin, args, signal);
    const op: OperationStatus = s.operations[0]!;
    log(`migration ${s.id} ${s.state}: ${op.rows_copied} of ${op.rows_total} rows copied`);
    await sleep(PROBE_TAIL_MS);
    stopLoops.abort();
    await Promise.all(loops.splice(0));
    const endedAt = epochNow();

    // Every acknowledged write, loaded or live, must be read exactly once from the new layout.
    const token = mergeTokens(GROUP, [loadToken, probe.token]);
    const all = { ...TARGET, from: data.firstTs, to: Math.max(probe.lastTs, data.lastTs) + 1 };
    const counted = await countOf(admin, { ...all, write_token: token, timeout_ms: VERIFY_TIMEOUT_MS });
    const expected = args.points + probe.acked;

    const times = [op.copy_started_at, op.copy_completed_at, op.cutover_started_at, op.completed_at];
    // A phase that never happened (a failed migration) is an empty window at the end.
    const [copyFrom, copyTo, cutFrom, cutTo] = times.map((t) => epochOf(t) ?? endedAt) as [
      number,
      number,
      number,
      number,
    ];
    const windows = {
      before: [baselineFrom, startedAt],
      to_copy: [startedAt, copyFrom],
      copy: [copyFrom, copyTo],
      to_cutover: [copyTo, cutFrom],
      cutover: [cutFrom, cutTo],
      after: [cutTo, endedAt],
    } as const satisfies Record<string, readonly [number, number]>;
    const writeLatency = Object.fromEntries(
      Object.entries(windows).map(([k, [a, b]]) => [k, probe.writes.stats(a, b)]),
    ) as Record<keyof typeof windows, WindowStats>;
    const copyS = (copyTo - copyFrom) / 1000;
    const copyRate = copyS > 0 ? Math.round(op.rows_copied / copyS) : 0;
    const { cutover, before } = writeLatency;
    const ratio = cutover.samples > 0 && before.p99_ms > 0 ? round3(cutover.p99_ms / before.p99_ms) : null;
    const queryCopy = queries.times.stats(copyFrom, copyTo);
    return {
      profile,
      loadavg_at_start: loadavgAtStart,
      points_loaded: args.points,
      load_s: round3(loadS),
      load_points_per_s: Math.round(args.points / loadS),
      /** From the end of the load until every shard flushed it. */
      flushed_s: round3(flushedS),
      migration_id: s.id,
      migration_state: s.state,
      migration_error: op.error,
      rows_total: op.rows_total,
      copy_rows: op.rows_copied,
      copy_s: round3(copyS),
      copy_rows_per_s: copyRate,
      /** From the start request until the operation completed. */
      migration_duration_s: round3((cutTo - startedAt) / 1000),
      /** From the start request until the copy began (the new layout registered, the claim). */
      copy_start_delay_s: round3((copyFrom - startedAt) / 1000),
      /** From the end of the copy until the cutover began. */
      cutover_wait_ms: round3(cutFrom - copyTo),
      cutover_ms: round3(cutTo - cutFrom),
      /** Probe writes by send time: before the start, each phase of the operation and the gaps, after it. */
      write_latency: writeLatency,
      /** Probe writes in flight at any moment of the cutover (sent before or during it). */
      write_latency_overlapping_cutover: probe.writes.stats(cutFrom, cutTo, true),
      p99_cutover_over_before: ratio,
      probe_points_acked: probe.acked,
      refused_writes: probe.refused,
      /** Probe ticks skipped because PROBE_MAX_IN_FLIGHT writes were awaiting their reply. */
      skipped_ticks: probe.skipped,
      write_error_samples: [...probe.errorSamples],
      query_latency: { before: queries.times.stats(baselineFrom, startedAt), copy: queryCopy },
      query_p50_ms_during_copy: queryCopy.p50_ms,
      query_errors: queries.errors,
      query_wrong_counts: queries.wrongAt.length,
      /** Wrong counts by the window of their send time (the same windows as the writes'). */
      query_wrong_by_window: Object.fromEntries(
        Object.entries(windows).map(([k, [a, b]]) => [k, queries.wrongAt.filter((t) => t >= a && t < b).length]),
      ),
      /** The first wrong counts' send times, ms from the cutover's start (negative: before it). */
      query_wrong_ms_from_cutover: queries.wrongAt.slice(0, MAX_ERROR_SAMPLES).map((t) => round3(t - cutFrom)),
      query_error_samples: [...queries.samples],
      points_expected: expected,
      points_counted: counted,
      points_ok: counted === expected,
      targets: {
        refused_writes_0: probe.refused === 0,
        cutover_p99_within_1_5x: ratio === null ? null : ratio <= TARGET_CUTOVER_P99_RATIO,
        copy_200k_rows_per_s: copyRate >= TARGET_COPY_ROWS_PER_S,
      },
      /** Every process the run started (nodes and nats-server), all stopped before the report. */
      pids,
    };
  } finally {
    // The loops end at once when stopped; each write or query in flight is bounded by its timeout.
    stopLoops.abort();
    await Promise.allSettled(loops);
    for (const c of clients) await c.close().catch(() => undefined);
    await lc?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One profile's row of the report. */
export type MigrationRow = Awaited<ReturnType<typeof runProfile>>;

/** Runs each profile in turn; the report is written by the runner. */
async function run(args: MigrationArgs, signal: AbortSignal) {
  const report = {
    cores: os.availableParallelism(),
    node: process.version,
    loadavg_at_start: loadavg(),
    config: {
      points: args.points,
      series: LOAD_SERIES,
      from_shards: args.fromShards,
      to_shards: args.toShards,
      write_rate: args.writeRate,
      probe_tick_ms: PROBE_TICK_MS,
      baseline_s: args.baselineMs / 1000,
      load_writers: LOAD_WRITERS,
      batch: BATCH_POINTS,
    },
    profiles: [] as MigrationRow[],
  };
  for (const profile of args.profiles) {
    if (signal.aborted) break;
    try {
      report.profiles.push(await runProfile(profile, args, signal));
    } catch (err) {
      throw new Error(`${profile}: ${(err as Error).message}`, { cause: err });
    }
  }
  return report;
}

/** The benchmark's JSON report. */
export type MigrationReport = Awaited<ReturnType<typeof run>>;

await runBenchScript('migration_bench', parseMigrationArgs, run);
