/**
 * The test clock (test/harness/fake_clock.ts). Invariants: timers fire only when the test moves
 * time, in (due time, arming order); a cancelled timer never fires; `now` and `monotonic` move
 * together except when `setNow` steps the wall clock; a timer loop that never idles is reported.
 */
import assert from 'node:assert/strict';
import { FAKE_EPOCH_MS, FakeClock } from '../harness/fake_clock.js';

describe('fake clock', () => {
  it('fake clock - timers fire only inside advance, by due time then arming order', async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push('c@30'));
    clock.setTimer(10, () => fired.push('a@10'));
    clock.setTimer(10, () => fired.push('b@10'));
    clock.setTimer(-5, () => fired.push('z@0'));
    assert.deepEqual(clock.pendingTimers(), [0, 10, 10, 30]);
    assert.deepEqual(fired, []);
    await clock.advance(10);
    assert.deepEqual(fired, ['z@0', 'a@10', 'b@10']);
    assert.equal(clock.monotonic(), 10);
    assert.equal(clock.now(), FAKE_EPOCH_MS + 10);
    await clock.advance(100);
    assert.deepEqual(fired, ['z@0', 'a@10', 'b@10', 'c@30']);
    assert.equal(clock.monotonic(), 110);
  });

  it('fake clock - a timer sees the time it was due at, and one it arms inside the window fires too', async () => {
    const clock = new FakeClock(0);
    const seen: number[] = [];
    clock.setTimer(5, () => {
      seen.push(clock.monotonic());
      clock.setTimer(5, () => seen.push(clock.monotonic()));
    });
    await clock.advance(12);
    assert.deepEqual(seen, [5, 10]);
    assert.equal(clock.now(), 12);
  });

  it('fake clock - a cancelled timer never fires and cancelling twice is harmless', async () => {
    const clock = new FakeClock();
    let fired = 0;
    const t = clock.setTimer(5, () => fired++);
    t.cancel();
    t.cancel();
    await clock.advance(10);
    assert.equal(fired, 0);
    assert.deepEqual(clock.pendingTimers(), []);
  });

  it('fake clock - sleep resolves at its time; an aborted sleep rejects with the reason and disarms', async () => {
    const clock = new FakeClock();
    let woke = false;
    const p = clock.sleep(50).then(() => (woke = true));
    await clock.advance(49);
    assert.equal(woke, false);
    await clock.advance(1);
    await p;
    assert.equal(woke, true);

    const ac = new AbortController();
    const aborted = clock.sleep(1000, ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(aborted, /stop/);
    assert.deepEqual(clock.pendingTimers(), []);
    await assert.rejects(clock.sleep(1, ac.signal), /stop/, 'an already aborted signal rejects at once');
  });

  it('fake clock - setNow steps the wall clock only; monotonic time and timers stay', async () => {
    const clock = new FakeClock(1000);
    clock.setTimer(20, () => undefined);
    clock.setNow(50_000);
    assert.equal(clock.now(), 50_000);
    assert.equal(clock.monotonic(), 0);
    assert.deepEqual(clock.pendingTimers(), [20]);
    await clock.advance(20);
    assert.equal(clock.now(), 50_020);
  });

  it('fake clock - runUntilIdle fires everything in order and reports a timer that never idles', async () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    for (const ms of [300, 100, 200]) clock.setTimer(ms, () => fired.push(ms));
    assert.equal(await clock.runUntilIdle(), 3);
    assert.deepEqual(fired, [100, 200, 300]);
    assert.equal(clock.monotonic(), 300);

    const rearm = () => void clock.setTimer(0, rearm);
    rearm();
    await assert.rejects(clock.runUntilIdle(50), /more than 50 timers/);
    await assert.rejects(clock.advance(-1), /finite number >= 0/);
  });
});
