/**
 * The migration benchmark end to end: a tiny load re-sharded 2 → 4 under a live write load, on a
 * standalone node and on 1 liaison + 2 data nodes + 1 claimer, must produce a complete, consistent
 * report (every point read once afterwards, no write refused) and leave no process behind; bad
 * flags must fail fast, naming the flag.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MigrationReport } from '../bench/migration_bench.js';
import type { WindowStats } from '../bench/migration_load.js';
import { parseMigrationArgs } from '../bench/migration_args.js';
import { alive, runScript, type ChildResult } from '../harness/child.js';
import { waitFor } from '../harness/wait.js';
import { useTempDir } from '../harness/temp_dir.js';

const SCRIPT = fileURLToPath(new URL('../bench/migration_bench.ts', import.meta.url));
/** Hard bound on one benchmark child; the smoke profile needs about 25 s for both deployments. */
const CHILD_TIMEOUT_MS = 90_000;
const POINTS = 20_000;

const runBench = (args: string[], timeoutMs = CHILD_TIMEOUT_MS): Promise<ChildResult> =>
  runScript(SCRIPT, args, timeoutMs);

const ROW_FIELDS = [
  'points_loaded',
  'load_points_per_s',
  'copy_rows',
  'copy_rows_per_s',
  'migration_duration_s',
  'cutover_ms',
  'write_latency',
  'p99_cutover_over_before',
  'refused_writes',
  'query_p50_ms_during_copy',
  'points_ok',
] as const;

/** A window's figures are ordered, and all zero when it holds no sample. */
function checkWindow(what: string, w: WindowStats): void {
  assert.ok(w.samples >= 0, `${what}: samples`);
  if (w.samples === 0) assert.deepEqual([w.p50_ms, w.p99_ms, w.max_ms], [0, 0, 0], what);
  else assert.ok(w.p50_ms > 0 && w.p50_ms <= w.p99_ms && w.p99_ms <= w.max_ms, `${what}: 0 < p50 ≤ p99 ≤ max`);
}

describe('migration benchmark', function () {
  this.timeout(CHILD_TIMEOUT_MS + 10_000);
  const tmp = useTempDir('migration-smoke');

  it('bench - a tiny re-shard under live writes reports copy rate, phase latencies and a full count, and leaves no process', async () => {
    const report = join(tmp.path, 'report.json');
    const r = await runBench([
      ...['--points', String(POINTS), '--from-shards', '2', '--to-shards', '4'],
      ...['--write-rate', '2000', '--baseline', '1s', '--report', report],
      // The standalone profile runs the same benchmark on one process; the suite runs the cluster.
      ...['--profile', 'cluster'],
    ]);
    assert.equal(r.code, 0, `exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as MigrationReport;
    assert.ok(rep.cores >= 1);
    assert.equal(typeof rep.node, 'string');
    assert.ok(rep.loadavg_at_start === null || /^[\d.]+ [\d.]+ [\d.]+$/.test(rep.loadavg_at_start));
    assert.deepEqual(
      { ...rep.config },
      {
        points: POINTS,
        series: 1000,
        from_shards: 2,
        to_shards: 4,
        write_rate: 2000,
        probe_tick_ms: 20,
        baseline_s: 1,
        load_writers: 4,
        batch: 5000,
      },
    );
    assert.deepEqual(
      rep.profiles.map((p) => p.profile),
      ['cluster'],
    );
    for (const row of rep.profiles) {
      const p = row.profile;
      for (const f of ROW_FIELDS) assert.ok(f in row, `${p}: report lacks ${f}`);
      assert.equal(row.migration_state, 'completed', `${p}: ${row.migration_error}`);
      assert.equal(row.points_loaded, POINTS);
      assert.ok(row.load_points_per_s > 0);
      // The copy takes every row stored before dual writes began: the load and the probe's first writes.
      assert.equal(row.copy_rows, row.rows_total, p);
      assert.ok(row.copy_rows >= POINTS, `${p}: copied ${row.copy_rows}`);
      assert.ok(row.copy_s > 0 && row.copy_rows_per_s > 0, `${p}: copy ${row.copy_s} s, ${row.copy_rows_per_s}/s`);
      assert.ok(row.migration_duration_s >= row.copy_s + row.copy_start_delay_s, `${p}: phases within the whole`);
      assert.ok(row.cutover_ms >= 0 && row.cutover_wait_ms >= 0, p);
      for (const [name, w] of Object.entries(row.write_latency)) checkWindow(`${p} writes ${name}`, w);
      checkWindow(`${p} writes overlapping the cutover`, row.write_latency_overlapping_cutover);
      // About 50 ticks in a 1 s baseline; a loaded machine may stretch a few.
      assert.ok(row.write_latency.before.samples >= 25, `${p}: ${row.write_latency.before.samples} baseline writes`);
      assert.ok(row.write_latency.after.samples > 0, p);
      if (row.write_latency.cutover.samples === 0) assert.equal(row.p99_cutover_over_before, null);
      else assert.ok(row.p99_cutover_over_before! > 0);
      assert.equal(row.refused_writes, 0, `${p}: ${JSON.stringify(row.write_error_samples)}`);
      assert.equal(row.skipped_ticks, 0, p);
      assert.equal(row.targets.refused_writes_0, true);
      checkWindow(`${p} queries before`, row.query_latency.before);
      checkWindow(`${p} queries during the copy`, row.query_latency.copy);
      assert.ok(row.query_latency.before.samples > 0, p);
      assert.equal(row.query_p50_ms_during_copy, row.query_latency.copy.p50_ms);
      assert.equal(row.query_errors, 0, `${p}: ${JSON.stringify(row.query_error_samples)}`);
      // The counted hour holds loaded points only: every count, before, during and after the cutover, is exact.
      assert.equal(row.query_wrong_counts, 0, `${p}: ${JSON.stringify(row.query_error_samples)}`);
      assert.deepEqual(row.query_wrong_ms_from_cutover, []);
      // Every acknowledged point, loaded or live, is read exactly once from the new layout.
      assert.ok(row.probe_points_acked > 0);
      assert.equal(row.points_expected, POINTS + row.probe_points_acked);
      assert.equal(row.points_counted, row.points_expected, p);
      assert.equal(row.points_ok, true);
    }
    // The same report went to stdout.
    assert.deepEqual(JSON.parse(r.stdout), rep);

    const pids = rep.profiles.flatMap((p) => p.pids);
    assert.equal(pids.length, 5, 'four nodes + nats-server');
    // The benchmark joined its processes before exiting; give the kernel a moment to reap.
    await waitFor(() => pids.every((p) => !alive(p)), {
      timeoutMs: 2000,
      what: `no process left of ${pids.join(', ')}`,
    });
  });

  const BAD: [string[], string][] = [
    [['--points', '0'], '--points'],
    [['--points', '1500'], '--points'],
    [['--from-shards', '0'], '--from-shards'],
    [['--to-shards', '2'], '--to-shards'],
    [['--write-rate', '0'], '--write-rate'],
    [['--profile', 'replica'], '--profile'],
    [['--baseline', '-1s'], '--baseline'],
  ];

  it('bench - bad flags are rejected by parseMigrationArgs with a message naming the flag', () => {
    for (const [argv, flag] of BAD) {
      assert.throws(
        () => parseMigrationArgs(argv),
        (err: Error & { exitCode?: number }) => {
          assert.ok(err.message.includes(flag), `${argv.join(' ')}: ${err.message}`);
          assert.equal(err.exitCode, 2);
          return true;
        },
      );
    }
    assert.deepEqual(
      { ...parseMigrationArgs([]) },
      {
        points: 5_000_000,
        fromShards: 2,
        toShards: 8,
        writeRate: 50_000,
        profiles: ['standalone', 'cluster'],
        baselineMs: 10_000,
        loadTimeoutMs: 1_800_000,
        migrationTimeoutMs: 1_800_000,
      },
    );
    assert.deepEqual(parseMigrationArgs(['--profile', 'cluster']).profiles, ['cluster']);
    assert.deepEqual(parseMigrationArgs(['--profile', 'both']).profiles, ['standalone', 'cluster']);
  });

  it('bench - bad flags make the script exit 2 before starting anything', async () => {
    const results = await Promise.all(BAD.map(([argv]) => runBench(argv, 30_000)));
    results.forEach((r, i) => {
      const [argv, flag] = BAD[i]!;
      assert.equal(r.code, 2, `${argv.join(' ')} exited ${r.code ?? r.signal}`);
      assert.match(r.stderr, new RegExp(`migration_bench: .*${flag}`), `${argv.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  });
});
