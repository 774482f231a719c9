/**
 * The migration rules as pure functions (runtime/migration/): the state projection's priority order,
 * the policy gates, the tick's choice of action and the transitions of an operation.
 */
import assert from 'node:assert/strict';
import {
  claimed,
  completed,
  copied,
  failedWith,
  isRetryableFailure,
  leaseLive,
  MAX_RETRIES,
  nextAction,
  reconciled,
  retried,
  type MigrationView,
} from '../../runtime/migration/claims.js';
import { mayCutOver, mayStartCopy, turn } from '../../runtime/migration/gates.js';
import { projectMigration } from '../../runtime/migration/projection.js';
import type {
  MigrationRecord,
  OnFailure,
  OperationRecord,
  OperationState,
  Policy,
} from '../../transport/migration_types.js';
import { newOperation } from '../../runtime/migration/claims.js';
import { Code, errors, LockstepError } from '../../transport/errors.js';

const TIMEOUT = 30_000;

function migration(policy: Policy = 'rolling', on_failure: OnFailure = 'halt', targets = 3): MigrationRecord {
  const ids = Array.from({ length: targets }, (_, i) => `g${i}`);
  return {
    id: 'm1',
    targets: ids,
    policy,
    on_failure,
    defer_cutover: false,
    created_at: 0,
    released: false,
    change: {},
  };
}

function ops(m: MigrationRecord, states: OperationState[]): OperationRecord[] {
  return states.map((state, i) => ({ ...newOperation(m, i), state }));
}

describe('migration rules', () => {
  it('projection - each rule wins over the ones after it', () => {
    const p = (on_failure: OnFailure, states: OperationState[], released = false) =>
      projectMigration(
        { on_failure, released },
        states.map((state) => ({ state })),
      );
    assert.equal(p('halt', ['failed', 'failed_retryable', 'cancelled']), 'failed');
    assert.equal(p('continue', ['failed', 'failed_retryable', 'cancelled']), 'failed_retryable');
    assert.equal(p('continue', ['failed', 'cancelled', 'stopped']), 'cancelled');
    assert.equal(p('continue', ['failed', 'stopped', 'running']), 'stopped');
    assert.equal(p('continue', ['completed', 'failed', 'completed']), 'failed');
    assert.equal(p('continue', ['failed', 'running', 'pending']), 'running_degraded');
    assert.equal(p('pause', ['failed', 'pending', 'pending']), 'paused');
    assert.equal(p('pause', ['failed', 'pending', 'pending'], true), 'running_degraded');
    assert.equal(p('pause', ['failed', 'cutting_over', 'pending']), 'running_degraded');
    assert.equal(p('halt', ['completed', 'completed']), 'completed');
    assert.equal(p('halt', ['completed', 'cutting_over', 'waiting_for_cutover']), 'cutting_over');
    assert.equal(p('halt', ['completed', 'waiting_for_cutover', 'waiting_for_cutover']), 'waiting_for_cutover');
    assert.equal(p('halt', ['completed', 'pending', 'pending']), 'running');
    assert.equal(p('halt', ['waiting_for_cutover', 'running']), 'running');
    assert.equal(p('halt', ['pending', 'pending']), 'pending');
  });

  it('gates - rolling starts a target after every earlier one completed; barrier and parallel at once', () => {
    const rolling = migration('rolling');
    assert.equal(mayStartCopy(rolling, ops(rolling, ['pending', 'pending', 'pending']), 0), true);
    assert.equal(mayStartCopy(rolling, ops(rolling, ['running', 'pending', 'pending']), 1), false);
    assert.equal(mayStartCopy(rolling, ops(rolling, ['completed', 'pending', 'pending']), 1), true);
    for (const policy of ['barrier', 'parallel'] as const) {
      const m = migration(policy);
      assert.equal(mayStartCopy(m, ops(m, ['running', 'running', 'pending']), 2), true);
    }
  });

  it('gates - cutovers go one at a time in target order; barrier waits until every target copied', () => {
    const parallel = migration('parallel');
    assert.equal(mayCutOver(parallel, ops(parallel, ['waiting_for_cutover', 'running', 'running']), 0), true);
    assert.equal(
      mayCutOver(parallel, ops(parallel, ['waiting_for_cutover', 'waiting_for_cutover', 'pending']), 1),
      false,
    );
    assert.equal(mayCutOver(parallel, ops(parallel, ['completed', 'waiting_for_cutover', 'running']), 1), true);
    assert.equal(mayCutOver(parallel, ops(parallel, ['cutting_over', 'waiting_for_cutover', 'running']), 1), false);
    const barrier = migration('barrier');
    assert.equal(
      mayCutOver(barrier, ops(barrier, ['waiting_for_cutover', 'running', 'waiting_for_cutover']), 0),
      false,
    );
    assert.equal(
      mayCutOver(barrier, ops(barrier, ['waiting_for_cutover', 'waiting_for_cutover', 'waiting_for_cutover']), 0),
      true,
    );
    assert.equal(turn(barrier, ops(barrier, ['completed', 'waiting_for_cutover', 'pending']))?.index, 1);
  });

  it('gates - on_failure: halt freezes everything, continue goes on, pause holds later targets until release', () => {
    const after = (on_failure: OnFailure, released = false) => {
      const m = { ...migration('rolling', on_failure), released };
      return [
        mayStartCopy(m, ops(m, ['failed', 'pending', 'pending']), 1),
        mayCutOver(m, ops(m, ['failed', 'waiting_for_cutover', 'pending']), 1),
      ];
    };
    assert.deepEqual(after('halt'), [false, false]);
    assert.deepEqual(after('continue'), [true, true]);
    assert.deepEqual(after('pause'), [false, false]);
    assert.deepEqual(after('pause', true), [true, true]);
    const m = migration('parallel');
    assert.equal(mayStartCopy(m, ops(m, ['stopped', 'pending', 'pending']), 1), false, 'a stop freezes the migration');
  });

  it('claims - a tick retries, then reconciles intents, then claims a cutover, then a copy', () => {
    const m = migration('parallel', 'halt', 2);
    const view = (states: OperationState[], intents: MigrationView['intents'] = []): MigrationView => ({
      migration: m,
      ops: ops(m, states),
      intents,
    });
    const now = 100_000;
    const retry = view(['failed_retryable', 'waiting_for_cutover']);
    retry.ops[0]!.retry_at = now;
    assert.equal(nextAction([retry], now, TIMEOUT)?.kind, 'retry');
    const stop = { migration_id: 'm1', kind: 'stop' as const, created_at: 0, key: 'intent.m1.x' };
    assert.equal(nextAction([view(['waiting_for_cutover', 'pending'], [stop])], now, TIMEOUT)?.kind, 'intent');
    const both = nextAction([view(['waiting_for_cutover', 'pending'])], now, TIMEOUT);
    assert.deepEqual(both && both.kind === 'claim' && [both.claim, both.op.index], ['cutover', 0]);
    const copying = view(['running', 'pending']);
    copying.ops[0]!.lease = { owner: 'c1', token: 't1', heartbeat_at: now };
    const copy = nextAction([copying], now, TIMEOUT);
    assert.deepEqual(copy && copy.kind === 'claim' && [copy.claim, copy.op.index], ['copy', 1]);
  });

  it('claims - a live lease is never claimed; a stale one is, keeping the state; a parked target only by the cutover claim', () => {
    const m = migration('parallel', 'halt', 2);
    const now = 100_000;
    const held = ops(m, ['running', 'completed']);
    held[0]!.lease = { owner: 'c1', token: 't1', heartbeat_at: now - TIMEOUT + 1 };
    assert.equal(nextAction([{ migration: m, ops: held, intents: [] }], now, TIMEOUT), null);
    assert.equal(leaseLive(held[0]!, now + 1, TIMEOUT), false);
    const stale = nextAction([{ migration: m, ops: held, intents: [] }], now + 1, TIMEOUT);
    assert.ok(stale?.kind === 'claim' && stale.claim === 'copy');
    const taken = claimed(stale.op, 'copy', 'c2', 't2', now + 1);
    assert.equal(taken.state, 'running');
    assert.deepEqual(taken.lease, { owner: 'c2', token: 't2', heartbeat_at: now + 1 });
    const parked = copied(m, { ...taken, rows_total: 10 }, now + 2);
    assert.deepEqual([parked.state, parked.lease, parked.rows_copied], ['waiting_for_cutover', null, 10]);
  });

  it('claims - failures retry with backoff, then fail for good; stop, resume and cancel spare completed targets', () => {
    const m = migration('rolling', 'halt', 2);
    let op: OperationRecord = { ...newOperation(m, 0), state: 'running', copy_started_at: 1 };
    for (let i = 0; i < MAX_RETRIES; i++) {
      op = failedWith(op, 'boom', true, 1000);
      assert.equal(op.state, 'failed_retryable');
      assert.ok(op.retry_at! > 1000);
      op = retried(op);
      assert.equal(op.state, 'running', 'a retried copy resumes where it was');
    }
    assert.equal(failedWith(op, 'boom', true, 1000).state, 'failed');
    const states = (xs: OperationRecord[]) => xs.map((o) => o.state);
    const two = ops(m, ['completed', 'running']);
    two[1]!.copy_started_at = 5;
    const stopped = reconciled('stop', two);
    assert.deepEqual(states(stopped), ['completed', 'stopped']);
    assert.deepEqual(states(reconciled('resume', stopped)), ['completed', 'running']);
    assert.deepEqual(states(reconciled('cancel', two)), ['completed', 'cancelled']);
  });

  it('claims - cancel spares a cutover already begun: it keeps its lease and completes; the rest is cancelled', () => {
    const m = migration('parallel', 'halt', 3);
    const three = ops(m, ['completed', 'cutting_over', 'waiting_for_cutover']);
    three[1]!.lease = { owner: 'c1', token: 't1', heartbeat_at: 10 };
    const after = reconciled('cancel', three);
    assert.deepEqual(
      after.map((o) => [o.state, o.lease?.token ?? null]),
      [
        ['completed', null],
        ['cutting_over', 't1'],
        ['cancelled', null],
      ],
    );
    // The migration reads as cancelled at once; the cutover's holder goes on to complete it.
    assert.equal(projectMigration(m, after), 'cancelled');
    assert.equal(projectMigration(m, [after[0]!, completed(after[1]!, 20), after[2]!]), 'cancelled');
  });

  it('claims - a drive failure is retried when it says so, else when its code is transient (a KV listing that timed out)', () => {
    assert.equal(isRetryableFailure(errors.unavailable('listing the keys of lockstep_ops took over 10000 ms')), true);
    assert.equal(isRetryableFailure(new LockstepError(Code.DeadlineExceeded, 'slow')), true);
    assert.equal(
      isRetryableFailure(errors.failedPrecondition('group:g changed since the migration planned it')),
      false,
    );
    assert.equal(isRetryableFailure(Object.assign(errors.unavailable('gone'), { retryable: false })), false);
    assert.equal(isRetryableFailure(Object.assign(new Error('copy failed'), { retryable: true })), true);
    assert.equal(isRetryableFailure(new Error('a bug')), false);
    assert.equal(isRetryableFailure(undefined), false);
  });
});
