/**
 * The barrier benchmark end to end: a few seconds of load on a real 1 liaison + 2 data node
 * cluster must produce a complete, consistent report and leave no process behind; bad flags must
 * fail fast, naming the flag.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from '../bench/bench_args.js';
import { alive, runScript, type ChildResult } from '../harness/child.js';
import { waitFor } from '../harness/wait.js';
import { useTempDir } from '../harness/temp_dir.js';

const SCRIPT = fileURLToPath(new URL('../bench/barrier_bench.ts', import.meta.url));
/** Hard bound on one benchmark child; the smoke profile needs about 15 s. */
const CHILD_TIMEOUT_MS = 90_000;

const runBench = (args: string[], timeoutMs = CHILD_TIMEOUT_MS): Promise<ChildResult> =>
  runScript(SCRIPT, args, timeoutMs);

const REPORT_FIELDS = [
  'profile',
  'calls',
  'errors',
  'timeouts',
  'mutate_ops',
  'mutate_errors',
  'p50_ms',
  'p95_ms',
  'p99_ms',
  'max_ms',
  'convergence_p50_ms',
  'convergence_p99_ms',
  'throughput_calls_per_s',
  'cores',
  'node',
] as const;
const PROFILE_FIELDS = [
  'callers',
  'mutate_rate',
  'warm_up_s',
  'measure_s',
  'data_nodes',
  'liaisons',
  'barrier_timeout_ms',
] as const;

describe('barrier benchmark', function () {
  this.timeout(CHILD_TIMEOUT_MS + 10_000);
  const tmp = useTempDir('bench-smoke');

  it('bench - a short run reports calls, mutations and ordered percentiles, and leaves no process', async () => {
    const report = join(tmp.path, 'report.json');
    const r = await runBench([
      '--callers',
      '10',
      '--mutate-rate',
      '5',
      '--warm-up',
      '1s',
      '--measure',
      '3s',
      '--data-nodes',
      '2',
      '--liaisons',
      '1',
      '--report',
      report,
    ]);
    assert.equal(r.code, 0, `exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as Record<string, unknown> & {
      profile: Record<string, unknown>;
      cluster: { node_pids: number[]; nats_pid?: number };
    };
    for (const f of REPORT_FIELDS) assert.ok(f in rep, `report lacks ${f}`);
    for (const f of PROFILE_FIELDS) assert.equal(typeof rep.profile[f], 'number', `profile.${f}`);
    assert.deepEqual(rep.profile, {
      callers: 10,
      mutate_rate: 5,
      warm_up_s: 1,
      measure_s: 3,
      data_nodes: 2,
      liaisons: 1,
      barrier_timeout_ms: 5000,
    });
    const n = (k: string) => rep[k] as number;
    assert.ok(n('calls') > 0, 'calls > 0');
    assert.ok(n('mutate_ops') > 0, 'mutate_ops > 0');
    assert.equal(n('errors'), 0, `errors: ${JSON.stringify(rep.error_samples)}`);
    assert.equal(n('mutate_errors'), 0);
    assert.ok(
      n('p50_ms') <= n('p95_ms') && n('p95_ms') <= n('p99_ms') && n('p99_ms') <= n('max_ms'),
      'p50 ≤ p95 ≤ p99 ≤ max',
    );
    assert.ok(n('convergence_p50_ms') <= n('convergence_p99_ms'));
    assert.ok(n('throughput_calls_per_s') > 0);
    assert.equal(typeof rep.node, 'string');
    // The same report went to stdout.
    assert.deepEqual(JSON.parse(r.stdout), rep);

    const pids = [...rep.cluster.node_pids, ...(rep.cluster.nats_pid === undefined ? [] : [rep.cluster.nats_pid])];
    assert.equal(pids.length, 4, 'three nodes and nats-server');
    // The benchmark joined its cluster before exiting; give the kernel a moment to reap.
    await waitFor(() => pids.every((p) => !alive(p)), {
      timeoutMs: 2000,
      what: `no process left of ${pids.join(', ')}`,
    });
  });

  const BAD: [string[], string][] = [
    [['--mutate-rate', '0'], '--mutate-rate'],
    [['--mutate-rate', '-1'], '--mutate-rate'],
    [['--measure', '-5s'], '--measure'],
    [['--callers', '0'], '--callers'],
  ];

  it('bench - bad flags are rejected by parseBenchArgs with a message naming the flag', () => {
    for (const [argv, flag] of BAD) {
      assert.throws(
        () => parseBenchArgs(argv),
        (err: Error & { exitCode?: number }) => {
          assert.ok(err.message.includes(flag), `${argv.join(' ')}: ${err.message}`);
          assert.equal(err.exitCode, 2);
          return true;
        },
      );
    }
    assert.throws(() => parseBenchArgs(['--callers', '2.5']), /--callers/);
    assert.throws(() => parseBenchArgs(['--data-nodes', 'x']), /--data-nodes/);
    assert.equal(parseBenchArgs(['--warm-up', '0']).warmUpMs, 0);
  });

  it('bench - bad flags make the script exit 2 before starting anything', async () => {
    const results = await Promise.all(BAD.map(([argv]) => runBench(argv, 30_000)));
    results.forEach((r, i) => {
      const [argv, flag] = BAD[i]!;
      assert.equal(r.code, 2, `${argv.join(' ')} exited ${r.code ?? r.signal}`);
      assert.match(r.stderr, new RegExp(`barrier_bench: .*${flag}`), `${argv.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  });
});
