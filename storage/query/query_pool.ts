/**
 * A piscina pool for shard queries (query_worker.ts): reading and decoding blocks, merging and
 * aggregating run on worker threads, so the data actor's thread keeps applying the WAL and the
 * shards of one query run in parallel on several cores. One pool per data node; its owner
 * `destroy()`s it after closing the shards.
 */
import { Piscina } from 'piscina';
import { errors } from '../../transport/errors.js';
import { workerEntry } from '../../storage/part_pool.js';
import { errorOf } from '../../storage/part_tasks.js';
import type { ShardResult } from './shard_exec.js';
import type { QueryTask, QueryTaskResult } from './query_worker.js';

const noop = () => undefined;

/** Runs shard queries on worker threads. */
export class QueryPool {
  private destroyed = false;

  private constructor(private readonly piscina: Piscina) {
    piscina.on('error', noop); // a dying thread rejects its task; unheard, 'error' would end the process
  }

  /** Starts `threads` worker threads; the caller must `destroy()` the pool. */
  static async create(opts: { threads: number }): Promise<QueryPool> {
    if (!Number.isSafeInteger(opts.threads) || opts.threads < 1) throw errors.invalidArgument(`threads must be a positive integer, got ${opts.threads}`);
    const entry = await workerEntry(new URL('./query_worker.ts', import.meta.url));
    return new QueryPool(new Piscina({ ...entry, minThreads: opts.threads, maxThreads: opts.threads, idleTimeout: Infinity }));
  }

  /** Runs one shard's query; errors come back as their class (CorruptDataError naming its file). */
  async run(task: QueryTask): Promise<ShardResult> {
    if (this.destroyed) throw errors.failedPrecondition('query pool is destroyed');
    const r = (await this.piscina.run(task)) as QueryTaskResult;
    if (!r.ok) throw errorOf(r.error);
    return r.result;
  }

  /** Stops every thread; pending tasks reject. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.piscina.destroy();
  }
}
