/**
 * A task repeated on the injected clock: the next run is armed only once the previous one settled,
 * so a slow run never overlaps the next, and cancelling stops it for good.
 */
import { assert } from './assert.js';
import type { Clock, TimerHandle } from './clock.js';

/** Options of `every`. */
export interface PeriodicOptions {
  /** Run once right away instead of after the first interval. */
  immediately?: boolean;
  /** Called with what a run threw; the schedule goes on. */
  onError: (err: unknown) => void;
}

/** Runs `task` every `intervalMs` (measured from the end of the previous run) until cancelled. */
export function every(clock: Clock, intervalMs: number, task: () => Promise<void>, opts: PeriodicOptions): TimerHandle {
  assert(Number.isFinite(intervalMs) && intervalMs > 0, `periodic intervalMs is positive, got ${intervalMs}`);
  let cancelled = false;
  let timer: TimerHandle | undefined;
  const run = () => {
    if (cancelled) return;
    void task()
      .catch((err) => {
        if (!cancelled) opts.onError(err);
      })
      .finally(() => {
        if (!cancelled) timer = clock.setTimer(intervalMs, run);
      });
  };
  if (opts.immediately) run();
  else timer = clock.setTimer(intervalMs, run);
  return {
    cancel() {
      cancelled = true;
      timer?.cancel();
    },
  };
}
