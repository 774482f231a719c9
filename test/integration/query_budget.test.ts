/**
 * A per-query memory budget on a cluster (issue: bounded memory): the data node runs with
 * `--query-budget-rows 50000` and holds 1,000,000 points of one shard, so every query below reads
 * them in about twenty time windows, one after another (planWindows; the unit tests count the
 * windows and compare them with whole reads). Aggregations over every point, a top-N and the
 * newest raw rows answer exactly as a model of the writes says. A budget below the minimum stops
 * the node before it starts, naming the flag's bound.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LockstepClient } from '../../transport/client.js';
import { TestCluster } from '../harness/cluster.js';
import { tagFamily } from '../harness/fixtures.js';
import { exitWithin } from '../harness/wait.js';
import { MIN_QUERY_BUDGET_ROWS } from '../../transport/limits.js';

const BIN = fileURLToPath(new URL('../../bin/lockstep.js', import.meta.url));

const HOSTS = 500;
const STEPS = 2000;
const STEP_MS = 10_000;
const REGIONS = 5;
const BUDGET = '50000';

describe('a small query budget (1 liaison + 1 data node, 1,000,000 points, --query-budget-rows 50000)', function () {
  this.timeout(300_000);
  let c: TestCluster;
  let lc: LockstepClient;
  const T0 = Math.floor((Date.now() - STEPS * STEP_MS - 3_600_000) / STEP_MS) * STEP_MS;
  const value = (h: number, s: number) => ((h * 7919 + s * 104_729) % 10_000) / 100;
  const q = { group: 'mem', name: 'cpu', from: T0, to: T0 + STEPS * STEP_MS };

  before(async () => {
    c = await TestCluster.start({
      liaisons: 1,
      dataNodes: 1,
      nodeArgs: ['--query-budget-rows', BUDGET],
    });
    lc = await LockstepClient.connect({ natsUrl: c.lc.natsUrl });
    await lc.create('group', { name: 'mem', catalog: 'measure', shards: 1, segment_interval: '1d', ttl: '7d' });
    const m = await lc.create('measure', {
      group: 'mem',
      name: 'cpu',
      entity: ['host'],
      tag_families: [tagFamily('default', { host: 'string', region: 'string' })],
      fields: [{ name: 'v', type: 'float' }],
    });
    assert.equal((await lc.awaitRevision(m.revision, { timeoutMs: 10_000 })).applied, true);
    let token;
    for (let s = 0; s < STEPS; s += 10) {
      const points = [];
      for (let k = s; k < s + 10; k++)
        for (let h = 0; h < HOSTS; h++)
          points.push({
            ts: T0 + k * STEP_MS,
            tags: { host: `h${h}`, region: `r${h % REGIONS}` },
            fields: { v: value(h, k) },
          });
      token = (await lc.writeMeasure('mem', 'cpu', points)).write_token;
    }
    await lc.queryMeasure({ ...q, limit: 1, write_token: token, timeout_ms: 60_000 });
  });
  after(async () => {
    await lc?.close();
    await c?.stop();
  });

  it('mean, count and p90 by region over every point', async () => {
    const r = await lc.queryMeasure({
      ...q,
      group_by: ['region'],
      aggregations: [{ fn: 'count' }, { fn: 'mean', field: 'v' }, { fn: 'percentile', field: 'v', p: 90 }],
      timeout_ms: 120_000,
    });
    assert.equal(r.groups!.length, REGIONS);
    for (const g of r.groups!) {
      const region = Number(String(g.tags.region).slice(1));
      const vs: number[] = [];
      for (let h = region; h < HOSTS; h += REGIONS) for (let s = 0; s < STEPS; s++) vs.push(value(h, s));
      assert.equal(g.values.count, vs.length);
      const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
      assert.ok(Math.abs(g.values['mean(v)']! - mean) < 1e-6, `${g.values['mean(v)']} vs ${mean}`);
      const p90 = vs.sort((a, b) => a - b)[Math.floor(0.9 * (vs.length - 1))]!;
      assert.ok(Math.abs(g.values['p90(v)']! - p90) <= 0.01 * p90, `${g.values['p90(v)']} vs ${p90}`);
    }
  });

  it('top 3 hosts by max and the newest raw rows', async () => {
    const top = await lc.queryMeasure({
      ...q,
      top: { n: 3, fn: 'max', field: 'v', order: 'desc' },
      timeout_ms: 120_000,
    });
    const maxOf = (h: number) => Math.max(...Array.from({ length: STEPS }, (_, s) => value(h, s)));
    const want = Array.from({ length: HOSTS }, (_, h) => ({ host: `h${h}`, max: maxOf(h) }))
      .sort((a, b) => b.max - a.max || (a.host < b.host ? -1 : 1))
      .slice(0, 3);
    assert.deepEqual(
      top.groups!.map((g) => [g.tags.host, g.values['max(v)']]),
      want.map((w) => [w.host, w.max]),
    );
    const newest = await lc.queryMeasure({ ...q, order: 'desc', limit: 3, timeout_ms: 120_000 });
    assert.deepEqual(
      newest.rows!.map((r) => r.ts),
      [0, 0, 0].map(() => T0 + (STEPS - 1) * STEP_MS),
    );
  });

  it('node - a budget below the minimum is refused before anything starts, naming the bound', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'node', '--name', 'b1', '--role', 'data', '--query-budget-rows', '10'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await exitWithin(new Promise((r) => child.once('exit', (code) => r({ code }))), 15_000, 'bad budget');
    assert.equal(code, 2);
    assert.ok(stderr.includes(`at least ${MIN_QUERY_BUDGET_ROWS} (got 10)`), stderr);
  });
});
