/**
 * Unit tests of one barrier call (actors/barrier/scatter.ts) with fake probes and a fake clock: no
 * NATS. Invariants: a call ends applied only when every watched member converged or was dropped;
 * an evicted member is reported exactly once; nothing is probed for an invalid request.
 */
import assert from 'node:assert/strict';
import { MemberTable, type Heartbeat } from '../../runtime/membership.js';
import type { Role } from '../../runtime/roles.js';
import { Code, errors, LockstepError } from '../../transport/errors.js';
import { formatKey, type SchemaKey } from '../../transport/schema_types.js';
import type { StatusMethod } from '../../transport/status_types.js';
import {
  EVICTED_REASON,
  freezeSnapshot,
  MemberSignalHub,
  parseBarrierRequest,
  scatter,
  type BarrierCall,
  type MemberSignal,
  type MemberSignals,
  type ScatterOutcome,
  type WatchedMember,
} from '../../actors/barrier/index.js';
import { FakeClock } from '../harness/fake_clock.js';

type Behaviour = 'ok' | 'unimplemented' | 'fail' | 'hang';

/** A scripted member: its applied revision, its keys, and how it answers. */
interface FakeNode {
  revision: number;
  keys: Map<string, { present: boolean; mod_revision: number }>;
  behaviour: Behaviour;
  /** Fails this many probes with Unavailable before answering normally. */
  failNext: number;
  calls: Array<{ method: StatusMethod; keys: number }>;
}

class FakeCluster {
  readonly nodes = new Map<string, FakeNode>();
  add(name: string, init: Partial<FakeNode> = {}): FakeNode {
    const node: FakeNode = { revision: 0, keys: new Map(), behaviour: 'ok', failNext: 0, calls: [], ...init };
    this.nodes.set(name, node);
    return node;
  }
  totalCalls(): number {
    let n = 0;
    for (const node of this.nodes.values()) n += node.calls.length;
    return n;
  }
  probe = async (member: WatchedMember, method: StatusMethod, keys: SchemaKey[] | undefined): Promise<unknown> => {
    await Promise.resolve();
    const node = this.nodes.get(member.name);
    if (!node) throw errors.unavailable(`no responders on ${member.name}`);
    node.calls.push({ method, keys: keys?.length ?? 0 });
    if (node.behaviour === 'unimplemented') throw errors.unimplemented(`unknown status method ${method}`);
    if (node.behaviour === 'hang') return new Promise(() => undefined);
    if (node.behaviour === 'fail' || node.failNext > 0) {
      node.failNext = Math.max(0, node.failNext - 1);
      throw errors.unavailable(`no responders on ${member.name}`);
    }
    if (method === 'max_revision') return { node: member.name, revision: node.revision };
    const ks = keys ?? [];
    const state = (k: SchemaKey) => node.keys.get(formatKey(k)) ?? { present: false, mod_revision: 0 };
    if (method === 'key_revisions') return { node: member.name, revision: node.revision, keys: ks.map(state) };
    return {
      node: member.name,
      revision: node.revision,
      absent: ks.filter((k) => !state(k).present),
      still_present: ks.filter((k) => state(k).present),
    };
  };
}

/** Signals driven by hand (for tests that need no MemberTable). */
class ManualSignals implements MemberSignals {
  private readonly listeners = new Set<(s: MemberSignal) => void>();
  readonly states = new Map<string, 'active' | 'evictable' | 'absent'>();
  subscribe(l: (s: MemberSignal) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  stateOf(node: string) {
    return this.states.get(node) ?? 'active';
  }
  emit(s: MemberSignal) {
    for (const l of [...this.listeners]) l(s);
  }
}

const member = (name: string, role: Role = 'data'): WatchedMember => ({
  name,
  roles: [role],
  label: `${role}-${name}`,
});
const key = (i: number) => `measure:g1/m${i}`;
const keysOf = (n: number) => Array.from({ length: n }, (_, i) => key(i));

interface RunOpts {
  members: WatchedMember[];
  clock?: FakeClock;
  signals?: MemberSignals;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Validates and starts a call the way the actor does; the deadline comes from the request. */
function start(cluster: FakeCluster, call: BarrierCall, body: unknown, o: RunOpts): Promise<ScatterOutcome> {
  const clock = o.clock ?? new FakeClock();
  const spec = parseBarrierRequest(call, body);
  return scatter(spec, {
    members: o.members,
    probe: cluster.probe,
    clock,
    deadlineMs: clock.monotonic() + spec.timeoutMs,
    fallbackPollMs: o.pollMs ?? 200,
    signal: o.signal,
    signals: o.signals,
  });
}

/**
 * Starts a call on `members` with a fresh fake clock and member signals the test emits by hand. The
 * fallback poll defaults to 5 s, so that within a test's few steps only the signals drive the call.
 */
function startWatched(cluster: FakeCluster, call: BarrierCall, body: unknown, members: string[], pollMs = 5000) {
  const clock = new FakeClock();
  const signals = new ManualSignals();
  const p = start(cluster, call, body, { members: members.map((n) => member(n)), clock, signals, pollMs });
  return { p, clock, signals };
}

/** Runs a call to its end, advancing fake time in steps until it answers. */
async function run(cluster: FakeCluster, call: BarrierCall, body: unknown, o: RunOpts): Promise<ScatterOutcome> {
  const clock = o.clock ?? new FakeClock();
  let out: ScatterOutcome | undefined;
  let failure: unknown;
  start(cluster, call, body, { ...o, clock }).then(
    (v) => (out = v),
    (e) => (failure = e),
  );
  for (let i = 0; i < 10_000 && out === undefined && failure === undefined; i++) await clock.advance(50);
  if (failure !== undefined) throw failure;
  assert.ok(out, 'the call never answered');
  return out;
}

function assertCode(err: unknown, code: string): true {
  assert.ok(err instanceof LockstepError, `expected a LockstepError, got ${String(err)}`);
  assert.equal(err.code, code);
  return true;
}

describe('barrier scatter', () => {
  it('barrier - converges when every member reports at least min_revision', async () => {
    const c = new FakeCluster();
    c.add('a', { revision: 7 });
    c.add('b', { revision: 9 });
    const out = await run(c, 'revision', { min_revision: 7 }, { members: [member('a'), member('b')] });
    assert.deepEqual(out, { applied: true, laggards: [], laggardMembers: [] });
    assert.equal(c.totalCalls(), 2);
  });

  it('barrier - reports laggards with current_revision at the deadline', async () => {
    const c = new FakeCluster();
    c.add('a', { revision: 7 });
    c.add('b', { revision: 3 });
    const clock = new FakeClock();
    const out = await run(
      c,
      'revision',
      { min_revision: 5, timeout_ms: 1000 },
      { members: [member('a'), member('b', 'liaison')], clock },
    );
    assert.equal(out.applied, false);
    assert.deepEqual(out.laggards, [{ node: 'liaison-b', current_revision: 3 }]);
    assert.deepEqual(
      out.laggardMembers.map((m) => m.name),
      ['b'],
    );
    assert.ok(clock.monotonic() >= 1000 && clock.monotonic() < 1100, `answered at ${clock.monotonic()}`);
    // a converged at once and was never probed again; b was re-probed by the fallback poll.
    assert.equal(c.nodes.get('a')!.calls.length, 1);
    assert.ok(c.nodes.get('b')!.calls.length >= 4);
  });

  it('barrier - a member answering Unimplemented is ready', async () => {
    const c = new FakeCluster();
    c.add('old', { behaviour: 'unimplemented' });
    c.add('new', { revision: 5, keys: new Map([[key(0), { present: true, mod_revision: 5 }]]) });
    const members = [member('old'), member('new')];
    assert.equal((await run(c, 'revision', { min_revision: 5 }, { members })).applied, true);
    assert.equal((await run(c, 'applied', { keys: [key(0)] }, { members })).applied, true);
    assert.equal((await run(c, 'deleted', { keys: [key(1)] }, { members })).applied, true);
  });

  it('barrier - a transient probe error makes a laggard for that round only', async () => {
    const c = new FakeCluster();
    const flaky = c.add('flaky', { revision: 5, failNext: 1 });
    const clock = new FakeClock();
    const p = start(
      c,
      'revision',
      { min_revision: 5, timeout_ms: 5000 },
      { members: [member('flaky')], clock, pollMs: 200 },
    );
    let answered = false;
    void p.then(() => (answered = true));
    await clock.advance(100);
    assert.equal(flaky.calls.length, 1);
    assert.equal(answered, false, 'the failed member is a laggard until the next round');
    await clock.advance(150);
    assert.deepEqual(await p, { applied: true, laggards: [], laggardMembers: [] });
    assert.equal(flaky.calls.length, 2);
    assert.equal(clock.monotonic(), 250);
  });

  it('barrier - a failed probe is reported with its reason at the deadline', async () => {
    const c = new FakeCluster();
    c.add('down', { behaviour: 'fail' });
    const out = await run(c, 'revision', { min_revision: 1, timeout_ms: 500 }, { members: [member('down')] });
    assert.equal(out.applied, false);
    assert.equal(out.laggards.length, 1);
    assert.match(out.laggards[0]!.reason ?? '', /^probe failed: Unavailable: no responders/);
  });

  for (const [n, expected] of [
    [999, 1],
    [1000, 1],
    [1001, 2],
    [2000, 2],
  ] as const) {
    it(`barrier - ${n} keys go to a member in ${expected} status call(s)`, async () => {
      const c = new FakeCluster();
      const keys = keysOf(n);
      const node = c.add('a', { keys: new Map(keys.map((k) => [k, { present: true, mod_revision: 1 }])) });
      const out = await run(c, 'applied', { keys }, { members: [member('a')] });
      assert.equal(out.applied, true);
      assert.equal(node.calls.length, expected);
      assert.ok(node.calls.every((x) => x.method === 'key_revisions' && x.keys <= 1000));
      assert.equal(
        node.calls.reduce((s, x) => s + x.keys, 0),
        n,
      );
    });
  }

  it('barrier - more than 10 000 keys is InvalidArgument before any probe', async () => {
    const c = new FakeCluster();
    c.add('a');
    await assert.rejects(run(c, 'applied', { keys: keysOf(10_001) }, { members: [member('a')] }), (e) =>
      assertCode(e, Code.InvalidArgument),
    );
    await assert.rejects(run(c, 'deleted', { keys: keysOf(10_001) }, { members: [member('a')] }), (e) =>
      assertCode(e, Code.InvalidArgument),
    );
    assert.equal(c.totalCalls(), 0);
  });

  it('barrier - 10 000 keys are answered', async () => {
    const c = new FakeCluster();
    const node = c.add('a');
    const out = await run(c, 'deleted', { keys: keysOf(10_000) }, { members: [member('a')] });
    assert.equal(out.applied, true);
    assert.equal(node.calls.length, 10);
  });

  it('barrier - malformed keys and bad arguments are InvalidArgument', () => {
    const bad: Array<[BarrierCall, unknown]> = [
      ['applied', { keys: ['measure:g1'] }],
      ['applied', { keys: ['measure:G1/x'] }],
      ['applied', { keys: [{ kind: 'table', group: 'g', name: 'x' }] }],
      ['deleted', { keys: 'measure:g1/x' }],
      ['applied', { keys: [key(0)], min_revisions: [1, 2] }],
      ['applied', { keys: [key(0)], min_revisions: [-1] }],
      ['revision', {}],
      ['revision', { min_revision: 1.5 }],
      ['revision', { min_revision: 1, timeout_ms: 'soon' }],
    ];
    for (const [call, body] of bad)
      assert.throws(
        () => parseBarrierRequest(call, body),
        (e) => assertCode(e, Code.InvalidArgument),
        JSON.stringify(body),
      );
  });

  it('barrier - timeout_ms defaults to 5 s and is capped at 5 min', () => {
    assert.equal(parseBarrierRequest('revision', { min_revision: 0 }).timeoutMs, 5000);
    assert.equal(parseBarrierRequest('revision', { min_revision: 0, timeout_ms: -3 }).timeoutMs, 5000);
    assert.equal(parseBarrierRequest('revision', { min_revision: 0, timeout_ms: 10 ** 9 }).timeoutMs, 300_000);
    assert.equal(parseBarrierRequest('revision', { min_revision: 0, timeout_ms: 1234 }).timeoutMs, 1234);
  });

  it('barrier - min_revisions longer than keys is InvalidArgument with zero probes', async () => {
    const c = new FakeCluster();
    c.add('a');
    const body = { keys: [key(0)], min_revisions: [1, 2] };
    await assert.rejects(run(c, 'applied', body, { members: [member('a')] }), (e) =>
      assertCode(e, Code.InvalidArgument),
    );
    assert.equal(c.totalCalls(), 0);
  });

  it('barrier - applied reports exactly the missing keys, re-probing only those', async () => {
    const c = new FakeCluster();
    const a = c.add('a', {
      keys: new Map([
        [key(0), { present: true, mod_revision: 10 }],
        [key(1), { present: true, mod_revision: 12 }],
      ]),
    });
    const keys = [key(0), key(1), key(2)];
    const out = await run(c, 'applied', { keys, min_revisions: [0, 13], timeout_ms: 500 }, { members: [member('a')] });
    assert.equal(out.applied, false);
    assert.deepEqual(out.laggards, [{ node: 'data-a', missing_keys: [key(1), key(2)] }]);
    assert.equal(a.calls[0]!.keys, 3);
    assert.ok(
      a.calls.slice(1).every((x) => x.keys === 2),
      'later rounds re-probe only the missing keys',
    );
  });

  it('barrier - deleted reports exactly the keys still present', async () => {
    const c = new FakeCluster();
    c.add('a', { keys: new Map([[key(1), { present: true, mod_revision: 4 }]]) });
    c.add('b');
    const out = await run(
      c,
      'deleted',
      { keys: [key(0), key(1)], timeout_ms: 300 },
      { members: [member('a'), member('b')] },
    );
    assert.deepEqual(out.laggards, [{ node: 'data-a', still_present_keys: [key(1)] }]);
  });

  it('barrier - an empty key list is applied at once', async () => {
    const c = new FakeCluster();
    c.add('a');
    assert.deepEqual(await run(c, 'applied', { keys: [] }, { members: [member('a')] }), {
      applied: true,
      laggards: [],
      laggardMembers: [],
    });
    assert.equal(c.totalCalls(), 0);
  });

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
