/**
 * The query benchmark's peer run (optional): VictoriaMetrics, the peer we compare against, measured
 * on exactly the data and the five queries of query_bench.ts, so that the ratios come from one
 * sitting on one machine. It starts `victoria-metrics` (Debian package `victoria-metrics`) on a free
 * loopback port with a fresh data directory, loads the same `--points` over `--series` series
 * (query_data.ts's `QueryData`: one metric `cpu_<field>` per field, labels `host` and `region`)
 * with `--writers` concurrent writers in batches of `--batch` points through `/api/v1/import`,
 * forces a flush and waits until a count over everything sees every point, checks each query's
 * answer once against what was written, then times each query like query_bench.ts: warm-up runs,
 * then `--runs` timed runs of one HTTP request and the parse of its answer.
 *
 * The queries (vm_peer_queries.ts) have the bounds of `queriesOf`: the two means by region as
 * `sum_over_time / count_over_time` rollups, the raw day and the empty range through
 * `/api/v1/export`, the top 10 as `topk(10, max_over_time(...))`. The server runs with its response
 * cache off (`-search.disableCache`), as Lockstep has none: a repeated query reads the data.
 * A rollup window is a whole minute, so the minute query's first and last buckets also hold the
 * points of their minute outside the hour (ours are cut at it); the check counts them in.
 * `server_cpu_us_per_point` is the server's user + system CPU (/proc) from the first write until
 * the count saw every point, per point (a point carries every field, one sample each); `disk` is
 * the storage directory once a graceful stop wrote the parts the server still held in memory.
 *
 * Run: `npx tsx test/bench/vm_peer.ts --report out.json` (exits 2 when victoria-metrics is not
 * installed). Times are `performance.now()` and timestamps of the written points `Date.now()`: this
 * is a measuring tool outside the system, not logic under test.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import type { WritePoint } from '../../transport/api_types.js';
import { MAX_POINTS_PER_BATCH } from '../../transport/limits.js';
import { BenchArgsError, duration, integer, oneOf, opt, parseFlags, path, runBenchScript, sleep } from './bench_cli.js';
import { diskUsage } from './bench_store.js';
import * as qa from './query_args.js';
import { dataProfile, QueryData, sendBatches, SHAPE_FIELDS, TS_STEP_MS } from './query_data.js';
import { DATA_SHAPES } from './walk.js';
import { EdgeTap, secondsOf, timeVm, verifyVm, VmHttp, vmQueriesOf, type VmTiming } from './vm_peer_queries.js';

const NAME = 'vm_peer';
const BINARY = 'victoria-metrics';
const INSTALL = 'apt-get install -y victoria-metrics';
/** Bounds of the server's start (until /health answers) and stop (SIGTERM, then SIGKILL). */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const KILL_TIMEOUT_MS = 5_000;
/** Interval of the bounded polls (health, count). */
const POLL_MS = 50;
/** Bytes of the server's stderr kept for an error message. */
const STDERR_TAIL = 4000;

interface VmArgs extends Omit<qa.QueryArgs, 'report'> {
  batch: number;
  binary: string;
  report?: string;
}

/** `name` if it is an executable path, else the first executable `name` on PATH; undefined if none. */
function findBinary(name: string): string | undefined {
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const d of dirs) {
    const p = d === '' ? name : join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // Not there: the next one.
    }
  }
  return undefined;
}

/** Parses the flags (query_bench.ts's, with their defaults and limits, plus `--batch` and `--binary`). */
function parseVmArgs(argv: readonly string[]): VmArgs {
  const o = parseFlags<Omit<VmArgs, 'loadTimeoutMs'> & { loadTimeout: number }>(
    new Command(NAME)
      .description('VictoriaMetrics on the query benchmark: loads the same points, times the same five queries')
      .addOption(
        opt(
          '--points <n>',
          'points to load (a multiple of --series)',
          integer('--points', 1, qa.MAX_POINTS),
          10_000_000,
        ),
      )
      .addOption(opt('--series <n>', 'distinct series (host h0..h<n-1>)', integer('--series', 1, qa.MAX_SERIES), 1000))
      .addOption(opt('--shape <name>', 'random or walk (query_data.ts)', oneOf('--shape', DATA_SHAPES), 'random'))
      .addOption(opt('--runs <n>', 'timed runs of each query', integer('--runs', 1, qa.MAX_RUNS), 20))
      .addOption(
        opt(
          '--warm-up-runs <n>',
          'untimed runs of each query first (as query_bench.ts)',
          integer('--warm-up-runs', 0, qa.MAX_RUNS),
          qa.DEFAULT_WARM_UP_RUNS,
        ),
      )
      .addOption(opt('--writers <n>', 'concurrent writers of the load', integer('--writers', 1, qa.MAX_WRITERS), 4))
      .addOption(opt('--batch <points>', 'points per write', integer('--batch', 1, MAX_POINTS_PER_BATCH), 5000))
      .addOption(
        opt(
          '--load-timeout <duration>',
          'bound on the load (writes, flush, count)',
          duration('--load-timeout', false, { ms: qa.MAX_LOAD_TIMEOUT_MS, text: '4h' }),
          1_800_000,
          '30m',
        ),
      )
      .addOption(opt('--binary <path>', 'the server binary', path('--binary'), BINARY, `${BINARY} on PATH`))
      .addOption(opt('--report <file>', 'also write the JSON report to this file', path('--report'))),
    argv,
  );
  if (o.points % o.series !== 0)
    throw new BenchArgsError(
      `--points must be a multiple of --series (got ${o.points} points over ${o.series} series)`,
    );
  if (o.points / o.series > qa.MAX_POINTS_PER_SERIES)
    throw new BenchArgsError(
      `--points must be at most ${qa.MAX_POINTS_PER_SERIES} per series (got ${o.points / o.series})`,
    );
  const binary = findBinary(o.binary);
  if (binary === undefined)
    throw new BenchArgsError(
      `${o.binary} not found (on PATH or as given): install it with \`${INSTALL}\` (Debian), or pass --binary`,
    );
  const { loadTimeout, ...rest } = o;
  return { ...rest, binary, loadTimeoutMs: loadTimeout };
}

/** A free loopback port (the OS's ephemeral pick, released for the server to bind). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** User plus system CPU seconds of `pid` so far (/proc; 0 when unreadable). */
function cpuSecondsOf(pid: number): number {
  try {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux.
  } catch {
    return 0;
  }
}

/** The server's version: its `-version`, else the Debian package's, else "unknown". */
function versionOf(binary: string): string {
  for (const [cmd, argv] of [
    [binary, ['-version']],
    ['dpkg-query', ['-W', '-f=${Version}', BINARY]],
  ] as const) {
    try {
      const v = execFileSync(cmd, argv, { timeout: 10_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (v.trim() !== '') return v.trim();
    } catch {
      // Not this way.
    }
  }
  return 'unknown';
}

/** A running server: its process, its port, the tail of its stderr. */
interface Server {
  proc: ChildProcess;
  port: number;
  exited: Promise<void>;
  stderr: () => string;
}

/** Starts the server on `dir` and waits (bounded) until /health answers OK. */
async function startServer(binary: string, dir: string, retentionDays: number): Promise<Server> {
  const port = await freePort();
  const proc = spawn(
    binary,
    [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${dir}`,
      `-retentionPeriod=${retentionDays}d`,
      '-search.latencyOffset=0s',
      '-search.disableCache',
      '-loggerLevel=WARN',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let tail = '';
  proc.stderr!.on('data', (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-STDERR_TAIL)));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const server: Server = { proc, port, exited, stderr: () => tail };
  const h = new VmHttp(port, 1);
  try {
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (let i = 0; i <= START_TIMEOUT_MS / POLL_MS; i++) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`${binary} exited (${proc.exitCode ?? proc.signalCode}) at start: ${tail}`);
      const r = await h.request('/health', undefined, 1000).catch(() => undefined);
      if (r?.status === 200) return server;
      if (performance.now() > deadline) break;
      await sleep(POLL_MS);
    }
    throw new Error(`${binary} did not answer /health on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms: ${tail}`);
  } catch (err) {
    await stopServer(server);
    throw err;
  } finally {
    h.close();
  }
}

/** Stops the server by its pid: SIGTERM, then SIGKILL after a bounded wait; says which one stopped it. */
async function stopServer(s: Server): Promise<'exited' | 'SIGTERM' | 'SIGKILL'> {
  // True once the process exited, false after `ms`; the timer goes with the answer.
  const within = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void s.exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return 'exited';
  s.proc.kill('SIGTERM');
  if (await within(STOP_TIMEOUT_MS)) return 'SIGTERM';
  process.stderr.write(`${NAME}: pid ${s.proc.pid} still running ${STOP_TIMEOUT_MS} ms after SIGTERM; SIGKILL\n`);
  s.proc.kill('SIGKILL');
  if (!(await within(KILL_TIMEOUT_MS))) throw new Error(`pid ${s.proc.pid} survived SIGKILL for ${KILL_TIMEOUT_MS} ms`);
  return 'SIGKILL';
}

/** One /api/v1/import body: a JSON line per series and field, with the batch's points of that series. */
function importBody(points: readonly WritePoint[], fields: readonly string[]): string {
  const series = new Map<string, { region: string; ts: number[]; values: number[][] }>();
  for (const p of points) {
    const host = String(p.tags!.host);
    let s = series.get(host);
    if (s === undefined)
      series.set(host, (s = { region: String(p.tags!.region), ts: [], values: fields.map(() => []) }));
    s.ts.push(p.ts as number);
    fields.forEach((f, j) => s.values[j]!.push(p.fields[f]!));
  }
  const lines: string[] = [];
  for (const [host, s] of series)
    fields.forEach((f, j) => {
      const metric = JSON.stringify({ __name__: `cpu_${f}`, host, region: s.region });
      lines.push(`{"metric":${metric},"values":[${s.values[j]!.join(',')}],"timestamps":[${s.ts.join(',')}]}`);
    });
  return `${lines.join('\n')}\n`;
}

/** Writes every point with `args.writers` concurrent writers; the first failure, the deadline or the signal stops them all. */
async function load(h: VmHttp, data: QueryData, tap: EdgeTap, args: VmArgs, deadline: number, signal: AbortSignal) {
  const fields = SHAPE_FIELDS[data.shape].map((f) => f.name);
  await sendBatches(data, args.batch, args.writers, deadline, signal, async (points, b, batches) => {
    tap.observe(points);
    const r = await h.request('/api/v1/import', importBody(points, fields)).catch((err: Error) => err);
    if (r instanceof Error) throw new Error(`import of batch ${b} of ${batches}: ${r.message}`);
    if (r.status !== 204 && r.status !== 200)
      throw new Error(`import of batch ${b} of ${batches} answered ${r.status}: ${r.body.slice(0, 500)}`);
  });
}

/** Flushes the server's buffers and waits (bounded) until a count over everything sees every sample. */
async function waitQueryable(h: VmHttp, data: QueryData, deadline: number, signal: AbortSignal): Promise<void> {
  const samples = data.points * SHAPE_FIELDS[data.shape].length;
  const to = data.lastTs + TS_STEP_MS;
  const params = {
    query: `sum(count_over_time({__name__=~"cpu_.+"}[${to - data.firstTs}ms]))`,
    time: secondsOf(to - 1),
  };
  let seen = 'nothing';
  const polls = Math.ceil((deadline - performance.now()) / POLL_MS) + 1;
  for (let i = 0; i < polls; i++) {
    if (signal.aborted) throw new Error('interrupted while waiting for the load to be queryable');
    const f = await h.request('/internal/force_flush');
    if (f.status !== 200) throw new Error(`/internal/force_flush answered ${f.status}: ${f.body.slice(0, 500)}`);
    const r = JSON.parse(await h.get('/api/v1/query', params)) as { data: { result: { value: [number, string] }[] } };
    seen = r.data.result[0]?.value[1] ?? 'nothing';
    if (Number(seen) === samples) return;
    if (Number(seen) > samples)
      throw new Error(`the count over everything is ${seen}, more than the ${samples} samples written`);
    if (performance.now() > deadline) break;
    await sleep(POLL_MS);
  }
  throw new Error(`the count over everything was ${seen}, not ${samples}, within --load-timeout`);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const perPoint = (bytes: number, points: number) => Math.round((bytes / points) * 100) / 100;

/** One run: start, load, wait, verify, time; the server is stopped and its directory removed before returning. */
async function run(args: VmArgs, signal: AbortSignal) {
  const loadavg = readFileSync('/proc/loadavg', 'utf8').trim();
  const version = versionOf(args.binary);
  process.stderr.write(`${NAME}: ${args.binary} ${version}; load average ${loadavg}\n`);
  const dir = mkdtempSync(join(os.tmpdir(), 'lockstep-vm-peer-'));
  let server: Server | undefined;
  let h: VmHttp | undefined;
  try {
    const data = new QueryData(args.points, args.series, Date.now(), args.shape);
    // Every timestamp lies within the retention (the data reaches back at most 6 days).
    server = await startServer(args.binary, dir, 365);
    const pid = server.proc.pid!;
    h = new VmHttp(server.port, args.writers);
    const qs = vmQueriesOf(data);
    const tap = new EdgeTap(data, qs[1]!.from, qs[1]!.to);

    const cpu0 = cpuSecondsOf(pid);
    const t0 = performance.now();
    const deadline = t0 + args.loadTimeoutMs;
    await load(h, data, tap, args, deadline, signal);
    const t1 = performance.now();
    const loadS = (t1 - t0) / 1000;
    process.stderr.write(
      `${NAME}: wrote ${args.points} points in ${loadS.toFixed(1)} s (${Math.round(args.points / loadS)} points/s)\n`,
    );
    await waitQueryable(h, data, deadline, signal);
    const t2 = performance.now();
    const cpuS = cpuSecondsOf(pid) - cpu0;
    process.stderr.write(`${NAME}: every point queryable ${((t2 - t1) / 1000).toFixed(1)} s after the last write\n`);

    await verifyVm(h, data, qs, tap);
    process.stderr.write(`${NAME}: answers checked; timing ${qs.length} queries\n`);
    const queries = {} as Record<(typeof qs)[number]['name'], VmTiming>;
    for (const q of qs) queries[q.name] = await timeVm(h, q, args.warmUpRuns, args.runs, signal);
    // The server keeps recent parts in memory for a few seconds: the bytes are counted once a
    // graceful stop wrote them all.
    const flags = server.proc.spawnargs.slice(1).filter((a) => !a.startsWith('-storageDataPath'));
    h.close();
    const stoppedBy = await stopServer(server);
    server = undefined;
    const disk = diskUsage(dir);
    return {
      cores: os.availableParallelism?.() ?? os.cpus().length,
      node: process.version,
      loadavg_start: loadavg,
      profile: { ...dataProfile(args), batch: args.batch },
      load: {
        points: args.points,
        samples: args.points * SHAPE_FIELDS[args.shape].length,
        /** Writes, from the first request to the last answer. */
        load_s: round3(loadS),
        points_per_s: Math.round(args.points / loadS),
        /** From the end of the writes until the count over everything (after a forced flush) saw every point. */
        applied_s: round3((t2 - t1) / 1000),
        server_cpu_s: Math.round(cpuS * 100) / 100,
        server_cpu_us_per_point: Math.round((cpuS / args.points) * 1e8) / 100,
      },
      // The storage directory after the server stopped (by SIGTERM: every part written; by SIGKILL: some lost).
      disk: { ...disk, bytes_per_point: perPoint(disk.bytes, args.points), stopped_by: stoppedBy },
      queries,
      peer: { name: BINARY, version, flags },
      pids: [pid],
    };
  } finally {
    h?.close();
    if (server) await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBenchScript(NAME, parseVmArgs, run);
