/**
 * Queries on a cluster of separate processes (2 liaisons + 2 data nodes, real nats-server): read
 * your writes; a shard with no live owner is `Unavailable` naming it unless `allow_partial`;
 * writes acknowledged while every data node is down are queryable once one returns; a data node
 * killed with SIGKILL while a writer streams serves every acknowledged point exactly once after a
 * restart, and never a refused one; the query gates and their counters.
 */
import type { WriteReply } from '../../transport/api_types.js';
import assert from 'node:assert/strict';
import { TestCluster } from '../harness/cluster.js';
import { hostValueMeasure } from '../harness/fixtures.js';
import { exitWithin, waitFor } from '../harness/wait.js';
import { headerOf } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { SHARD_PAGE_HEADER } from '../../storage/query/page.js';
import { ownersOf, placementSpecOf } from '../../storage/placement.js';
import { shardOfSeries } from '../../storage/routing.js';
import type { LockstepError } from '../../transport/errors.js';
import type { Group as GroupResource } from '../../transport/schema_types.js';
import { call, unwrapReply } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';

const S = subjectsFor();
type Token = WriteReply['write_token'];
type Group = { resource: GroupResource };

describe('queries on a cluster (2 liaisons + 2 data nodes)', function () {
  this.timeout(180_000);
  let c: TestCluster;
  const now = Date.now();
  const SHARDS = 8;

  const write = (
    group: string,
    points: { ts: number; tags: { host: string }; fields: Record<string, unknown> }[],
    extra: Record<string, unknown> = {},
  ) => c.api<WriteReply>(S.api.write('measure'), { group, name: 'cpu', points, ...extra }, 10_000);
  const query = (group: string, q: Record<string, unknown> = {}) =>
    c.api<QueryReply<MeasureRow>>(
      S.api.query('measure'),
      { group, name: 'cpu', from: now - 3_600_000, to: now + 60_000, limit: 100_000, ...q },
      20_000,
    );
  const mergeToken = (a: Token | undefined, b: Token): Token => {
    const shards = { ...(a?.shards ?? {}) };
    for (const [s, seq] of Object.entries(b.shards)) shards[s] = Math.max(shards[s] ?? 0, seq);
    return { group: b.group, shards };
  };
  async function restart(node: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    c.lc.kill(node, signal);
    await c.lc.nodes.get(node)!.exited;
    c.lc.spawnNode(node, ['data']);
    await c.lc.waitReady(node);
  }

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2, nodeArgs: ['--schema-wait', '800ms'] });
    // A liaison that never waits: whatever it accepts needed no wait.
    c.lc.spawnNode('l2', ['liaison'], ['--schema-wait', '0ms']);
    await c.lc.waitReady('l2');
    for (const [g, replicas] of [
      ['q1', 1],
      ['q2', 2],
      ['q3', 1],
    ] as const) {
      await c.createGroup(g, { shards: SHARDS, replicas, placement: { data_nodes: ['d1', 'd2'] } });
      const m = await c.createMeasure(g, 'cpu');
      assert.equal(await c.measureApplied(g, 'cpu', m.revision), true);
    }
    // Four shards on two nodes: balanced placement puts two on each.
    await c.createGroup('q4', { shards: 4, placement: { data_nodes: ['d1', 'd2'] } });
    const m = await c.createMeasure('q4', 'cpu');
    assert.equal(await c.measureApplied('q4', 'cpu', m.revision), true);
  });
  after(async () => {
    await c?.stop();
  });

  it('read your writes - after barrier applied at R, a write carrying R is accepted by every liaison without waiting and a query with its token sees it', async () => {
    const m = await c.createMeasure('q1', 'fresh');
    assert.equal(await c.measureApplied('q1', 'fresh', m.revision), true);
    for (let i = 0; i < 20; i++) {
      const host = `ryw${i}`;
      const w = await c.api<WriteReply>(S.api.write('measure'), {
        group: 'q1',
        name: 'fresh',
        schema_revision: m.revision,
        points: [{ ts: now - i, tags: { host }, fields: { value: i } }],
      });
      const r = await c.api<QueryReply<MeasureRow>>(S.api.query('measure'), {
        group: 'q1',
        name: 'fresh',
        schema_revision: m.revision,
        from: now - 60_000,
        to: now + 1,
        criteria: { tag: 'host', op: 'eq', value: host },
        write_token: w.write_token,
      });
      assert.deepEqual(r.rows, [{ ts: now - i, tags: { host }, fields: { value: i } }]);
    }
  });

  it('unavailable - a shard whose only owner is down fails the query naming it; allow_partial answers from the others', async () => {
    const g = await c.api<Group>(S.api.schema('group', 'get'), { group: 'q1', name: 'q1' });
    const spec = placementSpecOf(g.resource)!;
    const onD2 = Array.from({ length: SHARDS }, (_, s) => s).filter((s) => ownersOf(spec, s)[0] === 'd2');
    assert.ok(onD2.length > 0 && onD2.length < SHARDS, `d2 owns some but not all shards of q1: ${onD2}`);
    let token: Token | undefined;
    const points = Array.from({ length: 40 }, (_, i) => ({
      ts: now - 1000,
      tags: { host: `u${i}` },
      fields: { value: i },
    }));
    token = mergeToken(token, (await write('q1', points)).write_token);
    c.lc.kill('d2', 'SIGTERM');
    assert.equal(await exitWithin(c.lc.nodes.get('d2')!.exited, 20_000, 'd2'), 0);
    await assert.rejects(query('q1'), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'Unavailable');
      const named = onD2.map((s) => `q1/${s}`).join(', ');
      assert.match(e.message!, new RegExp(`shards ${named} \\(owners: d2\\) have no live owner`));
      return true;
    });
    const partial = await query('q1', {
      allow_partial: true,
      criteria: { tag: 'host', op: 'in', value: points.map((p) => p.tags.host) },
    });
    assert.deepEqual(partial.missing_shards, onD2);
    assert.ok(
      partial.rows!.length > 0 && partial.rows!.length < points.length,
      `some rows, not all: ${partial.rows!.length}`,
    );
    // A query naming its series asks only their shards: whole while those shards are live, and
    // Unavailable naming only the down shard of a series it names.
    const shardOf = (host: string) => shardOfSeries('cpu', JSON.stringify([host]), SHARDS);
    const live = points.map((p) => p.tags.host).filter((h) => !onD2.includes(shardOf(h)));
    const pinned = await query('q1', { criteria: { tag: 'host', op: 'in', value: live } });
    assert.equal(pinned.rows!.length, live.length);
    assert.deepEqual(pinned.missing_shards, []);
    const down = points.map((p) => p.tags.host).find((h) => onD2.includes(shardOf(h)))!;
    await assert.rejects(query('q1', { criteria: { tag: 'host', op: 'eq', value: down } }), (e: LockstepError) => {
      assert.equal(e.code, 'Unavailable');
      assert.match(e.message, new RegExp(`^shard q1/${shardOf(down)} \\(owners: d2\\) has no live owner`));
      return true;
    });
    // Writes keep being acknowledged meanwhile; once d2 is back, everything is there.
    const more = points.map((p) => ({ ...p, ts: now - 500 }));
    token = mergeToken(token, (await write('q1', more)).write_token);
    c.lc.spawnNode('d2', ['data']);
    await c.lc.waitReady('d2');
    const full = await query('q1', {
      write_token: token,
      criteria: { tag: 'host', op: 'in', value: points.map((p) => p.tags.host) },
    });
    assert.equal(full.rows!.length, 80);
    assert.deepEqual(full.missing_shards, []);
  });

  it('unavailable - every shard without a live owner is named, in the message and the details', async () => {
    const g = await c.api<Group>(S.api.schema('group', 'get'), { group: 'q4' });
    assert.equal(g.resource.placement?.strategy, 'balanced');
    const spec = placementSpecOf(g.resource)!;
    const onD2 = [0, 1, 2, 3].filter((s) => ownersOf(spec, s)[0] === 'd2');
    assert.equal(onD2.length, 2, `two of q4's four shards on d2: ${onD2}`);
    c.lc.kill('d2', 'SIGTERM');
    assert.equal(await exitWithin(c.lc.nodes.get('d2')!.exited, 20_000, 'd2'), 0);
    try {
      await assert.rejects(query('q4'), (e: LockstepError) => {
        assert.equal(e.code, 'Unavailable');
        assert.match(e.message, new RegExp(`^shards q4/${onD2[0]}, q4/${onD2[1]} \\(owners: d2\\) have no live owner`));
        assert.deepEqual(e.details, {
          group: 'q4',
          shards: onD2,
          owners: Object.fromEntries(onD2.map((s) => [String(s), ['d2']])),
        });
        return true;
      });
    } finally {
      c.lc.spawnNode('d2', ['data']);
      await c.lc.waitReady('d2');
    }
  });

  it("forwarded - a one-series query goes from the liaison straight to its shard's owner; once that is gone, Unavailable, naming the shard within a second", async () => {
    const g = await c.api<Group>(S.api.schema('group', 'get'), { group: 'q1' });
    const spec = placementSpecOf(g.resource)!;
    const shardOf = (host: string) => shardOfSeries('cpu', JSON.stringify([host]), SHARDS);
    const host = Array.from({ length: 100 }, (_, i) => `fw${i}`).find((h) => ownersOf(spec, shardOf(h))[0] === 'd2')!;
    const token = (await write('q1', [{ ts: now - 100, tags: { host }, fields: { value: 7 } }])).write_token;
    const q = {
      group: 'q1',
      name: 'cpu',
      from: now - 3_600_000,
      to: now + 60_000,
      criteria: { tag: 'host', op: 'eq', value: host },
    };
    await query('q1', { ...q, write_token: token });
    // Answered by d2 itself (its page header) once each liaison has seen d2 answer pages.
    const forwarded = await waitFor(
      async () => {
        const m = await c.bus.request(S.api.query('measure'), encode(q), { timeoutMs: 10_000 });
        return headerOf(m.headers, SHARD_PAGE_HEADER) ? m : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 0, what: 'a reply from the shard owner' },
    );
    assert.deepEqual((decode(forwarded.data) as QueryReply<MeasureRow>).rows, [
      { ts: now - 100, tags: { host }, fields: { value: 7 } },
    ]);
    // Queries keep coming while d2 is killed: those forwarded after it died find nobody, which only
    // the liaison's probe learns; every one is answered at once, Unavailable naming the shard.
    const named = new RegExp(`^shard q1/${shardOf(host)} \\(owners: d2\\) has no live owner`);
    let killedAt = 0;
    const outcomes: string[] = [];
    const ask = async () => {
      try {
        const m = await c.bus.request(S.api.query('measure'), encode(q), { timeoutMs: 3_000 });
        unwrapReply(m, 'msgpack');
        return 'rows';
      } catch (err) {
        const e = err as LockstepError;
        return e.code === 'Unavailable' && named.test(e.message) ? 'named' : `${e.code}: ${e.message}`;
      }
    };
    try {
      for (let i = 0; killedAt === 0 || Date.now() - killedAt < 2_000; i++) {
        if (i === 50) {
          c.lc.kill('d2', 'SIGKILL');
          await c.lc.nodes.get('d2')!.exited;
          killedAt = Date.now();
        }
        outcomes.push(await ask());
        assert.ok(i < 100_000);
      }
      const after = outcomes.slice(50);
      assert.deepEqual(
        after.filter((o) => o !== 'named'),
        [],
        `after the kill every answer names the shard (${after.length} answers)`,
      );
    } finally {
      c.lc.spawnNode('d2', ['data']);
      await c.lc.waitReady('d2');
    }
  });

  it('availability - writes acknowledged while every data node is down become queryable once one returns (replicas 2)', async () => {
    for (const n of ['d1', 'd2']) c.lc.kill(n, 'SIGTERM');
    for (const n of ['d1', 'd2']) assert.equal(await exitWithin(c.lc.nodes.get(n)!.exited, 20_000, n), 0);
    let token: Token | undefined;
    const expected = new Map<string, number>();
    for (let b = 0; b < 5; b++) {
      const points = Array.from({ length: 50 }, (_, i) => ({
        ts: now - 2000 + b,
        tags: { host: `a${i}` },
        fields: { value: b * 100 + i },
      }));
      token = mergeToken(token, (await write('q2', points)).write_token);
      for (const p of points) expected.set(`${p.tags.host}@${p.ts}`, p.fields.value);
    }
    await assert.rejects(query('q2'), (e: { code?: string }) => e.code === 'Unavailable');
    c.lc.spawnNode('d1', ['data']);
    await c.lc.waitReady('d1');
    const r = await query('q2', { write_token: token });
    assert.deepEqual(r.missing_shards, []);
    assert.deepEqual(new Map(r.rows!.map((x) => [`${x.tags.host}@${x.ts}`, x.fields.value])), expected);
    c.lc.spawnNode('d2', ['data']);
    await c.lc.waitReady('d2');
  });

  it('durability - SIGKILL a data node while a writer streams; after a restart every acknowledged point is queryable exactly once, no refused one', async () => {
    const acked = new Map<string, number>();
    let token: Token | undefined;
    let refused = 0;
    for (let b = 0; b < 24; b++) {
      const points = Array.from({ length: 200 }, (_, i) => ({
        ts: now - 10_000 + b,
        tags: { host: `k${i}` },
        fields: { value: b * 1000 + i } as Record<string, unknown>,
      }));
      if (b % 6 === 5) {
        // A batch with one bad point is refused whole: none of its points may ever appear.
        points[17]!.fields = { value: 'NaN' };
        await assert.rejects(
          write(
            'q3',
            points.map((p) => ({ ...p, tags: { host: `refused${p.tags.host}` } })),
          ),
          (e: { code?: string }) => e.code === 'InvalidArgument',
        );
        refused++;
        continue;
      }
      token = mergeToken(token, (await write('q3', points)).write_token);
      for (const p of points) acked.set(`${p.tags.host}@${p.ts}`, p.fields.value as number);
      if (b === 9) c.lc.kill('d1', 'SIGKILL');
    }
    assert.equal(refused, 4);
    await c.lc.nodes.get('d1')!.exited;
    c.lc.spawnNode('d1', ['data']);
    await c.lc.waitReady('d1');
    const r = await query('q3', { write_token: token });
    assert.equal(r.rows!.length, acked.size, 'every acknowledged point once');
    assert.deepEqual(new Map(r.rows!.map((x) => [`${x.tags.host}@${x.ts}`, x.fields.value])), acked);
    // And again after a clean restart (everything now comes from parts on disk).
    await restart('d1');
    await restart('d2');
    const again = await query('q3', { write_token: token });
    assert.deepEqual(again.rows, r.rows);
  });

  it('gates - queries: an older schema_revision is ExpiredSchema, a newer one SchemaNotApplied after the budget (succeeds if the watcher catches up), counted with rpc="query"', async () => {
    const upd = await c.api<{ revision: number }>(S.api.schema('measure', 'update'), {
      resource: {
        ...hostValueMeasure('q1', 'cpu'),
        fields: [
          { name: 'value', type: 'float' },
          { name: 'extra', type: 'int' },
        ],
      },
    });
    assert.equal(await c.measureApplied('q1', 'cpu', upd.revision), true);
    await assert.rejects(
      query('q1', { schema_revision: upd.revision - 1 }),
      (e: { code?: string }) => e.code === 'ExpiredSchema',
    );
    assert.deepEqual((await query('q1', { schema_revision: upd.revision, limit: 1 })).schema_revision, upd.revision);
    // From here on l1 (800 ms budget) is the only liaison.
    c.lc.kill('l2', 'SIGTERM');
    await c.lc.nodes.get('l2')!.exited;
    await c.control('l1', 'pause_watch');
    try {
      const m = await c.createMeasure('q1', 'late');
      const body = { group: 'q1', name: 'late', schema_revision: m.revision, from: now - 1000, to: now };
      const t0 = Date.now();
      await assert.rejects(
        c.api(S.api.query('measure'), body, 10_000),
        (e: { code?: string }) => e.code === 'SchemaNotApplied',
      );
      assert.ok(Date.now() - t0 >= 700, 'it waited for the budget first');
      const pending = call<QueryReply>(c.bus, S.api.query('measure'), body, { timeoutMs: 10_000 });
      await c.control('l1', 'resume_watch');
      assert.deepEqual((await pending).rows, []);
    } finally {
      await c.control('l1', 'resume_watch');
    }
    const { metrics_port } = await c.control<{ metrics_port: number }>('l1', 'actors');
    const text = await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text();
    assert.match(
      text,
      /schema_status_schema_not_applied_total\{rpc="query",group="q1",reason="revision_ahead"\} [1-9]/,
    );
    assert.match(text, /lockstep_query_duration_seconds_count\{kind="measure",result="ok"\} [1-9]/);
  });
});
