/**
 * CPU priority of one thread. On Linux the nice value belongs to a thread, not to the process, and
 * a thread started later (a worker, a pool thread) inherits its creator's. A data shard's thread
 * lowers its own before it starts its pools, so its apply, copy, flush and merge work yields the
 * CPU to the threads that acknowledge writes and answer the API when a small host is saturated,
 * the way databases run compactions at a lower priority.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Highest nice value Linux accepts (the lowest priority). */
export const MAX_NICE = 19;

/**
 * Runs `set` with the calling thread's kernel id on Linux; null when done, else why it could not be
 * (another OS, no /proc): the threads then run as before.
 */
function withThreadId(set: (self: number) => void): string | null {
  if (process.platform !== 'linux') return `thread priorities are only set on Linux (this is ${process.platform})`;
  try {
    // "<pid>/task/<tid>": the kernel's id of this very thread, which setpriority(2) takes on Linux.
    const self = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(self) || self <= 0) return 'cannot tell this thread id from /proc/thread-self';
    set(self);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Sets the calling thread's nice value to `nice` (0–MAX_NICE, checked by the node's config;
 * raising it needs no privilege). Returns null when done, else why it could not be.
 */
export function lowerThreadPriority(nice: number): string | null {
  return withThreadId((self) => setPriority(self, nice));
}

/**
 * Sets `nice` on every thread of this process but the calling one: called on the main thread at
 * start, before any worker exists, these are V8's helper threads (parallel and concurrent garbage
 * collection) and the I/O pool. Returns null when done, else why not (as lowerThreadPriority).
 */
export function lowerHelperThreads(nice: number): string | null {
  return withThreadId((self) => {
    for (const name of readdirSync('/proc/self/task')) if (Number(name) !== self) setPriority(Number(name), nice);
  });
}
