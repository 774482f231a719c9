/**
 * Time, injected: nothing else reads the wall clock or arms timers for logic, so tests can drive it.
 */

/** A cancellable timer handle. */
export interface TimerHandle {
  cancel(): void;
}

/** The clock every component takes. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds, for durations. */
  monotonic(): number;
  /** Runs `fn` after `ms`; the timer never keeps the process alive. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

/**
 * The wait before the next attempt of a retry loop bounded by `deadlineMs` (monotonic): the backoff,
 * shortened so that the last attempt happens at the deadline; null once the deadline has passed.
 * So a loop gives up only after it really retried for its whole budget.
 */
export function retryWaitMs(
  attempt: number,
  nowMs: number,
  deadlineMs: number,
  baseMs: number,
  maxMs: number,
): number | null {
  if (nowMs >= deadlineMs) return null;
  return Math.min(backoffMs(attempt, baseMs, maxMs), deadlineMs - nowMs);
}

/** Exponential backoff with a cap: attempt 0 → base, doubling up to `maxMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
}
