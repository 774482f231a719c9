/**
 * The ingest benchmark end to end: a short run on a standalone node and on a 1 liaison + 2 data
 * node cluster must produce a complete, consistent report and leave no process behind; bad flags
 * must fail fast, naming the flag.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIngestArgs } from '../bench/ingest_args.js';
import { alive, runScript, type ChildResult } from '../harness/child.js';
import { waitFor } from '../harness/wait.js';
import { useTempDir } from '../harness/temp_dir.js';

const SCRIPT = fileURLToPath(new URL('../bench/ingest_bench.ts', import.meta.url));
/** Hard bound on one benchmark child; the smoke profile needs about 12 s. */
const CHILD_TIMEOUT_MS = 90_000;

const runBench = (args: string[], timeoutMs = CHILD_TIMEOUT_MS): Promise<ChildResult> =>
  runScript(SCRIPT, args, timeoutMs);

const ROW_FIELDS = [
  'config',
  'writers',
  'points',
  'batches',
  'errors',
  'points_per_s',
  'p50_ms',
  'p99_ms',
  'max_ms',
  'bytes_per_point',
  'stored_after_s',
  'server_cpu_us_per_point',
  'wal_bytes_per_point',
  'wal_bytes_per_point_settled',
] as const;

interface Row extends Record<string, unknown> {
  config: string;
  writers: number;
  pids: number[];
}

describe('ingest benchmark', function () {
  this.timeout(CHILD_TIMEOUT_MS + 10_000);
  const tmp = useTempDir('ingest-smoke');

  it('bench - a short run reports rate, latency and WAL bytes per config, and leaves no process', async () => {
    const report = join(tmp.path, 'report.json');
    const r = await runBench([
      '--series',
      '100',
      '--batch',
      '500',
      '--writers',
      '2',
      '--duration',
      '1500ms',
      '--warm-up',
      '500ms',
      // The suite runs the three-server config; the standalone node's start is the query
      // benchmark's (its smoke runs it), the one-server cluster differs only in its NATS.
      '--configs',
      'cluster_r3',
      // What a metrics agent sends: a random-walk float and an int counter per point.
      '--shape',
      'walk',
      '--report',
      report,
    ]);
    assert.equal(r.code, 0, `exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as {
      stage: string;
      cores: number;
      node: string;
      profile: { shape: string; form: string };
      configs: Row[];
    };
    assert.equal(rep.stage, 'stored');
    assert.equal(rep.profile.shape, 'walk');
    assert.equal(rep.profile.form, 'columns');
    assert.equal(typeof rep.cores, 'number');
    assert.ok(rep.cores >= 1);
    assert.equal(typeof rep.node, 'string');
    assert.deepEqual(
      rep.configs.map((c) => [c.config, c.writers]),
      [['cluster_r3', 2]],
    );
    for (const row of rep.configs) {
      for (const f of ROW_FIELDS) assert.ok(f in row, `${row.config}: report lacks ${f}`);
      const n = (k: string) => row[k] as number;
      assert.equal(n('errors'), 0, `${row.config} errors: ${JSON.stringify(row.error_samples)}`);
      assert.ok(n('batches') > 0, `${row.config}: batches > 0`);
      assert.equal(n('points'), n('batches') * 500, `${row.config}: every batch carries 500 points`);
      assert.ok(n('points_per_s') > 0);
      assert.ok(
        n('p50_ms') > 0 && n('p50_ms') <= n('p99_ms') && n('p99_ms') <= n('max_ms'),
        `${row.config}: 0 < p50 ≤ p99 ≤ max`,
      );
      // Once every owner flushed, the data nodes trim the WAL (every second, no safety window in the
      // benchmark): what stays is less than one copy of the points, whose 8-byte float and counter
      // alone take 16 bytes each (an untrimmed WAL holds about 30 per point).
      assert.ok(
        n('wal_bytes_per_point_settled') <= n('wal_bytes_per_point') && n('wal_bytes_per_point_settled') < 16,
        `${row.config}: WAL settled at ${n('wal_bytes_per_point_settled')} B/pt from ${n('wal_bytes_per_point')}`,
      );
      // Once the writers stopped, every acknowledged point reached the data directories.
      assert.ok(
        n('bytes_per_point') > 0 && n('stored_after_s') >= 0,
        `${row.config}: bytes_per_point ${n('bytes_per_point')}, stored_after_s ${n('stored_after_s')}`,
      );
      // Every point cost the server some CPU, and far less than a millisecond.
      assert.ok(
        n('server_cpu_us_per_point') > 0 && n('server_cpu_us_per_point') < 1000,
        `${row.config}: ${n('server_cpu_us_per_point')} µs of server CPU per point`,
      );
      assert.equal(row.capped, false);
      assert.equal(n('wal_replicas'), row.config === 'cluster_r3' ? 3 : 1, `${row.config}: WAL replicas`);
    }
    // The same report went to stdout.
    assert.deepEqual(JSON.parse(r.stdout), rep);

    const pids = rep.configs.flatMap((c) => c.pids);
    assert.equal(pids.length, 6, 'three nodes + three nats-servers');
    // The benchmark joined its processes before exiting; give the kernel a moment to reap.
    await waitFor(() => pids.every((p) => !alive(p)), {
      timeoutMs: 2000,
      what: `no process left of ${pids.join(', ')}`,
    });
  });

  const BAD: [string[], string][] = [
    [['--series', '0'], '--series'],
    [['--batch', '10001'], '--batch'],
    [['--writers', '1,0'], '--writers'],
    [['--duration', '-5s'], '--duration'],
    [['--configs', 'standalone,replica'], '--configs'],
    [['--shape', 'square'], '--shape'],
    [['--shape', 'walk', '--fields', '3'], '--fields'],
    [['--form', 'rows'], '--form'],
  ];

  it('bench - bad flags are rejected by parseIngestArgs with a message naming the flag', () => {
    for (const [argv, flag] of BAD) {
      assert.throws(
        () => parseIngestArgs(argv),
        (err: Error & { exitCode?: number }) => {
          assert.ok(err.message.includes(flag), `${argv.join(' ')}: ${err.message}`);
          assert.equal(err.exitCode, 2);
          return true;
        },
      );
    }
    assert.throws(() => parseIngestArgs(['--fields', '2.5']), /--fields/);
    assert.throws(() => parseIngestArgs(['--writers', '4,4']), /--writers/);
    const d = parseIngestArgs([]);
    assert.deepEqual(
      { ...d },
      {
        series: 1000,
        batchPoints: 5000,
        writers: [1, 4],
        measureMs: 20_000,
        warmUpMs: 3000,
        fields: 2,
        shape: 'random',
        form: 'columns',
        configs: ['standalone', 'cluster', 'cluster_r3'],
      },
    );
    assert.equal(parseIngestArgs(['--warm-up', '0']).warmUpMs, 0);
  });

  it('bench - bad flags make the script exit 2 before starting anything', async () => {
    const results = await Promise.all(BAD.map(([argv]) => runBench(argv, 30_000)));
    results.forEach((r, i) => {
      const [argv, flag] = BAD[i]!;
      assert.equal(r.code, 2, `${argv.join(' ')} exited ${r.code ?? r.signal}`);
      assert.match(r.stderr, new RegExp(`ingest_bench: .*${flag}`), `${argv.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  });
});
