/**
 * One claimer engine on the in-memory bus and KV twin with a fake clock, for the behaviours the
 * seeded simulation does not pin down: a deferred operation's inaction timeout and its prompt
 * cutover on request, and a wake that claims every target a parallel migration lets start (not one
 * per tick period).
 */
import assert from 'node:assert/strict';
import { eventKind } from '../../actors/cutover_claimer/claimer.js';
import { ClaimerEngine, type DriveHooks } from '../../actors/cutover_claimer/engine.js';
import { newOperation } from '../../runtime/migration/claims.js';
import { MigrationStore } from '../../runtime/migration/store.js';
import type { MigrationRecord, OperationRecord } from '../../transport/migration_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { FakeClock } from '../harness/fake_clock.js';
import { MemoryNetwork } from '../harness/memory_bus.js';

const S = subjectsFor('eng');
const TICK_MS = 60_000;
const DEFER_TIMEOUT_MS = 600_000;

function migration(over: Partial<MigrationRecord>): MigrationRecord {
  return {
    id: 'm1',
    targets: ['a'],
    policy: 'rolling',
    on_failure: 'halt',
    defer_cutover: false,
    created_at: 0,
    released: false,
    change: { group: { shards: 4 } },
    ...over,
  };
}

/** A started engine over a fresh bucket holding `m`, with copies that take `copyMs` each. */
async function setUp(m: MigrationRecord, copyMs: number) {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ seed: 1, clock });
  const pass = <T>(p: Promise<T>) => clock.until(p, 'a store call', 1);
  const user = await pass(MigrationStore.open(network.connect('user'), S.opsBucket, 'user'));
  await pass(
    user.create(
      m,
      m.targets.map((_, i) => newOperation(m, i)),
    ),
  );
  const hooks: DriveHooks = {
    async copy(op, progress, signal) {
      await clock.sleep(copyMs, signal);
      await progress(100, 100);
    },
    async cutover(_op, signal) {
      await clock.sleep(10, signal);
    },
  };
  const store = await pass(MigrationStore.open(network.connect('c1'), S.opsBucket, 'c1'));
  const engine = new ClaimerEngine({
    store,
    clock,
    owner: 'c1',
    hooks,
    newToken: () => `t${clock.now()}`,
    leaseTimeoutMs: 30_000,
    heartbeatMs: 5_000,
    tickMs: TICK_MS,
    deferTimeoutMs: DEFER_TIMEOUT_MS,
    wakeOthers: () => undefined,
  });
  const ops = async (): Promise<OperationRecord[]> => (await pass(user.view(m.id)))!.ops;
  return { clock, user, engine, ops, pass };
}

describe('claimer engine', () => {
  it('events - a cutover is announced once: by the claim or write that starts it, not by a takeover or later writes', () => {
    const op = { ...newOperation(migration({}), 0), copy_completed_at: 5 };
    const lease = (at: number) => ({ owner: 'c1', token: `t${at}`, heartbeat_at: at });
    const started = { ...op, state: 'cutting_over' as const, cutover_started_at: 10, lease: lease(10) };
    assert.equal(eventKind(started, 'claimed', undefined), 'cutover_started');
    assert.equal(eventKind({ ...started, lease: lease(40) }, 'claimed', undefined), 'claimed', 'a takeover');
    assert.equal(eventKind(started, 'wrote', 'running'), 'cutover_started', 'a copy that goes straight on');
    assert.equal(eventKind(started, 'wrote', 'cutting_over'), 'progress');
    assert.equal(eventKind({ ...op, state: 'waiting_for_cutover', lease: null }, 'wrote', 'running'), 'parked');
    assert.equal(eventKind({ ...started, state: 'completed', lease: null }, 'wrote', 'cutting_over'), 'completed');
  });

  it('engine - a deferred target nobody cuts over holds its lease, then stops at the inaction timeout; resume waits again', async () => {
    const { clock, user, engine, ops, pass } = await setUp(migration({ defer_cutover: true }), 1_000);
    engine.start();
    await clock.advance(10_000);
    let [op] = await ops();
    assert.equal(op!.state, 'waiting_for_cutover');
    assert.equal(op!.lease?.owner, 'c1', 'a deferred target keeps its lease while it waits');
    await clock.advance(DEFER_TIMEOUT_MS - 20_000);
    assert.equal((await ops())[0]!.state, 'waiting_for_cutover', 'not before the timeout');
    await clock.advance(30_000);
    [op] = await ops();
    assert.equal(op!.state, 'stopped');
    assert.equal(op!.lease, null, 'the lease is let go');
    assert.equal(op!.error, `no cutover within ${DEFER_TIMEOUT_MS} ms`);
    await pass(user.addIntent({ migration_id: 'm1', kind: 'resume', created_at: clock.now() }));
    engine.wake();
    await clock.advance(10_000);
    [op] = await ops();
    assert.equal(op!.state, 'waiting_for_cutover', 'resumed: waiting for its cutover again');
    assert.equal(op!.lease?.owner, 'c1');
    // A cutover request and its wake: the holder goes at once, not at its next look (every 5 s).
    await pass(user.addIntent({ migration_id: 'm1', kind: 'cutover', target: 'a', created_at: clock.now() }));
    engine.wake();
    await clock.advance(100);
    assert.equal((await ops())[0]!.state, 'completed');
    await pass(engine.stop());
  });

  it('engine - one wake claims every target a parallel migration lets copy, without waiting a tick period', async () => {
    const m = migration({ targets: ['a', 'b', 'c'], policy: 'parallel' });
    const { clock, engine, ops, pass } = await setUp(m, 20_000);
    engine.start();
    await clock.advance(1_000); // far less than TICK_MS
    const states = (await ops()).map((o) => [o.state, o.lease?.owner ?? null]);
    assert.deepEqual(states, [
      ['running', 'c1'],
      ['running', 'c1'],
      ['running', 'c1'],
    ]);
    await pass(engine.stop());
  });
});
