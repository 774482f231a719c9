/**
 * Replacing a dead data node (1 liaison, 3 data nodes, 1 claimer; real processes): a group kept on
 * d1 and d2 with two replicas loses d2 to SIGKILL; a placement migration moves it to d1 and d3
 * while writes go on, from the surviving replica, and every point is read back exactly once from
 * the new placement, where each shard has two live owners again.
 */
import assert from 'node:assert/strict';
import type { WritePoint, WriteReply } from '../../transport/api_types.js';
import type { Layout } from '../../transport/layout_types.js';
import type { MigrationStatus, PlanReply } from '../../transport/migration_types.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';
import type { StoredResource } from '../../transport/schema_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { TestCluster } from '../harness/cluster.js';
import { daysAgo } from '../harness/days.js';
import { waitFor } from '../harness/wait.js';

const S = subjectsFor();
const T0 = daysAgo(2);
const HOSTS = 30;
const G = 'ha';

describe('placement migration off a dead data node (1 liaison, 3 data nodes, 1 claimer)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  const keys: string[] = [];
  const tokens: WriteToken[] = [];
  let ts = T0;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 3, claimers: 1 });
    await c.createGroup(G, { shards: 2, replicas: 2, placement: { data_nodes: ['d1', 'd2'] } });
    const m = await c.createMeasure(G, 'cpu');
    assert.ok(await c.measureApplied(G, 'cpu', m.revision), 'every node applied the schema');
  });
  after(async () => c?.stop());

  const write = async () => {
    ts += 60_000;
    const points: WritePoint[] = Array.from({ length: HOSTS }, (_, h) => ({
      tags: { host: `h${h}` },
      fields: { value: h },
      ts,
    }));
    const r = await c.api<WriteReply>(S.api.write('measure'), { group: G, name: 'cpu', points }, 10_000);
    for (let h = 0; h < HOSTS; h++) keys.push(`h${h}@${ts}`);
    tokens.push(r.write_token);
  };
  const readsExactly = async (what: string) => {
    const r = await c.api<QueryReply<MeasureRow>>(
      S.api.query('measure'),
      { group: G, name: 'cpu', from: T0, to: T0 + 86_400_000, limit: 100_000, write_token: mergeTokens(G, tokens) },
      10_000,
    );
    const got = r.rows!.map((row) => `${String(row.tags.host)}@${row.ts}`).sort();
    assert.deepEqual(got, [...keys].sort(), what);
  };
  /**
   * SIGKILLs a node and waits until queries are answered without it: a request the server routed
   * to the node in the instant it died would wait out its whole timeout (nothing retries it on the
   * other replica).
   */
  const killed = async (node: string) => {
    c.lc.kill(node, 'SIGKILL');
    await c.lc.nodes.get(node)!.exited;
    await waitFor(
      () =>
        c
          .api(S.api.query('measure'), { group: G, name: 'cpu', from: T0, to: T0 + 1, timeout_ms: 500 }, 1_000)
          .then(() => true)
          .catch(() => false),
      { timeoutMs: 10_000, what: `queries answered without ${node}` },
    );
  };
  const migration = <T>(verb: string, body: unknown) => c.api<T>(S.api.migration(verb as never), body, 15_000);

  it('placement - d2 is gone: the group moves to d1 and d3 from the surviving replica, losing nothing', async () => {
    for (let i = 0; i < 5; i++) await write();
    await killed('d2');
    await write(); // the surviving replica keeps the group writable and readable
    await readsExactly('with d2 gone');
    const spec = { targets: [G], change: { group: { placement: { data_nodes: ['d1', 'd3'] } } } };
    const plan = await migration<PlanReply>('plan', { spec });
    assert.deepEqual(
      plan.targets.map((t) => [t.kind, t.reason, t.rows_total]),
      [['rewrite', 'placement d1,d2 → d1,d3', keys.length]],
    );
    const { id } = await migration<MigrationStatus>('start', { spec });
    const done = await waitFor(
      async () => {
        await write();
        const s = await migration<MigrationStatus>('status', { id });
        return ['completed', 'failed', 'cancelled'].includes(s.state) && s;
      },
      { timeoutMs: 90_000, what: `migration ${id} to end` },
    );
    assert.equal(done.state, 'completed', `${done.headline}: ${done.operations[0]!.error}`);
    const layout = (await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: G })).resource as Layout;
    assert.deepEqual(layout.current.placement.data_nodes, ['d1', 'd3']);
    await write();
    await readsExactly('after the move');
    // Both new owners hold every shard: with d1 gone too, d3 alone answers every point.
    await killed('d1');
    await write();
    await readsExactly('from d3 alone');
  });
});
