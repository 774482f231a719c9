/**
 * Golden query cases (test/cases/<case>/*.json) on a standalone node and on a cluster of 1 liaison + 3
 * data nodes (separate processes, real nats-server): both give exactly the expected answers, so
 * they agree.
 */
import assert from 'node:assert/strict';
import { TestCluster } from '../harness/cluster.js';
import { goldenCases, loadCase, runQuery } from '../harness/golden.js';

const CASES = goldenCases();

const ENVIRONMENTS: { name: string; start: () => Promise<{ c: TestCluster; dataNodes: string[] }> }[] = [
  {
    name: 'standalone node',
    start: async () => {
      const c = await TestCluster.start({ liaisons: 0, dataNodes: 0 });
      c.lc.spawnNode('s1', ['standalone']);
      await c.lc.waitReady('s1');
      return { c, dataNodes: ['s1'] };
    },
  },
  {
    name: 'cluster of 1 liaison + 3 data nodes',
    start: async () => ({ c: await TestCluster.start({ liaisons: 1, dataNodes: 3 }), dataNodes: ['d1', 'd2', 'd3'] }),
  },
];

for (const env of ENVIRONMENTS) {
  describe(`golden query cases — ${env.name}`, function () {
    this.timeout(120_000);
    let c: TestCluster | undefined;
    const tokens = new Map<string, { group: string; shards: Record<string, number> }>();

    before(async () => {
      const started = await env.start();
      c = started.c;
      for (const gc of CASES) tokens.set(gc.name, await loadCase(c, gc, started.dataNodes));
    });
    after(async () => {
      await c?.stop();
    });

    for (const gc of CASES) {
      for (const q of gc.queries) {
        it(`query - ${gc.name}/${q.file}: ${q.name}`, async () => {
          const got = await runQuery(c!, gc, q.query, tokens.get(gc.name)!);
          assert.deepEqual(got, q.expect);
        });
      }
    }
  });
}
