/**
 * A piscina pool for the CPU-heavy storage work (part_tasks.ts: encoding flushed parts, merging
 * parts), so a shard actor's event loop keeps applying the WAL and answering queries meanwhile.
 * Ownership: whoever creates a pool `destroy()`s it, after closing every store that uses it; one
 * pool can serve every shard store of a process.
 *
 * Data crosses threads as follows: merge inputs (data files read for the merge, owned by the
 * merge) and the encoded results are transferred, not copied; the typed columns of a flush are copied (then moved) and its strings cloned,
 * because the caller's memtable keeps reading them (in-flight rows) while the flush runs.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { errors } from '../transport/errors.js';
import type { EncodedPart } from './part_encode.js';
import { forTransfer, runPartTask, unwrapPartResult, type PartTask, type PartTaskResult } from './part_tasks.js';

const noop = () => undefined;

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
  run: async (task) => unwrapPartResult(runPartTask(task)),
};

/**
 * The worker entry (default part_worker.ts) and the flags its threads start with. Compiled builds load the .js twin.
 * From TypeScript sources (tests, bin/lockstep.js) the entry is bundled once into plain JS with
 * the esbuild that tsx brings, and threads start without tsx: a thread running tsx spawns its own
 * esbuild process, which a terminated thread leaves behind as a zombie. piscina stays external (one
 * instance per thread, shared with piscina's own worker code, so results can be moved).
 */
export async function workerEntry(entry: URL = new URL('./part_worker.ts', import.meta.url)): Promise<{ filename: string; execArgv?: string[] }> {
  const path = fileURLToPath(entry);
  const ext = extname(fileURLToPath(import.meta.url));
  if (ext !== '.ts') return { filename: pathToFileURL(path.replace(/\.ts$/, ext)).href };
  let b = bundled.get(path);
  if (!b) bundled.set(path, (b = bundleWorker(path)));
  const filename = await b.catch((err: unknown) => {
    bundled.delete(path);
    throw err;
  });
  return { filename, execArgv: withoutTsx(process.execArgv) };
}

/** Bundles by entry path, once per process. */
const bundled = new Map<string, Promise<string>>();

async function bundleWorker(entryPath: string): Promise<string> {
  const esbuild = await import('esbuild');
  // The CommonJS entry piscina's own worker code requires: one module instance, one kMovable symbol.
  const piscinaPath = createRequire(import.meta.url).resolve('piscina');
  const out = await esbuild.build({
    entryPoints: [entryPath],
    bundle: true,
    platform: 'node',
    // CommonJS: piscina require()s the entry first, and Node 20's require() of an ESM file that then
    // gets import()ed trips an internal assertion.
    format: 'cjs',
    target: `node${process.versions.node}`,
    write: false,
    logLevel: 'silent',
    plugins: [{ name: 'piscina-external', setup: (b) => b.onResolve({ filter: /^piscina$/ }, () => ({ path: piscinaPath, external: true })) }],
  });
  const code = out.outputFiles[0]!.contents;
  // Content-addressed: pools of one process, or of processes of one checkout, share the file.
  const stem = basename(entryPath, '.ts').replace(/_/g, '-');
  const file = join(tmpdir(), `lockstep-${stem}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.cjs`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, code);
  await rename(tmp, file);
  return pathToFileURL(file).href;
}

/** `argv` without tsx's loader flags (`--import tsx`, `--require …/tsx/…`, and their values). */
function withoutTsx(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--import' || a === '--require' || a === '--loader' || a === '-r') && /tsx/.test(argv[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (/^--(import|require|loader)=.*tsx/.test(a)) continue;
    out.push(a);
  }
  return out;
}

/** A pool of worker threads encoding and merging parts. */
export class PartPool implements PartRunner {
  private destroyed = false;

  private constructor(
    private readonly piscina: Piscina,
    /** Threads in the pool. */
    readonly threads: number,
  ) {
    // A thread that dies rejects the task it ran; unheard, the pool's 'error' would end the process.
    piscina.on('error', noop);
  }

  /** Starts a pool (`threads` default 1); the caller must `destroy()` it. */
  static async create(opts: PartPoolOptions = {}): Promise<PartPool> {
    const threads = opts.threads ?? 1;
    if (!Number.isSafeInteger(threads) || threads < 1) throw errors.invalidArgument(`options.threads must be a positive integer, got ${threads}`);
    const idle = opts.idleTimeoutMs;
    if (idle !== undefined && !(Number.isSafeInteger(idle) && idle > 0)) throw errors.invalidArgument(`options.idleTimeoutMs must be a positive integer, got ${idle}`);
    const entry = await workerEntry();
    const piscina = new Piscina({ ...entry, minThreads: idle === undefined ? threads : 0, maxThreads: threads, idleTimeout: idle ?? Infinity });
    return new PartPool(piscina, threads);
  }

  /** Runs `task` on a worker. The task's merge inputs are transferred: the caller must not touch them afterwards. */
  async run(task: PartTask, signal?: AbortSignal): Promise<EncodedPart> {
    if (this.destroyed) throw errors.failedPrecondition('part pool is destroyed');
    const moved = forTransfer(task);
    const r = (await this.piscina.run(moved.task, { transferList: moved.transfer, signal })) as PartTaskResult;
    return unwrapPartResult(r);
  }

  /** Stops every thread; pending tasks reject. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.piscina.destroy();
  }
}
