/**
 * A real Prometheus (Debian's 2.42) scraping a local cluster (1 liaison, 2 data nodes, 1 claimer,
 * real processes) with the project's alert rules loaded: every node is up and ready, the data
 * nodes' storage series carry each group, flush durations are observed, process metrics keep
 * their standard names, and the rules of deploy/prometheus/alerts.yml are loaded and evaluated.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '../../runtime/nats_cluster.js';
import { subjectsFor } from '../../transport/subjects.js';
import type { WritePoint } from '../../transport/api_types.js';
import { TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
const ALERTS = fileURLToPath(new URL('../../deploy/prometheus/alerts.yml', import.meta.url));
const NODES = ['l1', 'd1', 'd2', 'c1'];

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('a real Prometheus scrapes a local cluster (1 liaison, 2 data nodes, 1 claimer)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-prom-'));
  let c: TestCluster;
  let prom: ChildProcess | undefined;
  let promLog = '';
  let api = '';

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2, claimers: 1 });
    const targets: string[] = [];
    const relabel: string[] = [];
    for (const node of NODES) {
      const { metrics_port } = await c.control<{ metrics_port: number }>(node, 'actors');
      targets.push(`127.0.0.1:${metrics_port}`);
      relabel.push(
        `      - source_labels: [__address__]\n        regex: '127\\.0\\.0\\.1:${metrics_port}'\n        target_label: node\n        replacement: ${node}`,
      );
    }
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${ALERTS}`,
      'scrape_configs:',
      '  - job_name: lockstep',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      '    relabel_configs:',
      ...relabel,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const port = await freeLoopbackPort();
    api = `http://127.0.0.1:${port}/api/v1`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr!.on('data', (d) => {
      if (promLog.length < 20_000) promLog += String(d);
    });
    await waitFor(async () => (await fetch(`${api}/status/buildinfo`).catch(() => undefined))?.ok, {
      timeoutMs: 20_000,
      what: `Prometheus to answer (${promLog.slice(-500)})`,
    });
  });
  after(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    await c?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const query = async (q: string): Promise<Sample[]> => {
    const r = (await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json()) as {
      status: string;
      data: { result: Sample[] };
    };
    assert.equal(r.status, 'success', q);
    return r.data.result;
  };
  /** The nodes whose series of `q` Prometheus holds with a value satisfying `ok`. */
  const nodesWith = async (q: string, ok: (v: number) => boolean = () => true) =>
    new Set((await query(q)).filter((s) => ok(Number(s.value[1]))).map((s) => s.metric.node));

  it("every node's series: up, ready, connected to NATS, process metrics under their standard names", async () => {
    for (const q of ['up', 'lockstep_node_ready', 'lockstep_nats_connected']) {
      await waitFor(async () => (await nodesWith(q, (v) => v === 1)).size === NODES.length, {
        timeoutMs: 30_000,
        what: `${q} = 1 for ${NODES.join(', ')}`,
      });
    }
    for (const q of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes'])
      assert.deepEqual([...(await nodesWith(q))].sort(), [...NODES].sort(), q);
  });

  it("the data nodes' storage series per group: parts, bytes, rows, segments, flush durations", async () => {
    await c.createGroup('scraped');
    await c.createMeasure('scraped', 'cpu');
    const ts = daysAgo(1);
    const points: WritePoint[] = Array.from({ length: 200 }, (_, i) => ({
      tags: { host: `h${i}` },
      fields: { value: i },
      ts,
    }));
    await c.api(S.api.write('measure'), { group: 'scraped', name: 'cpu', points }, 10_000);
    // Both data nodes own shards of the group (2 shards, balanced): each flushes within the
    // memtable's 2 s age bound and reports the group.
    for (const q of [
      'lockstep_storage_parts{group="scraped"}',
      'lockstep_storage_part_bytes{group="scraped"}',
      'lockstep_storage_segments{group="scraped"}',
      'lockstep_flush_duration_seconds_count{group="scraped"}',
    ]) {
      await waitFor(async () => (await nodesWith(q, (v) => v > 0)).size === 2, {
        timeoutMs: 30_000,
        what: `${q} > 0 on d1 and d2`,
      });
    }
    const rows = await query('sum(lockstep_storage_rows{group="scraped"})');
    assert.equal(Number(rows[0]!.value[1]), points.length, 'every point in a part, counted once');
    assert.deepEqual([...(await nodesWith('lockstep_memtable_rows{group="scraped"}'))].sort(), ['d1', 'd2']);
    assert.deepEqual([...(await nodesWith('lockstep_storage_merge_backlog{group="scraped"}', (v) => v === 0))].sort(), [
      'd1',
      'd2',
    ]);
  });

  it('the alert rules of deploy/prometheus/alerts.yml are loaded, evaluated, and none fires', async () => {
    const r = (await (await fetch(`${api}/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string; state: string }[] }[] };
    };
    const rules = r.data.groups.flatMap((g) => g.rules);
    assert.equal(rules.length, 7, JSON.stringify(rules.map((x) => x.name)));
    await waitFor(
      async () => {
        const again = (await (await fetch(`${api}/rules`)).json()) as typeof r;
        return again.data.groups.flatMap((g) => g.rules).every((x) => x.health === 'ok');
      },
      { timeoutMs: 10_000, what: 'every rule evaluated without error' },
    );
    const firing = (await query('ALERTS{alertstate="firing"}')).map((s) => s.metric.alertname);
    assert.deepEqual(firing, [], 'a healthy cluster fires no alert');
  });
});
