/**
 * The schema barrier on a real cluster: 2 liaisons + 3 data nodes, each a separate process on a
 * real nats-server. Pausing a node's watch is how a test makes it lag on purpose.
 */
import assert from 'node:assert/strict';
import { TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';
import { subjectsFor } from '../../transport/subjects.js';

const S = subjectsFor();

describe('cluster barrier (2 liaisons + 3 data nodes)', function () {
  this.timeout(120_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 2, dataNodes: 3 });
  });
  after(async () => {
    await c?.stop();
  });

  it('barrier - revision, applied and deleted converge with no laggards', async () => {
    await c.createGroup('g1');
    const m = await c.createMeasure('g1', 'cpu');
    const rev = await c.barrier('revision', { min_revision: m.revision });
    assert.deepEqual(rev, { applied: true, laggards: [] });
    const app = await c.barrier('applied', { keys: ['measure:g1/cpu'], min_revisions: [m.revision] });
    assert.deepEqual(app, { applied: true, laggards: [] });
    const d = await c.deleteMeasure('g1', 'cpu');
    assert.ok(d.revision > m.revision);
    const del = await c.barrier('deleted', { keys: ['measure:g1/cpu'] });
    assert.deepEqual(del, { applied: true, laggards: [] });
  });

  it('placement - a new group is placed on the data nodes the liaison sees, and keeps that placement', async () => {
    await c.createGroup('g_placed');
    type Got = { resource: { placement?: { data_nodes: string[]; strategy?: string } }; mod_revision: number };
    const got = await c.api<Got>(S.api.schema('group', 'get'), { group: 'g_placed' });
    assert.deepEqual(got.resource.placement, { data_nodes: ['d1', 'd2', 'd3'], strategy: 'balanced' });
    // An update that names no placement keeps it; one that changes it needs a migration.
    const base = { name: 'g_placed', catalog: 'measure', shards: 2, segment_interval: '1d' };
    await c.api(S.api.schema('group', 'update'), { resource: { ...base, ttl: '30d' } });
    assert.deepEqual((await c.api<Got>(S.api.schema('group', 'get'), { group: 'g_placed' })).resource.placement, {
      data_nodes: ['d1', 'd2', 'd3'],
      strategy: 'balanced',
    });
    await assert.rejects(
      c.api(S.api.schema('group', 'update'), { resource: { ...base, ttl: '30d', placement: { data_nodes: ['d1'] } } }),
      (e: { code?: string; message?: string }) =>
        e.code === 'FailedPrecondition' && /placement .*migration/.test(e.message ?? ''),
    );
  });

  it('barrier - after applied for k at R, every liaison has k at ≥ R at once', async () => {
    await c.createGroup('g_seen');
    const m = await c.createMeasure('g_seen', 'mem');
    const app = await c.barrier('applied', { keys: ['measure:g_seen/mem'], min_revisions: [m.revision] });
    assert.equal(app.applied, true);
    // Each liaison's own applied view (what its gates read), asked without any wait.
    for (const l of ['l1', 'l2']) {
      const st = await c.status<{ keys: { present: boolean; mod_revision: number }[] }>(l, 'key_revisions', {
        keys: ['measure:g_seen/mem'],
      });
      assert.deepEqual(st.keys[0], { present: true, mod_revision: m.revision });
    }
    // And the view each liaison's API actor keeps (what its gates read).
    for (const l of ['l1', 'l2']) {
      type Actors = { actors: { id: string; details: { schema_revision?: number } }[] };
      const a = await c.control<Actors>(l, 'actors');
      assert.ok(a.actors.find((x) => x.id === 'api')!.details.schema_revision! >= m.revision, `${l} api view`);
    }
    // And the schema API (queue group: each request goes to either liaison).
    for (let i = 0; i < 10; i++) {
      const got = await c.api<{ mod_revision: number }>(S.api.schema('measure', 'get'), {
        group: 'g_seen',
        name: 'mem',
      });
      assert.ok(got.mod_revision >= m.revision);
    }
  });

  for (const [node, label] of [
    ['l2', 'liaison-l2'],
    ['d2', 'data-d2'],
  ] as const) {
    it(`barrier - a paused ${label} is the only laggard of revision, applied and deleted, then converges`, async () => {
      const g = `gp_${node}`;
      await c.createGroup(g);
      const base = await c.createMeasure(g, 'base');
      assert.equal((await c.barrier('revision', { min_revision: base.revision })).applied, true);

      await c.control(node, 'pause_watch');
      try {
        const m = await c.createMeasure(g, 'fresh');
        const rev = await c.barrier('revision', { min_revision: m.revision }, 800);
        assert.equal(rev.applied, false);
        assert.deepEqual(
          rev.laggards.map((l) => l.node),
          [label],
        );
        assert.equal(rev.laggards[0]!.current_revision, m.revision - 1);

        const app = await c.barrier('applied', { keys: [`measure:${g}/fresh`, `measure:${g}/base`] }, 800);
        assert.equal(app.applied, false);
        assert.deepEqual(
          app.laggards.map((l) => [l.node, l.missing_keys]),
          [[label, [`measure:${g}/fresh`]]],
        );

        const del = await c.deleteMeasure(g, 'base');
        const gone = await c.barrier('deleted', { keys: [`measure:${g}/base`, `measure:${g}/never`] }, 800);
        assert.equal(gone.applied, false);
        assert.deepEqual(
          gone.laggards.map((l) => [l.node, l.still_present_keys]),
          [[label, [`measure:${g}/base`]]],
        );

        // Two mutations while paused; resume converges at the later one.
        assert.ok(del.revision > m.revision);
      } finally {
        await c.control(node, 'resume_watch');
      }
      const last = await c.api<{ revision: number }>(S.api.schema('group', 'update'), {
        resource: { name: g, catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '14d' },
      });
      const after = await c.barrier('revision', { min_revision: last.revision });
      assert.deepEqual(after, { applied: true, laggards: [] });
      const st = await c.status<{ revision: number }>(node, 'max_revision');
      assert.ok(st.revision >= last.revision);
    });
  }

  it('barrier - two mutations while paused, then resume converges at the later revision', async () => {
    await c.createGroup('g_two');
    await c.control('d3', 'pause_watch');
    let second: { revision: number };
    try {
      const first = await c.createMeasure('g_two', 'a');
      second = await c.createMeasure('g_two', 'b');
      assert.ok(second.revision > first.revision);
      // The others apply both within moments (a loaded machine may need more than one round); the
      // paused node never does.
      const lag = await waitFor(
        async () => {
          const b = await c.barrier('revision', { min_revision: second.revision }, 500);
          return b.laggards.length === 1 ? b : undefined;
        },
        { timeoutMs: 15_000, what: 'only the paused node lagging' },
      );
      assert.deepEqual(
        lag.laggards.map((l) => l.node),
        ['data-d3'],
      );
    } finally {
      await c.control('d3', 'resume_watch');
    }
    const ok = await c.barrier('applied', {
      keys: ['measure:g_two/a', 'measure:g_two/b'],
      min_revisions: [0, second.revision],
    });
    assert.deepEqual(ok, { applied: true, laggards: [] });
  });

  it('barrier - 10 001 keys is InvalidArgument before any probe; 10 000 keys is answered', async () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `measure:g1/k${i}`);
    await assert.rejects(
      c.barrier('applied', { keys: keys(10_001) }, 500),
      (e: { code?: string }) => e.code === 'InvalidArgument',
    );
    const r = await c.barrier('deleted', { keys: keys(10_000) }, 3000);
    assert.deepEqual(r, { applied: true, laggards: [] });
  });

  it('barrier - a huge laggard report stays deliverable: key lists are capped and counted', async () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `measure:g1/a_rather_long_measure_name_for_size_${i}`);
    const r = await c.barrier('applied', { keys }, 500);
    assert.equal(r.applied, false);
    assert.equal(r.laggards.length, 5);
    for (const l of r.laggards) {
      assert.equal(l.missing_keys!.length, 1000);
      assert.equal((l as { keys_not_listed?: number }).keys_not_listed, 9000);
    }
  });

  it('runtime - a restarted actor gets the schema it missed before the node counts it as applied', async () => {
    await c.createGroup('g_restart');
    type Actors = {
      actors: { id: string; restarts: number; restarting: boolean; details: { schema_revision?: number } }[];
    };
    await c.injectFault('l2', { actor: 'api', phase: 'crash', kind: 'transient' });
    // Mutate while the api actor is down (a request it held when it crashed would be lost).
    await waitFor(
      async () => (await c.control<Actors>('l2', 'actors')).actors.find((x) => x.id === 'api')!.restarting,
      {
        intervalMs: 5,
        what: 'the api actor of l2 is down',
      },
    );
    const m = await c.createMeasure('g_restart', 'while_down');
    const ok = await c.barrier(
      'applied',
      { keys: ['measure:g_restart/while_down'], min_revisions: [m.revision] },
      15_000,
    );
    assert.deepEqual(ok, { applied: true, laggards: [] });
    const api = (await c.control<Actors>('l2', 'actors')).actors.find((x) => x.id === 'api')!;
    assert.equal(api.restarts, 1);
    assert.ok(api.details.schema_revision! >= m.revision, 'the restarted api actor holds the measure');
  });

  it('barrier - a transient apply failure holds the node back until it clears', async () => {
    await c.createGroup('g_fault');
    await c.injectFault('d1', { actor: 'data_shard', phase: 'apply', kind: 'transient' });
    let m: { revision: number };
    try {
      m = await c.createMeasure('g_fault', 'cpu');
      const lag = await c.barrier('revision', { min_revision: m.revision }, 800);
      assert.equal(lag.applied, false);
      assert.deepEqual(
        lag.laggards.map((l) => l.node),
        ['data-d1'],
      );
      assert.ok(lag.laggards[0]!.current_revision! < m.revision);
      const app = await c.barrier('applied', { keys: ['measure:g_fault/cpu'] }, 500);
      assert.deepEqual(
        app.laggards.map((l) => [l.node, l.missing_keys]),
        [['data-d1', ['measure:g_fault/cpu']]],
      );
    } finally {
      await c.control('d1', 'clear_fault');
    }
    const ok = await c.barrier('revision', { min_revision: m.revision });
    assert.deepEqual(ok, { applied: true, laggards: [] });
  });

  it('runtime - actors run on worker threads; a crashed actor is restarted', async () => {
    type Actors = { actors: { id: string; threadId: number; lifecycle: string; restarts: number }[] };
    const before = await c.control<Actors>('l1', 'actors');
    const ids = before.actors.map((a) => a.threadId);
    assert.deepEqual(before.actors.map((a) => a.id).sort(), ['api', 'barrier', 'schema_watcher']);
    assert.ok(
      ids.every((t) => t > 0),
      `every actor off the main thread: ${ids}`,
    );
    assert.equal(new Set(ids).size, ids.length, 'one thread per actor');

    await c.injectFault('l1', { actor: 'barrier', phase: 'crash', kind: 'transient' });
    const after = await waitFor(
      async () => {
        const a = await c.control<Actors>('l1', 'actors');
        const b = a.actors.find((x) => x.id === 'barrier')!;
        return b.restarts === 1 && b.lifecycle === 'running' ? b : undefined;
      },
      { timeoutMs: 15_000, what: 'barrier actor restarted' },
    );
    assert.notEqual(after.threadId, before.actors.find((a) => a.id === 'barrier')!.threadId);
    const g = await c.createGroup('g_after_crash');
    assert.equal((await c.barrier('revision', { min_revision: g.revision })).applied, true);
  });
});
