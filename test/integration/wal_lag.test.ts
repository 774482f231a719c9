/**
 * WAL lag per shard (real processes): `lockstep_wal_lag{group, shard}` on the data node's /metrics
 * and `published` / `wal_lag` per shard in its `node actors` health. A data node whose schema
 * watcher is paused holds records of a measure it has not applied at its shard-side gate, so the
 * published sequence runs ahead of what it applied; once it resumes, the lag returns to 0.
 */
import type { WriteReply } from '../../transport/api_types.js';
import assert from 'node:assert/strict';
import { TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';
import { subjectsFor } from '../../transport/subjects.js';

const S = subjectsFor();
type ShardHealth = {
  shard: string;
  applied: number;
  flushed: number;
  published: number | null;
  wal_lag: number | null;
};
type Actors = { metrics_port: number; actors: { id: string; details: { shards?: ShardHealth[] } }[] };

describe('WAL lag per shard (1 liaison + 1 data node)', function () {
  this.timeout(90_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
    await c.createGroup('wl', { shards: 1 });
    const m = await c.createMeasure('wl', 'cpu');
    assert.equal((await c.barrier('applied', { keys: ['measure:wl/cpu'], min_revisions: [m.revision] })).applied, true);
  });
  after(async () => {
    await c?.stop();
  });

  const write = (name: string, i: number) =>
    c.api<WriteReply>(S.api.write('measure'), {
      group: 'wl',
      name,
      points: [{ ts: Date.now() - 1000, tags: { host: `h${i}` }, fields: { value: i } }],
    });
  const shardHealth = async () => {
    const a = await c.control<Actors>('d1', 'actors');
    return a.actors.find((x) => x.id === 'data_shard')!.details.shards!.find((s) => s.shard === 'wl/0')!;
  };
  const metricLag = async () => {
    const { metrics_port } = await c.control<Actors>('d1', 'actors');
    const text = await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text();
    const m = /^lockstep_wal_lag\{group="wl",shard="0"\} (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  };

  it('wal lag - grows on an owner held behind its gate, shows in /metrics and health, and returns to 0 once it catches up', async () => {
    const first = (await write('cpu', 0)).write_token.shards['0']!;
    // Caught up: the reading saw the write and the owner applied it.
    await waitFor(
      async () => {
        const h = await shardHealth();
        return h.published !== null && h.published >= first && h.wal_lag === 0;
      },
      { what: 'lag 0 after the first write' },
    );
    assert.equal(await metricLag(), 0);

    await c.control('d1', 'pause_watch');
    let held: number;
    try {
      // d1 has not applied `mem`: its records (and every later one of the shard) wait at the gate.
      await c.createMeasure('wl', 'mem');
      await write('mem', 1);
      held = (await write('cpu', 2)).write_token.shards['0']!;
      const h = await waitFor(
        async () => {
          const x = await shardHealth();
          return x.published !== null && x.published >= held && x.wal_lag! > 0 ? x : undefined;
        },
        { what: 'lag > 0 in health while d1 is held' },
      );
      assert.ok(h.applied < held, `applied ${h.applied} is behind ${held}`);
      assert.equal(h.wal_lag, h.published! - h.applied);
      // The bus reads a subject's last sequence straight from the stream (0 for a subject never written).
      assert.equal(await c.bus.lastSequence(S.walStream, S.wal('wl', 0)), held);
      assert.equal(await c.bus.lastSequence(S.walStream, S.wal('wl', 7)), 0);
      await waitFor(async () => ((await metricLag()) ?? 0) > 0, { what: 'lag > 0 in /metrics' });
    } finally {
      await c.control('d1', 'resume_watch');
    }

    const caughtUp = await waitFor(
      async () => {
        const x = await shardHealth();
        return x.applied >= held && x.wal_lag === 0 ? x : undefined;
      },
      { what: 'lag back to 0 once d1 applied the schema' },
    );
    assert.ok(caughtUp.published! >= held);
    await waitFor(async () => (await metricLag()) === 0, { what: '/metrics lag back to 0' });
  });
});
