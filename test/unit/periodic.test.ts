/**
 * every(): runs at once when asked, re-arms only after a run settled (so runs never overlap), keeps
 * going after a failed run, and stops for good when cancelled. Time is the test's FakeClock.
 */
import assert from 'node:assert/strict';
import { every } from '../../runtime/periodic.js';
import { FakeClock } from '../harness/fake_clock.js';

const settle = () => new Promise((r) => setImmediate(r));

describe('periodic task', () => {
  it('periodic - runs at once, re-arms after each run, survives a failure, stops when cancelled', async () => {
    const clock = new FakeClock();
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
    assert.deepEqual(clock.pendingTimers(), [500]);
    await clock.advance(500);
    await settle();
    assert.equal(runs, 2);
    assert.equal((errors[0] as Error).message, 'boom');
    assert.deepEqual(clock.pendingTimers(), [500], 'still scheduled after a failure');
    await clock.advance(500);
    await settle();
    assert.equal(runs, 3);
    assert.deepEqual(clock.pendingTimers(), [], 'not re-armed while a run is in progress');
    release();
    await settle();
    assert.deepEqual(clock.pendingTimers(), [500]);
    h.cancel();
    assert.deepEqual(clock.pendingTimers(), []);
    await clock.advance(500);
    await settle();
    assert.equal(runs, 3);
  });

  it('periodic - without immediately, the first run waits one interval', async () => {
    const clock = new FakeClock();
    let runs = 0;
    every(clock, 60_000, async () => void runs++, { onError: () => undefined });
    assert.equal(runs, 0);
    assert.deepEqual(clock.pendingTimers(), [60_000]);
  });
});
