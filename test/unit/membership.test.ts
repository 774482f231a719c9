/**
 * The membership table's periodic check on a fake clock. Invariant: only time this thread could
 * listen counts as a member's silence, so a pause of the table's own thread (its check running far
 * behind schedule) evicts nobody, while a member that really went silent still turns Evictable.
 */
import assert from 'node:assert/strict';
import type { Clock, TimerHandle } from '../../runtime/clock.js';
import { MemberTable, type Heartbeat } from '../../runtime/membership.js';

/** A clock driven by the test; `stall` moves time on without running timers, as a blocked thread. */
class StallingClock implements Clock {
  private t = 0;
  private timers: Array<{ at: number; fn: () => void }> = [];
  now = () => 1_700_000_000_000 + this.t;
  monotonic = () => this.t;
  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer = { at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== timer)) };
  }
  sleep(): Promise<void> {
    throw new Error('not used');
  }
  /** Moves time forward, running each timer at its due time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let due = this.next(end); due; due = this.next(end)) {
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
  /** The thread did not run for `ms`: timers due meanwhile run late, all at the end. */
  stall(ms: number): void {
    this.t += ms;
    for (let due = this.next(this.t); due; due = this.next(this.t)) due.fn();
  }
  private next(end: number) {
    const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
    if (due) this.timers = this.timers.filter((x) => x !== due);
    return due;
  }
}

const hb = (name: string): Heartbeat => ({
  name,
  roles: ['data'],
  state: 'active',
  schema_cache: true,
  pid: 1,
  started_at: 0,
});

describe('membership', () => {
  it("membership - a pause of this thread is not counted as the members' silence", () => {
    const clock = new StallingClock();
    const table = new MemberTable(clock, { heartbeatIntervalMs: 100, evictableAfterMs: 400, goneAfterMs: 2000 });
    const evicted: string[] = [];
    table.on('evictable', (m) => evicted.push(`${m.name}@${clock.monotonic()}`));
    table.observe(hb('a'));
    table.observe(hb('b'));
    table.start();
    clock.advance(100);

    // 1 s without running: both kept beating, their heartbeats wait unread behind the late check.
    clock.stall(1000);
    assert.deepEqual(evicted, [], 'nobody is evicted by our own pause');
    assert.equal(table.get('b')?.state, 'active');

    // a's heartbeats are read now and go on; b is really gone: 400 ms of counted silence make it
    // Evictable, 150 of them before the pause (its last beat at 0, the check due at 150).
    assert.equal(clock.monotonic(), 1100);
    for (let i = 0; i < 6; i++) {
      table.observe(hb('a'));
      clock.advance(100);
    }
    assert.equal(table.get('a')?.state, 'active');
    assert.deepEqual(evicted, ['b@1350']);
    table.stop();
  });

  it('membership - a member silent while the thread runs on schedule turns Evictable after evictableAfterMs', () => {
    const clock = new StallingClock();
    const table = new MemberTable(clock, { heartbeatIntervalMs: 100, evictableAfterMs: 400, goneAfterMs: 2000 });
    const events: string[] = [];
    for (const e of ['evictable', 'gone'] as const)
      table.on(e, (m) => events.push(`${e} ${m.name}@${clock.monotonic()}`));
    table.observe(hb('a'));
    table.start();
    clock.advance(2100);
    assert.deepEqual(events, ['evictable a@400', 'gone a@2000']);
    table.stop();
  });
});
