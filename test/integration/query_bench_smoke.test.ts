/**
 * The query benchmark end to end: a tiny load on a standalone node must produce a complete,
 * consistent report (the benchmark itself checks every answer against what it wrote before timing)
 * and leave no process behind; bad flags must fail fast, naming the flag.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQueryArgs } from '../bench/query_args.js';
import { alive, runScript, type ChildResult } from '../harness/child.js';
import { waitFor } from '../harness/wait.js';
import { useTempDir } from '../harness/temp_dir.js';

const SCRIPT = fileURLToPath(new URL('../bench/query_bench.ts', import.meta.url));
/** Hard bound on one benchmark child; the smoke profile needs about 10 s. */
const CHILD_TIMEOUT_MS = 60_000;

const runBench = (args: string[], timeoutMs = CHILD_TIMEOUT_MS): Promise<ChildResult> =>
  runScript(SCRIPT, args, timeoutMs);

const QUERIES = [
  'window_mean_by_region',
  'minute_mean_by_region',
  'series_raw_day',
  'top10_series_by_max',
  'empty_range',
] as const;
const TIMING_FIELDS = [
  'rows',
  'runs',
  'median_ms',
  'p50_ms',
  'p95_ms',
  'p99_ms',
  'min_ms',
  'max_ms',
  'from',
  'to',
] as const;

/** One query's timings, as the report gives them. */
type QueryTiming = Record<(typeof TIMING_FIELDS)[number] | 'runs', number> &
  Partial<Record<'from' | 'to', number>> & { description?: string };

interface Report {
  cores: number;
  node: string;
  profile: Record<string, number | string>;
  load: { points: number; load_s: number; points_per_s: number; applied_s: number; flushed_s: number };
  disk: { bytes: number; files: number; bytes_per_point: number; flushed_bytes_per_point: number };
  parts: { settle_s: number; settled: boolean; before_queries: number; after_queries: number };
  queries: Record<string, QueryTiming>;
  target: { query: string; median_ms_below: number; met: boolean };
  pids: number[];
}

describe('query benchmark', function () {
  this.timeout(CHILD_TIMEOUT_MS + 10_000);
  const tmp = useTempDir('query-smoke');

  it('bench - a tiny load reports load rate, bytes per point and ordered query timings, and leaves no process', async () => {
    const report = join(tmp.path, 'report.json');
    const r = await runBench([
      '--points',
      '20000',
      '--series',
      '100',
      '--runs',
      '3',
      '--warm-up-runs',
      '1',
      '--settle',
      '1s',
      '--report',
      report,
    ]);
    assert.equal(r.code, 0, `exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as Report;
    assert.ok(rep.cores >= 1);
    assert.equal(typeof rep.node, 'string');
    assert.deepEqual(rep.profile, {
      points: 20000,
      series: 100,
      shape: 'random',
      regions: 10,
      runs: 3,
      warm_up_runs: 1,
      writers: 4,
      form: 'columns',
      batch: 5000,
      shards: 4,
      step_ms: 10_000,
    });
    assert.equal(rep.load.points, 20000);
    assert.ok(rep.load.load_s > 0 && rep.load.points_per_s > 0, `load: ${JSON.stringify(rep.load)}`);
    assert.ok(rep.load.applied_s >= 0 && rep.load.flushed_s >= 0);
    // Every point costs something on disk once flushed, and far less than its JSON form.
    assert.ok(rep.disk.files > 0 && rep.disk.bytes > 0, `disk: ${JSON.stringify(rep.disk)}`);
    assert.ok(
      rep.disk.bytes_per_point > 0 && rep.disk.bytes_per_point < 200 && rep.disk.flushed_bytes_per_point > 0,
      `disk: ${JSON.stringify(rep.disk)}`,
    );

    // 4 shards flushed their rows: at least one part each, before and after the timed queries.
    assert.ok(rep.parts.before_queries >= 4 && rep.parts.after_queries >= 4, `parts: ${JSON.stringify(rep.parts)}`);
    // The part count held still for the 1 s asked before the timing began.
    assert.equal(rep.parts.settled, true);
    assert.ok(rep.parts.settle_s >= 1 && rep.parts.settle_s < 60, `parts: ${JSON.stringify(rep.parts)}`);
    assert.deepEqual(Object.keys(rep.queries), [...QUERIES]);
    for (const name of QUERIES) {
      const q = rep.queries[name]!;
      for (const f of TIMING_FIELDS) assert.equal(typeof q[f], 'number', `${name}.${f}`);
      assert.equal(q.runs, 3);
      assert.ok(q.min_ms > 0 && q.min_ms <= q.median_ms && q.median_ms <= q.max_ms, `${name}: 0 < min ≤ median ≤ max`);
      assert.ok(q.p50_ms <= q.p95_ms && q.p95_ms <= q.p99_ms && q.p99_ms <= q.max_ms, `${name}: p50 ≤ p95 ≤ p99 ≤ max`);
      assert.ok(q.from! < q.to!);
    }
    // 10 regions; 200 points of 10 s per series, all inside the day; 10 of 100 series.
    assert.equal(rep.queries.window_mean_by_region!.rows, 10);
    // 200 steps 10 s apart (33 min 10 s): 34 or 35 minute buckets, by alignment, for each of 10 regions.
    assert.ok(
      [340, 350].includes(rep.queries.minute_mean_by_region!.rows),
      `${rep.queries.minute_mean_by_region!.rows} groups`,
    );
    assert.equal(rep.queries.series_raw_day!.rows, 200);
    assert.equal(rep.queries.top10_series_by_max!.rows, 10);
    assert.equal(rep.queries.empty_range!.rows, 0, 'a 1 ms range with no point in it');
    assert.equal(rep.target.query, 'window_mean_by_region');
    assert.equal(rep.target.met, rep.queries.window_mean_by_region!.median_ms! < rep.target.median_ms_below);
    // The same report went to stdout.
    assert.deepEqual(JSON.parse(r.stdout), rep);

    assert.equal(rep.pids.length, 2, 'standalone node + nats-server');
    // The benchmark joined its processes before exiting; give the kernel a moment to reap.
    await waitFor(() => rep.pids.every((p) => !alive(p)), {
      timeoutMs: 2000,
      what: `no process left of ${rep.pids.join(', ')}`,
    });
  });

  it('bench - the walk shape (a random-walk float and an int counter) answers the same queries, checked', async () => {
    const r = await runBench([
      '--points',
      '12000',
      '--series',
      '400',
      '--shape',
      'walk',
      '--runs',
      '1',
      '--warm-up-runs',
      '0',
      '--settle',
      '0',
    ]);
    // The script checks every answer against what it wrote before timing anything: exit 0 says they held.
    assert.equal(r.code, 0, `exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.profile.shape, 'walk');
    assert.match(rep.queries.window_mean_by_region!.description ?? '', /mean\(value\)/);
    assert.equal(rep.queries.top10_series_by_max!.rows, 10);
    assert.equal(rep.queries.series_raw_day!.rows, 30);
  });

  const BAD: [string[], string][] = [
    [['--points', '0'], '--points'],
    [['--points', '1001'], '--points'],
    [['--series', '0'], '--series'],
    [['--runs', '0'], '--runs'],
    [['--load-timeout', '-5s'], '--load-timeout'],
    [['--shape', 'square'], '--shape'],
    [['--settle', '4m'], '--settle'],
    [['--settle', 'soon'], '--settle'],
  ];

  it('bench - bad flags are rejected by parseQueryArgs with a message naming the flag', () => {
    for (const [argv, flag] of BAD) {
      assert.throws(
        () => parseQueryArgs(argv),
        (err: Error & { exitCode?: number }) => {
          assert.ok(err.message.includes(flag), `${argv.join(' ')}: ${err.message}`);
          assert.equal(err.exitCode, 2);
          return true;
        },
      );
    }
    assert.throws(
      () => parseQueryArgs(['--points', '100000000', '--series', '1000']),
      /--points must be at most 50000 per series/,
    );
    assert.deepEqual(
      { ...parseQueryArgs([]) },
      {
        points: 10_000_000,
        series: 1000,
        shape: 'random',
        runs: 20,
        warmUpRuns: 200,
        writers: 4,
        form: 'columns',
        loadTimeoutMs: 1_800_000,
        // Past the shard actor's quiet-merge check (10 s × 1.5), and 2 s more.
        settleMs: 17_000,
      },
    );
    assert.equal(parseQueryArgs(['--warm-up-runs', '0']).warmUpRuns, 0);
    assert.equal(parseQueryArgs(['--settle', '0']).settleMs, 0);
    assert.equal(parseQueryArgs(['--form', 'points']).form, 'points');
    assert.throws(() => parseQueryArgs(['--form', 'rows']), /--form/);
  });

  it('bench - bad flags make the script exit 2 before starting anything', async () => {
    const results = await Promise.all(BAD.map(([argv]) => runBench(argv, 30_000)));
    results.forEach((r, i) => {
      const [argv, flag] = BAD[i]!;
      assert.equal(r.code, 2, `${argv.join(' ')} exited ${r.code ?? r.signal}`);
      assert.match(r.stderr, new RegExp(`query_bench: .*${flag}`), `${argv.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  });
});
