/**
 * The ingest benchmark (issue 3, Benchmarks): points per second through the public write API into a
 * standalone node and into a 1 liaison + 2 data node cluster, on one nats-server or on three with
 * three replicas of the WAL (`cluster_r3`). Each run starts its own processes,
 * creates a 4-shard group and one measure (entity `host`; `--fields` random float fields, or with
 * `--shape walk` a random-walk float `value` and an int counter `requests`), then `--writers`
 * concurrent writers, each on its own connection, loop on `writeMeasureColumns` (or with `--form
 * points` on `writeMeasure`) with batches of `--batch` points for `--warm-up` plus `--duration`.
 *
 * Points/s and latency are those of the write API (a write is acknowledged once durable in the
 * JetStream WAL); after the writers stop, the run waits (bounded) until the data nodes applied and
 * flushed every acknowledged point to parts (`stored_after_s`: how far the shards lagged), then
 * reports the data directories' bytes per point (`bytes_per_point`) next to the WAL's.
 *
 * Run: `npm run bench:ingest -- --report out.json`. Times are `performance.now()` and timestamps of
 * the written points `Date.now()`: this is a measuring tool outside the system, not logic under test.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { LocalCluster } from '../../runtime/local_cluster.js';
import { LockstepClient } from '../../transport/client.js';
import { codeOf } from '../../transport/errors.js';
import type { WriteColumns, WritePoint } from '../../transport/api_types.js';
import type { WriteToken } from '../../transport/query_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { parseIngestArgs, type IngestArgs, type IngestConfig, type IngestForm } from './ingest_args.js';
import { percentile, runBenchScript, sleep, windowFromNow, type Window } from './bench_cli.js';
import { Walks, type DataShape } from './walk.js';
import { createMeasure, diskUsage, mergeToken, pidsOf, startStandalone, waitFlushed } from './bench_store.js';

/** The group and measure every run writes to. */
const GROUP = 'bench';
const MEASURE = 'cpu';
const SHARDS = 4;
const TTL = '7d';
/** How long setup waits for the liaison to see every member active. */
const MEMBERS_READY_TIMEOUT_MS = 30_000;
/** How long setup waits for the measure to be applied everywhere. */
const SCHEMA_APPLIED_TIMEOUT_MS = 10_000;
/** How long a run waits after its writers for every acknowledged point to be flushed to parts. */
const STORED_TIMEOUT_MS = 120_000;
/** Interval of the bounded setup poll, and the pause of a writer after an error. */
const POLL_MS = 10;
/** Distinct error messages kept per run. */
const MAX_ERROR_SAMPLES = 5;
/** Each series' timestamps advance by this step, batch after batch. */
const TS_STEP_MS = 10_000;
/** The newest timestamp a run can write is this far before its start. */
const NEWEST_TS_AGE_MS = 3_600_000;
/** How far back a run's timestamps may reach: inside the 7 d ttl with a day to spare. */
const TS_SPAN_MAX_MS = 6 * 86_400_000;

/**
 * The batches of one run, shared by its writers: point k is series `k % series` at step
 * `floor(k / series)`, so each series' timestamps advance by TS_STEP_MS in order. Writes are only
 * accepted within the ttl and at most 5 min ahead, so the run has a cap (`maxBatches`, about 10 000
 * batches of 5 000 points over 1 000 series) and its timestamps end at most NEWEST_TS_AGE_MS before
 * the start, reaching back as far as the cap needs.
 */
class BatchSource {
  readonly maxBatches: number;
  private readonly firstTs: number;
  private readonly hosts: string[];
  private readonly fieldNames: string[];
  /** The walk shape's series (null in the random shape). */
  private readonly walks: Walks | null;
  private nextPoint = 0;
  private issued = 0;

  constructor(
    private readonly series: number,
    private readonly batchPoints: number,
    fields: number,
    wallNowMs: number,
    shape: DataShape = 'random',
  ) {
    this.walks = shape === 'walk' ? new Walks(series) : null;
    const maxSteps = Math.floor(TS_SPAN_MAX_MS / TS_STEP_MS);
    this.maxBatches = Math.max(1, Math.floor((maxSteps * series) / batchPoints));
    const stepsNeeded = Math.ceil((this.maxBatches * batchPoints) / series);
    this.firstTs = wallNowMs - NEWEST_TS_AGE_MS - stepsNeeded * TS_STEP_MS;
    this.hosts = Array.from({ length: series }, (_, i) => `h${i}`);
    this.fieldNames = Array.from({ length: fields }, (_, i) => `f${i + 1}`);
  }

  /** True once every batch of the cap was handed out. */
  get exhausted(): boolean {
    return this.issued >= this.maxBatches;
  }

  /**
   * The next batch, or undefined past the cap. Random values have 2 decimals in [0, 100); a walk
   * moves from 50 by a random step in [-1, 1) (2 decimals), its counter by 0–99.
   */
  next(): WritePoint[] | undefined {
    const c = this.nextColumns();
    if (c === undefined) return undefined;
    const tags = c.tags!.host as string[];
    const names = Object.keys(c.fields);
    return Array.from({ length: c.ts.length }, (_, j) => ({
      ts: c.ts[j]!,
      tags: { host: tags[j]! },
      fields: Object.fromEntries(names.map((f) => [f, c.fields[f]![j]!])),
    }));
  }

  /** The next batch as columns, or undefined past the cap. */
  nextColumns(): WriteColumns | undefined {
    if (this.exhausted) return undefined;
    this.issued++;
    const n = this.batchPoints;
    const ts = new Float64Array(n);
    const host = new Array<string>(n);
    const names = this.walks ? ['value', 'requests'] : this.fieldNames;
    const cols = names.map(() => new Float64Array(n));
    for (let j = 0; j < n; j++, this.nextPoint++) {
      const k = this.nextPoint;
      ts[j] = this.firstTs + Math.floor(k / this.series) * TS_STEP_MS;
      host[j] = this.hosts[k % this.series]!;
      if (this.walks) {
        const w = this.walks.next(k % this.series);
        cols[0]![j] = w.value;
        cols[1]![j] = w.requests;
      } else for (const c of cols) c[j] = Math.floor(Math.random() * 10_000) / 100;
    }
    return { ts, tags: { host }, fields: Object.fromEntries(names.map((f, i) => [f, cols[i]!])) };
  }
}

/** What the writers of one run counted. */
class RunStats {
  points = 0;
  batches = 0;
  errors = 0;
  /** Every point the WAL acknowledged, in any phase: the divisor of WAL bytes. */
  acknowledgedPoints = 0;
  readonly errorSamples = new Set<string>();
  /** Every acknowledged write's token, merged: what must be stored before bytes are counted. */
  readonly token: WriteToken = { group: GROUP, shards: {} };
  private readonly latenciesMs: number[] = [];

  constructor(readonly w: Window) {}

  /** Records an acknowledged batch; only batches completed in the window count towards rate and latency. */
  record(startedAt: number, endedAt: number, points: number): void {
    this.acknowledgedPoints += points;
    if (endedAt < this.w.measureStart || endedAt > this.w.end) return;
    this.points += points;
    this.batches++;
    this.latenciesMs.push(endedAt - startedAt);
  }

  /** Records a failed batch, keeping a few distinct messages. */
  fail(message: string): void {
    this.errors++;
    if (this.errorSamples.size < MAX_ERROR_SAMPLES) this.errorSamples.add(message);
  }

  /** The window's latencies, ascending. */
  sortedLatencies(): number[] {
    return [...this.latenciesMs].sort((a, b) => a - b);
  }
}

/** One run's row of the report. */
export interface IngestRow {
  config: IngestConfig;
  writers: number;
  /** Points of the batches acknowledged in the measurement window. */
  points: number;
  batches: number;
  /** Failed writes, in any phase. */
  errors: number;
  points_per_s: number;
  /** Write latency (request to WAL-acknowledged reply) of the window's batches. */
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Data directory bytes (parts, segments, markers) ÷ every point acknowledged in the run, once flushed. */
  bytes_per_point: number;
  /**
   * CPU of the server processes (nodes and nats-servers) from the first write until every point was
   * flushed to parts, and that ÷ every acknowledged point: what one point costs the server to
   * accept, log and store (merges that continue afterwards excluded).
   */
  server_cpu_s: number;
  server_cpu_us_per_point: number;
  /** From the writers' end until every shard flushed all acknowledged points to parts. */
  stored_after_s: number;
  /** Copies of the WAL the servers keep (its bytes below are one copy's). */
  wal_replicas: number;
  /** WAL stream bytes ÷ every point the WAL acknowledged in the run (warm-up and drain included). */
  wal_bytes_per_point: number;
  wal_bytes: number;
  /** The same once the data nodes trimmed what every owner flushed (no safety window here), and when. */
  wal_bytes_per_point_settled: number;
  wal_bytes_settled: number;
  wal_settled_after_s: number;
  acknowledged_points: number;
  /** True when the run hit its batch cap (the timestamp budget) before the window ended. */
  capped: boolean;
  error_samples: string[];
  /** Every process the run started (nodes and nats-server), all stopped before the report. */
  pids: number[];
}

/** The benchmark's JSON report. */
export interface IngestReport {
  stage: 'stored';
  cores: number;
  node: string;
  profile: {
    series: number;
    batch: number;
    writers: number[];
    duration_s: number;
    warm_up_s: number;
    fields: number;
    shape: DataShape;
    form: IngestForm;
    shards: number;
  };
  configs: IngestRow[];
}

/** Starts the processes of one config: its own nats-server and node(s). */
async function startConfig(config: IngestConfig, dir: string): Promise<LocalCluster> {
  if (config === 'standalone') return startStandalone(dir, 's1', WAL_TRIM_ARGS);
  return LocalCluster.start({
    dir,
    liaisons: 1,
    dataNodes: 2,
    claimers: 0,
    nodeArgs: ['--log-level', 'warn', ...WAL_TRIM_ARGS],
    // Three servers: the nodes give the WAL and the registry three replicas by default.
    natsServers: config === 'cluster_r3' ? 3 : 1,
  });
}

/** Creates the group and the measure once every member is active, and waits until they are applied. */
async function createSchema(client: LockstepClient, members: string[], args: IngestArgs): Promise<void> {
  const setup = {
    members,
    shards: SHARDS,
    ttl: TTL,
    membersTimeoutMs: MEMBERS_READY_TIMEOUT_MS,
    appliedTimeoutMs: SCHEMA_APPLIED_TIMEOUT_MS,
    pollMs: POLL_MS,
  };
  await createMeasure(client, setup, {
    group: GROUP,
    name: MEASURE,
    entity: ['host'],
    tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }],
    fields:
      args.shape === 'walk'
        ? [
            { name: 'value', type: 'float' },
            { name: 'requests', type: 'int' },
          ]
        : Array.from({ length: args.fields }, (_, i) => ({ name: `f${i + 1}`, type: 'float' })),
  });
}

/** One writer: re-issues a batch as soon as the previous one completed, until the window ends. */
async function writer(
  client: LockstepClient,
  source: BatchSource,
  form: IngestForm,
  s: RunStats,
  stop: AbortSignal,
): Promise<void> {
  // Bounded by the source's batch cap, which is far above what any window needs.
  for (let i = 0; i < source.maxBatches && !stop.aborted && performance.now() < s.w.end; i++) {
    const batch = form === 'columns' ? source.nextColumns() : source.next();
    if (batch === undefined) return;
    const startedAt = performance.now();
    try {
      const r = Array.isArray(batch)
        ? await client.writeMeasure(GROUP, MEASURE, batch)
        : await client.writeMeasureColumns(GROUP, MEASURE, batch);
      s.record(startedAt, performance.now(), r.duplicate ? 0 : r.points);
      mergeToken(s.token, r.write_token);
    } catch (err) {
      s.fail(`${codeOf(err)}: ${(err as Error).message}`);
      // A failing cluster answers at once: do not spin on it.
      await sleep(POLL_MS);
    }
  }
}

/** The nodes trim the WAL as soon as every owner flushed (no safety window), once a second. */
const WAL_TRIM_ARGS = ['--wal-keep-flushed', '0s', '--wal-trim-interval', '1s'];
/** How long the WAL may take to settle after the data nodes flushed. */
const WAL_SETTLE_TIMEOUT_MS = 30_000;

/**
 * Polls the WAL's size until it reads 0, or the same three times in a row 1.5 s apart (a busy node
 * may skip a trim pass between two readings), or the timeout: what the WAL holds once trimming
 * caught up.
 */
async function walSettled(bytes: () => Promise<number>): Promise<{ bytes: number; afterS: number }> {
  const t0 = performance.now();
  let last = await bytes();
  let same = 0;
  while (last > 0 && same < 2 && performance.now() - t0 < WAL_SETTLE_TIMEOUT_MS) {
    await sleep(1500);
    const now = await bytes();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return { bytes: last, afterS: Math.round(performance.now() - t0) / 1000 };
}

/** User plus system CPU seconds the processes used so far (Linux /proc; 0 elsewhere). */
function cpuSecondsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // Not Linux, or the process is gone: it adds nothing.
    }
  }
  // USER_HZ is 100 on Linux.
  return ticks / 100;
}

/** Runs one config with `writers` writers on fresh processes, and stops them before returning. */
async function runOne(config: IngestConfig, writers: number, args: IngestArgs, stop: AbortSignal): Promise<IngestRow> {
  const dir = mkdtempSync(join(os.tmpdir(), `lockstep-ingest-${config}-`));
  try {
    const lc = await startConfig(config, dir);
    const pids = pidsOf(lc);
    const clients: LockstepClient[] = [];
    // The stream is read on a connection of its own, apart from the API and the writers.
    const nc = await connect({ servers: lc.natsUrl.split(','), name: 'bench-wal-info' }).catch(async (err) => {
      await lc.stop();
      throw err;
    });
    try {
      const admin = await LockstepClient.connect({ natsUrl: lc.natsUrl, name: 'bench-admin' });
      clients.push(admin);
      await createSchema(admin, [...lc.nodes.keys()], args);
      for (let i = 0; i < writers; i++)
        clients.push(await LockstepClient.connect({ natsUrl: lc.natsUrl, name: `bench-writer-${i}` }));

      const source = new BatchSource(args.series, args.batchPoints, args.fields, Date.now(), args.shape);
      const cpuFrom = cpuSecondsOf(pids);
      const s = new RunStats(windowFromNow(args.warmUpMs, args.measureMs));
      // Join every writer: each one's last write is bounded by the client's write timeout.
      await Promise.all(clients.slice(1).map((c) => writer(c, source, args.form, s, stop)));
      const writersDone = performance.now();
      const dataNodes = [...lc.nodes.values()]
        .filter((n) => n.roles.includes('data') || n.roles.includes('standalone'))
        .map((n) => n.name);
      await waitFlushed(admin, dataNodes, s.token, writersDone + STORED_TIMEOUT_MS, stop);
      const storedAfterS = Math.round(performance.now() - writersDone) / 1000;
      const cpuS = cpuSecondsOf(pids) - cpuFrom;
      const disk = diskUsage(join(dir, 'data'));
      const jsm = await jetstreamManager(nc);
      const walInfo = await jsm.streams.info(subjectsFor().walStream);
      const walBytes = walInfo.state.bytes;
      const settled = await walSettled(() => jsm.streams.info(subjectsFor().walStream).then((i) => i.state.bytes));
      const lat = s.sortedLatencies();
      return {
        config,
        writers,
        points: s.points,
        batches: s.batches,
        errors: s.errors,
        points_per_s: Math.round(s.points / (args.measureMs / 1000)),
        p50_ms: percentile(lat, 50),
        p99_ms: percentile(lat, 99),
        max_ms: percentile(lat, 100),
        bytes_per_point: s.acknowledgedPoints === 0 ? 0 : Math.round((disk.bytes / s.acknowledgedPoints) * 100) / 100,
        stored_after_s: storedAfterS,
        server_cpu_s: Math.round(cpuS * 100) / 100,
        server_cpu_us_per_point: s.acknowledgedPoints === 0 ? 0 : Math.round((cpuS / s.acknowledgedPoints) * 1e8) / 100,
        wal_replicas: walInfo.config.num_replicas,
        wal_bytes_per_point: s.acknowledgedPoints === 0 ? 0 : Math.round((walBytes / s.acknowledgedPoints) * 100) / 100,
        wal_bytes: walBytes,
        wal_bytes_per_point_settled:
          s.acknowledgedPoints === 0 ? 0 : Math.round((settled.bytes / s.acknowledgedPoints) * 100) / 100,
        wal_bytes_settled: settled.bytes,
        wal_settled_after_s: settled.afterS,
        acknowledged_points: s.acknowledgedPoints,
        capped: source.exhausted,
        error_samples: [...s.errorSamples],
        pids,
      };
    } finally {
      for (const c of clients) await c.close().catch(() => undefined);
      await nc.close().catch(() => undefined);
      await lc.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs every config × writer count in turn; the report is written by the runner. */
async function run(args: IngestArgs, signal: AbortSignal): Promise<IngestReport> {
  const rows: IngestRow[] = [];
  for (const config of args.configs) {
    for (const writers of args.writers) {
      if (signal.aborted) break;
      try {
        rows.push(await runOne(config, writers, args, signal));
      } catch (err) {
        throw new Error(`${config} with ${writers} writer(s): ${(err as Error).message}`, { cause: err });
      }
      const last = rows[rows.length - 1]!;
      if (last.capped)
        process.stderr.write(
          `ingest_bench: ${config} with ${writers} writer(s) hit its batch cap before the window ended; points_per_s is a lower bound\n`,
        );
    }
  }
  return {
    stage: 'stored',
    cores: os.availableParallelism(),
    node: process.version,
    profile: {
      series: args.series,
      batch: args.batchPoints,
      writers: args.writers,
      duration_s: args.measureMs / 1000,
      warm_up_s: args.warmUpMs / 1000,
      fields: args.fields,
      shape: args.shape,
      form: args.form,
      shards: SHARDS,
    },
    configs: rows,
  };
}

await runBenchScript('ingest_bench', parseIngestArgs, run);
