/**
 * The pool for shard queries (query_worker.ts): reading and decoding blocks, merging and
 * aggregating run on worker threads, so the data actor's thread keeps applying the WAL and the
 * shards of one query run in parallel on several cores. One pool per data node; its owner
 * `destroy()`s it after closing the shards.
 */
import { packScan } from '../portable_scan.js';
import { WorkerPool } from '../worker_pool.js';
import type { QueryAnswer, QueryTask, QueryTaskMessage } from './query_worker.js';

/** Runs shard queries on worker threads. */
export class QueryPool {
  private constructor(private readonly pool: WorkerPool<QueryTaskMessage, QueryAnswer>) {}

  /** Starts `threads` worker threads; the caller must `destroy()` the pool. */
  static async create(opts: { threads: number }): Promise<QueryPool> {
    return new QueryPool(
      WorkerPool.create(new URL('./query_worker.js', import.meta.url), { name: 'query', threads: opts.threads }),
    );
  }

  /**
   * Runs one shard's query: its result, or its reply page when `task.page`. Errors come back as
   * their class (CorruptDataError naming its file).
   */
  run(task: QueryTask): Promise<QueryAnswer> {
    return this.pool.run({ ...task, scan: task.scan && packScan(task.scan) });
  }

  /** Stops every thread; pending tasks reject. Idempotent. */
  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
