/**
 * The one test clock: implements runtime/clock.ts `Clock` and moves only when the test says so.
 * Timers fire inside `advance` (or `runUntilIdle`) in the order (due time, arming order), so a run
 * is the same every time; nothing here reads the wall clock or arms a real timer.
 */
import type { Clock, TimerHandle } from '../../runtime/clock.js';

/** Wall time a FakeClock starts at unless told otherwise: fixed, so logs and files are reproducible. */
export const FAKE_EPOCH_MS = 1_700_000_000_000;

/**
 * Most timers one `advance` or `runUntilIdle` fires: a timer that re-arms itself at zero delay
 * would otherwise spin forever without time moving.
 */
export const TIMERS_PER_ADVANCE_MAX = 100_000;

/** Lets every pending promise callback run (setImmediate comes after the whole microtask queue). */
export function settle(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

interface FakeTimer {
  /** Due time on the monotonic axis. */
  at: number;
  /** Arming order: breaks ties between timers due at the same instant. */
  seq: number;
  fn: () => void;
}

/** A clock driven by the test: `now` and `monotonic` move together under `advance`; `setNow` steps wall time alone. */
export class FakeClock implements Clock {
  private mono = 0;
  /** now() = wallOffset + monotonic(), so the two move together until `setNow` steps the wall clock. */
  private wallOffset: number;
  private seq = 0;
  /** Pending timers, sorted by (at, seq). */
  private timers: FakeTimer[] = [];

  constructor(nowMs: number = FAKE_EPOCH_MS) {
    this.wallOffset = nowMs;
  }

  now(): number {
    return this.wallOffset + this.mono;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    // NaN or a negative delay fires at the next advance, as setTimeout treats them.
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: FakeTimer = { at: this.mono + delay, seq: this.seq++, fn };
    // Insert after every timer due at or before it: equal due times fire in arming order.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.at > timer.at) i--;
    this.timers.splice(i, 0, timer);
    return { cancel: () => this.remove(timer) };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        handle.cancel();
        reject(signal!.reason);
      };
      const handle = this.setTimer(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Steps the wall clock to `nowMs` (an NTP step): monotonic time and armed timers do not move. */
  setNow(nowMs: number): void {
    this.wallOffset = nowMs - this.mono;
  }

  /** Delays from now of the armed timers, in firing order. */
  pendingTimers(): number[] {
    return this.timers.map((t) => t.at - this.mono);
  }

  /**
   * Moves time forward by `ms`, firing due timers in order; after each one, pending promise
   * callbacks run before the next fires, so code a timer wakes reacts at that instant.
   */
  async advance(ms: number): Promise<void> {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new Error(`advance: ms must be a finite number >= 0, got ${ms}`);
    const end = this.mono + ms;
    await settle();
    for (let fired = 0; ; fired++) {
      const due = this.timers[0];
      if (!due || due.at > end) break;
      if (fired >= TIMERS_PER_ADVANCE_MAX) throw this.spinning('advance', TIMERS_PER_ADVANCE_MAX);
      this.timers.shift();
      this.mono = due.at;
      due.fn();
      await settle();
    }
    this.mono = end;
    await settle();
  }

  /**
   * Awaits `p` while moving time forward `stepMs` at a time (what it waits on is timed by this
   * clock); throws naming `what` when it has not settled after `maxSteps` steps.
   */
  async until<T>(p: Promise<T>, what: string, stepMs = 10, maxSteps = 100_000): Promise<T> {
    let done = false;
    const watched = p.finally(() => (done = true));
    watched.catch(() => undefined);
    for (let i = 0; !done; i++) {
      if (i >= maxSteps) throw new Error(`${what} did not settle within ${maxSteps} steps of ${stepMs} ms`);
      await this.advance(stepMs);
    }
    return watched;
  }

  /**
   * Fires timers in order, moving time to each, until none is armed; returns how many fired.
   * Throws past `maxTimers` (a periodic timer never lets the clock go idle: use `advance` then).
   */
  async runUntilIdle(maxTimers = TIMERS_PER_ADVANCE_MAX): Promise<number> {
    await settle();
    let fired = 0;
    for (;;) {
      const due = this.timers.shift();
      if (!due) return fired;
      if (fired >= maxTimers) {
        this.timers.unshift(due);
        throw this.spinning('runUntilIdle', maxTimers);
      }
      this.mono = Math.max(this.mono, due.at);
      due.fn();
      fired++;
      await settle();
    }
  }

  private remove(timer: FakeTimer): void {
    const i = this.timers.indexOf(timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  private spinning(op: string, limit: number): Error {
    return new Error(`${op}: more than ${limit} timers fired without going idle (a timer re-arming itself?)`);
  }
}
