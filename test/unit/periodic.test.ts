/**
 * every(): runs at once when asked, re-arms only after a run settled (so runs never overlap), keeps
 * going after a failed run, and stops for good when cancelled. Time is a manual clock.
 */
import assert from 'node:assert/strict';
import { every } from '../../actors/data_shard/periodic.js';
import { systemClock, type Clock } from '../../runtime/clock.js';

/** A clock whose timers fire only when the test calls `fire()`. */
function manualClock(): Clock & { armed: number[]; fire(): void } {
  let pending: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    get armed() {
      return pending.filter((t) => !t.cancelled).map((t) => t.ms);
    },
    fire() {
      const due = pending.filter((t) => !t.cancelled);
      pending = [];
      for (const t of due) t.fn();
    },
    now: () => 0,
    monotonic: () => 0,
    setTimer(ms, fn) {
      const t = { ms, fn, cancelled: false };
      pending.push(t);
      return { cancel: () => (t.cancelled = true) };
    },
    sleep: systemClock.sleep,
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('periodic task', () => {
  it('periodic - runs at once, re-arms after each run, survives a failure, stops when cancelled', async () => {
    const clock = manualClock();
    const errors: unknown[] = [];
    let runs = 0;
    let release!: () => void;
    const h = every(
      clock,
      500,
      async () => {
        runs++;
        if (runs === 2) throw new Error('boom');
        if (runs === 3) await new Promise<void>((r) => (release = r));
      },
      { immediately: true, onError: (e) => errors.push(e) },
    );
    assert.equal(runs, 1);
    await settle();
    assert.deepEqual(clock.armed, [500]);
    clock.fire();
    await settle();
    assert.equal(runs, 2);
    assert.equal((errors[0] as Error).message, 'boom');
    assert.deepEqual(clock.armed, [500], 'still scheduled after a failure');
    clock.fire();
    await settle();
    assert.equal(runs, 3);
    assert.deepEqual(clock.armed, [], 'not re-armed while a run is in progress');
    release();
    await settle();
    assert.deepEqual(clock.armed, [500]);
    h.cancel();
    assert.deepEqual(clock.armed, []);
    clock.fire();
    await settle();
    assert.equal(runs, 3);
  });

  it('periodic - without immediately, the first run waits one interval', async () => {
    const clock = manualClock();
    let runs = 0;
    every(clock, 60_000, async () => void runs++, { onError: () => undefined });
    assert.equal(runs, 0);
    assert.deepEqual(clock.armed, [60_000]);
  });
});
