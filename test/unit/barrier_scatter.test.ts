/**
 * Unit tests of one barrier call (actors/barrier/scatter.ts) with fake probes and a fake clock: no
 * NATS. Invariants: a call ends applied only when every watched member converged; laggards are
 * reported with what they lack (revision, missing or still present keys, the probe's failure);
 * nothing is probed for an invalid request. Member events, eviction and leaving:
 * barrier_scatter_members.test.ts.
 */
import assert from 'node:assert/strict';
import { Code } from '../../transport/errors.js';
import { parseBarrierRequest, type BarrierCall } from '../../actors/barrier/index.js';
import { assertCode, FakeCluster, key, keysOf, member, run, start } from '../harness/barrier_fakes.js';
import { FakeClock } from '../harness/fake_clock.js';

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
});
