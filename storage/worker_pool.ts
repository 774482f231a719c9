/**
 * The one piscina pool class: a fixed set of worker threads running one compiled entry module
 * (runtime/compiled_entry.ts). Part encoding and shard queries each create one. Ownership: whoever
 * creates a pool `destroy()`s it, after its last task settled.
 */
import { Piscina } from 'piscina';
import { compiledEntry, withoutTsx } from '../runtime/compiled_entry.js';
import { unwrap, type Result } from '../runtime/thread_envelope.js';
import { errors } from '../transport/errors.js';
import { storageErrorOf } from './errors.js';

const noop = () => undefined;

/** Options of `WorkerPool.create`. */
export interface WorkerPoolOptions {
  /** What the pool is for, in messages. */
  name: string;
  /** Worker threads; default 1. */
  threads?: number;
  /** An idle thread exits after this long and is restarted on demand; default: threads stay. */
  idleTimeoutMs?: number;
}

/** A pool of worker threads whose tasks answer the thread envelope (`Result<R>`). */
export class WorkerPool<T, R> {
  private destroyed = false;

  private constructor(
    private readonly piscina: Piscina,
    private readonly name: string,
    /** Threads in the pool. */
    readonly threads: number,
  ) {
    // A thread that dies rejects the task it ran; unheard, the pool's 'error' would end the process.
    piscina.on('error', noop);
  }

  /** Starts a pool running `entry`; the caller must `destroy()` it. */
  static create<T, R>(entry: URL, opts: WorkerPoolOptions): WorkerPool<T, R> {
    const threads = opts.threads ?? 1;
    if (!Number.isSafeInteger(threads) || threads < 1)
      throw errors.invalidArgument(`options.threads must be a positive integer, got ${threads}`);
    const idle = opts.idleTimeoutMs;
    if (idle !== undefined && !(Number.isSafeInteger(idle) && idle > 0)) {
      throw errors.invalidArgument(`options.idleTimeoutMs must be a positive integer, got ${idle}`);
    }
    const piscina = new Piscina({
      filename: compiledEntry(entry).href,
      // piscina require()s its entry before it tries import(). Node 20.19+ and 22 then load our ESM
      // entry through require(esm), which can abort the whole process with a V8 fatal error
      // ("IsGraphAsync must be used on an instantiated module") when a thread is torn down while
      // it loads (seen when a data actor crash-looped). Turned off, require() fails at once and
      // piscina imports the entry the ordinary way.
      execArgv: [...withoutTsx(process.execArgv), '--no-experimental-require-module'],
      minThreads: idle === undefined ? threads : 0,
      maxThreads: threads,
      idleTimeout: idle ?? Infinity,
    });
    return new WorkerPool<T, R>(piscina, opts.name, threads);
  }

  /** Runs `task` on a worker; a failure is rethrown as its storage error (CorruptDataError names its file). */
  async run(task: T, opts: { transferList?: ArrayBuffer[]; signal?: AbortSignal } = {}): Promise<R> {
    if (this.destroyed) throw errors.failedPrecondition(`${this.name} pool is destroyed`);
    const r = (await this.piscina.run(task, { transferList: opts.transferList, signal: opts.signal })) as Result<R>;
    return unwrap(r, storageErrorOf);
  }

  /** Stops every thread; pending tasks reject. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.piscina.destroy();
  }
}
