/**
 * Unit tests of one barrier call (actors/barrier/scatter.ts) as its members change, with fake
 * probes, hand-driven member signals and a fake clock: no NATS. Invariants: a member's advance
 * event converges or re-probes it at once; an evicted member is reported exactly once and the call
 * can still end applied; a graceful leave is dropped silently; members joining later are not
 * watched; an abort answers applied false with the laggards; the snapshot of members to watch
 * keeps the Active ones with a schema cache, plus self, and an empty one is Unavailable.
 */
import assert from 'node:assert/strict';
import { MemberTable, type Heartbeat } from '../../runtime/membership.js';
import type { Role } from '../../runtime/roles.js';
import { Code } from '../../transport/errors.js';
import {
  EVICTED_REASON,
  freezeSnapshot,
  MemberSignalHub,
  parseBarrierRequest,
  scatter,
} from '../../actors/barrier/index.js';
import { assertCode, FakeCluster, member, start, startWatched } from '../harness/barrier_fakes.js';
import { FakeClock } from '../harness/fake_clock.js';

describe('barrier scatter', () => {
  it('barrier - a revision call converges a member on its advance event, without another probe', async () => {
    const c = new FakeCluster();
    const a = c.add('a', { revision: 3 });
    const b = c.add('b', { revision: 9 });
    const { p, clock, signals } = startWatched(c, 'revision', { min_revision: 5, timeout_ms: 10_000 }, ['a', 'b']);
    await clock.advance(10);
    assert.equal(a.calls.length, 1);
    signals.emit({ type: 'advance', node: 'a', revision: 4 }); // Below the target: still lagging.
    await clock.advance(10);
    signals.emit({ type: 'advance', node: 'a', revision: 5 });
    await clock.advance(10);
    assert.deepEqual(await p, { applied: true, laggards: [], laggardMembers: [] });
    assert.equal(a.calls.length, 1, 'the event itself carries the applied revision');
    assert.equal(b.calls.length, 1);
    assert.equal(clock.monotonic(), 30);
  });

  it('barrier - a key call re-probes a member at once on its advance event, before the fallback poll', async () => {
    const c = new FakeCluster();
    const a = c.add('a', { revision: 3 });
    const { p, clock, signals } = startWatched(c, 'applied', { keys: ['measure:g/m'], timeout_ms: 10_000 }, ['a']);
    await clock.advance(10);
    assert.equal(a.calls.length, 1);
    a.keys.set('measure:g/m', { present: true, mod_revision: 4 });
    signals.emit({ type: 'advance', node: 'a', revision: 4 });
    await clock.advance(10);
    assert.deepEqual(await p, { applied: true, laggards: [], laggardMembers: [] });
    assert.equal(a.calls.length, 2);
    assert.equal(clock.monotonic(), 20);
  });

  it('barrier - events during an in-flight probe coalesce into one re-probe after it', async () => {
    const c = new FakeCluster();
    const a = c.add('a', { revision: 3 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const probe = c.probe;
    // The first answer (key missing) is held back until the events below have arrived.
    c.probe = async (...args) => {
      const reply = await probe(...args);
      await gate;
      return reply;
    };
    const { p, clock, signals } = startWatched(c, 'applied', { keys: ['measure:g/m'], timeout_ms: 10_000 }, ['a']);
    await clock.advance(10);
    a.keys.set('measure:g/m', { present: true, mod_revision: 5 });
    for (let i = 0; i < 3; i++) signals.emit({ type: 'advance', node: 'a', revision: 5 });
    release();
    await clock.advance(10);
    assert.equal((await p).applied, true);
    assert.equal(a.calls.length, 2, 'one probe in flight, then exactly one re-probe');
  });

  it('barrier - evicted member is reported once and the call can still end applied', async () => {
    const clock = new FakeClock();
    const table = new MemberTable(clock, { heartbeatIntervalMs: 100, evictableAfterMs: 400, goneAfterMs: 2000 });
    const hb = (name: string, roles: Role[] = ['data']): Heartbeat => ({
      name,
      roles,
      state: 'active',
      schema_cache: true,
      pid: 1,
      started_at: 0,
    });
    for (const n of ['a', 'b', 'c']) table.observe(hb(n));
    const hub = new MemberSignalHub(table, 'self');
    const members = freezeSnapshot(table, { name: 'self', roles: ['liaison'] });
    assert.deepEqual(
      members.map((m) => m.label),
      ['data-a', 'data-b', 'data-c', 'liaison-self'],
    );
    const c = new FakeCluster();
    c.add('self', { revision: 5 });
    c.add('a', { revision: 5 });
    const silent = c.add('b', { revision: 1 });
    const slow = c.add('c', { revision: 1 });
    const p = start(
      c,
      'revision',
      { min_revision: 5, timeout_ms: 10_000 },
      { members, clock, signals: hub, pollMs: 200 },
    );
    // a and c keep beating; b goes silent, turns Evictable at 400 ms, then gone at 2000 ms.
    for (let t = 0; t < 2100; t += 100) {
      table.observe(hb('a'));
      table.observe(hb('c'));
      table.tick();
      await clock.advance(100);
    }
    assert.equal(table.get('b'), undefined, 'b is gone by now');
    const probesOfB = silent.calls.length;
    slow.revision = 5;
    hub.advance('c', 5);
    const out = await p;
    assert.equal(out.applied, true);
    assert.deepEqual(out.laggards, [{ node: 'data-b', reason: EVICTED_REASON }]);
    assert.deepEqual(
      out.laggardMembers.map((m) => m.name),
      ['b'],
    );
    assert.ok(probesOfB <= 3, `b was dropped from later rounds (${probesOfB} probes)`);
    assert.equal(hub.listenerCount, 0, 'the call unsubscribed');
    hub.close();
  });

  it('barrier - a member found Evictable when a round begins is dropped', async () => {
    const c = new FakeCluster();
    c.add('a', { revision: 5 });
    const b = c.add('b', { revision: 1 });
    const { p, clock, signals } = startWatched(c, 'revision', { min_revision: 5, timeout_ms: 10_000 }, ['a', 'b'], 200);
    await clock.advance(100);
    signals.states.set('b', 'evictable'); // No event: only the next round sees it.
    await clock.advance(200);
    assert.deepEqual((await p).laggards, [{ node: 'data-b', reason: EVICTED_REASON }]);
    assert.equal(b.calls.length, 1);
  });

  it('barrier - a member that already converged and then turns Evictable is still reported once', async () => {
    const c = new FakeCluster();
    const keys = ['measure:g/m'];
    const present = () => new Map([[keys[0]!, { present: true, mod_revision: 5 }]]);
    const a = c.add('a', { keys: present() }); // converges in round 1, then its heartbeats stop
    const b = c.add('b', { keys: present() }); // converges in round 1, found Evictable at a round start
    const l = c.add('l', { keys: present() }); // converges in round 1, then leaves gracefully
    const slow = c.add('slow'); // holds the call open until it applies the key
    const { p, clock, signals } = startWatched(
      c,
      'applied',
      { keys, timeout_ms: 10_000 },
      ['a', 'b', 'l', 'slow'],
      200,
    );
    let answered = false;
    void p.then(() => (answered = true));

    // Round 1 (t = 0): a, b and l converge; slow misses the key.
    await clock.advance(10);
    assert.deepEqual(
      [a, b, l, slow].map((n) => n.calls.length),
      [1, 1, 1, 1],
    );
    // a turns Evictable (event), then gone: one report however many signals arrive.
    signals.states.set('a', 'evictable');
    signals.emit({ type: 'evictable', node: 'a' });
    signals.states.set('a', 'absent');
    signals.emit({ type: 'gone', node: 'a' });
    // l leaves gracefully: silent, even when a later round finds it absent.
    signals.states.set('l', 'absent');
    signals.emit({ type: 'left', node: 'l' });
    // b turns Evictable without an event: only the next round (t = 200) can see it.
    signals.states.set('b', 'evictable');
    await clock.advance(200);
    assert.equal(answered, false, 'the call still waits on slow');
    assert.deepEqual(
      [a, b, l].map((n) => n.calls.length),
      [1, 1, 1],
      'converged members are watched for eviction, never probed again',
    );

    // Round 3 (t = 400): slow applied the key; the call ends applied and reports a and b once each.
    slow.keys = present();
    await clock.advance(200);
    assert.equal(answered, true, 'the call answered');
    const out = await p;
    assert.equal(out.applied, true);
    assert.deepEqual(out.laggards, [
      { node: 'data-a', reason: EVICTED_REASON },
      { node: 'data-b', reason: EVICTED_REASON },
    ]);
    assert.deepEqual(
      out.laggardMembers.map((m) => m.name),
      ['a', 'b'],
    );
    assert.equal(clock.monotonic(), 410);
  });

  it('barrier - a graceful leave is dropped silently', async () => {
    const c = new FakeCluster();
    c.add('a', { revision: 5 });
    c.add('b', { behaviour: 'hang' });
    const { p, clock, signals } = startWatched(c, 'revision', { min_revision: 5, timeout_ms: 10_000 }, ['a', 'b'], 200);
    await clock.advance(50);
    signals.states.set('b', 'absent');
    signals.emit({ type: 'left', node: 'b' });
    await clock.advance(10);
    assert.deepEqual(await p, { applied: true, laggards: [], laggardMembers: [] });
  });

  it('barrier - a member joining after the call started is not watched', async () => {
    const clock = new FakeClock();
    const table = new MemberTable(clock, { heartbeatIntervalMs: 100, evictableAfterMs: 400, goneAfterMs: 2000 });
    const hub = new MemberSignalHub(table, 'self');
    const members = freezeSnapshot(table, { name: 'self', roles: ['liaison'] });
    const c = new FakeCluster();
    const self = c.add('self', { revision: 1 });
    const late = c.add('late', { revision: 1 });
    const p = start(c, 'revision', { min_revision: 2, timeout_ms: 1000 }, { members, clock, signals: hub });
    table.observe({ name: 'late', roles: ['data'], state: 'active', schema_cache: true, pid: 2, started_at: 0 });
    hub.advance('late', 1);
    await clock.advance(300);
    self.revision = 2;
    hub.advance('self', 2);
    await clock.advance(10);
    assert.deepEqual(await p, { applied: true, laggards: [], laggardMembers: [] });
    assert.equal(late.calls.length, 0);
    hub.close();
  });

  it('barrier - abort returns applied false with laggards', async () => {
    const c = new FakeCluster();
    c.add('a', { revision: 5 });
    c.add('b', { behaviour: 'hang' });
    const clock = new FakeClock();
    const abort = new AbortController();
    const p = start(
      c,
      'revision',
      { min_revision: 5, timeout_ms: 10_000 },
      { members: [member('a'), member('b')], clock, signal: abort.signal },
    );
    await clock.advance(50);
    abort.abort();
    const out = await p;
    assert.equal(out.applied, false);
    assert.deepEqual(out.laggards, [{ node: 'data-b', reason: 'no reply before the call ended' }]);
    assert.equal(clock.monotonic(), 50);
  });

  it('barrier - an empty snapshot is Unavailable', async () => {
    assert.throws(
      () => freezeSnapshot({ active: () => [] }),
      (e) => assertCode(e, Code.Unavailable),
    );
    const spec = parseBarrierRequest('revision', { min_revision: 1 });
    await assert.rejects(
      scatter(spec, {
        members: [],
        probe: new FakeCluster().probe,
        clock: new FakeClock(),
        deadlineMs: 1000,
        fallbackPollMs: 100,
      }),
      (e) => assertCode(e, Code.Unavailable),
    );
  });

  it('barrier - the snapshot keeps Active members with a schema cache, deduplicated, plus self', () => {
    const clock = new FakeClock();
    const table = new MemberTable(clock, { heartbeatIntervalMs: 100, evictableAfterMs: 400, goneAfterMs: 2000 });
    const hb = (name: string, schema_cache = true): Heartbeat => ({
      name,
      roles: ['data'],
      state: 'active',
      schema_cache,
      pid: 1,
      started_at: 0,
    });
    table.observe(hb('self')); // Our own heartbeat: self comes from config instead.
    table.observe(hb('a'));
    table.observe(hb('nocache', false));
    const members = freezeSnapshot(table, { name: 'self', roles: ['standalone'] });
    assert.deepEqual(
      members.map((m) => m.label),
      ['data-a', 'standalone-self'],
    );
  });
});
