/**
 * The pool for the CPU-heavy storage work (part_tasks.ts: encoding flushed parts, merging parts),
 * so a shard actor's event loop keeps applying the WAL and answering queries meanwhile. One pool
 * can serve every shard store of a process; its creator destroys it after closing those stores.
 *
 * Data crosses threads as follows: merge inputs (data files read for the merge, owned by the
 * merge) and the encoded results are transferred, not copied; the typed columns of a flush are
 * copied (then moved) and its strings cloned, because the caller's memtable keeps reading them
 * (in-flight rows) while the flush runs.
 */
import { unwrap } from '../runtime/thread_envelope.js';
import { storageErrorOf } from './errors.js';
import type { EncodedPart } from './part_encode.js';
import { forTransfer, runPartTask, type PartTask } from './part_tasks.js';
import { WorkerPool } from './worker_pool.js';

/** Options of `PartPool.create`. */
export interface PartPoolOptions {
  /** Worker threads; default 1. */
  threads?: number;
  /** An idle thread exits after this long and is restarted on demand; default: threads stay. */
  idleTimeoutMs?: number;
}

/** Where the store runs its part tasks: on a pool, or inline when it has none. */
export interface PartRunner {
  run(task: PartTask, signal?: AbortSignal): Promise<EncodedPart>;
}

/** Runs tasks on the calling thread (a store without a pool). */
export const inlineRunner: PartRunner = {
  run: async (task) => unwrap(runPartTask(task), storageErrorOf),
};

/** A pool of worker threads encoding and merging parts. */
export class PartPool implements PartRunner {
  private constructor(private readonly pool: WorkerPool<PartTask, EncodedPart>) {}

  /** Threads in the pool. */
  get threads(): number {
    return this.pool.threads;
  }

  /** Starts a pool (`threads` default 1); the caller must `destroy()` it. */
  static async create(opts: PartPoolOptions = {}): Promise<PartPool> {
    return new PartPool(WorkerPool.create(new URL('./part_worker.js', import.meta.url), { name: 'part', ...opts }));
  }

  /** Runs `task` on a worker. The task's merge inputs are transferred: the caller must not touch them afterwards. */
  run(task: PartTask, signal?: AbortSignal): Promise<EncodedPart> {
    const moved = forTransfer(task);
    return this.pool.run(moved.task, { transferList: moved.transfer, signal });
  }

  /** Stops every thread; pending tasks reject. Idempotent. */
  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
