/**
 * The query pool's worker entry (piscina loads its compiled form): one shard's query — read the
 * planned blocks from the data files (opened here by path and read with blocking calls, as this
 * thread has nothing else to do meanwhile; the shard store keeps the files alive until the task
 * settles), merge, lay the memtable rows over them, filter and aggregate — returning only the
 * shard's answer, or, for the only shard of a query, the client's encoded reply page (moved to the
 * shard's thread, not copied).
 */
import { Piscina } from 'piscina';
import type { BlockRows } from '../../storage/block.js';
import { openBlockingReader } from '../../storage/fs.js';
import { BLOCKING_COALESCE_GAP_BYTES, readBlocksAt } from '../../storage/part.js';
import { settle, type Result } from '../../runtime/thread_envelope.js';
import type { PartReader, ScanPlan } from '../../storage/scan_plan.js';
import { unpackScan, type PortableScan } from '../../storage/portable_scan.js';
import { singleShardPage } from './page.js';
import type { QueryPlan } from './plan.js';
import type { PageRequest } from './shard_request.js';
import type { ShardResult } from './shard_exec.js';
import { runOnShard } from './shard_run.js';

/** One shard's query as a message. */
export interface QueryTask {
  plan: QueryPlan;
  /** The memtable's rows per series id (taken on the shard's thread). */
  mem: [string, BlockRows][];
  /** The store's blocks to read, or null for none. */
  scan: ScanPlan | null;
  /** Rows held at once (shard_run.ts). */
  budgetRows: number;
  /** Answer with the client's reply page (ShardQueryRequest.page). */
  page?: PageRequest;
}

/** A task as it crosses to the worker: its scan packed (portable_scan.ts). */
export type QueryTaskMessage = Omit<QueryTask, 'scan'> & { scan: PortableScan | null };

/** A task's answer: the shard's result, or the client's encoded reply page when the task asked one. */
export type QueryAnswer = ShardResult | Uint8Array;

/** Runs a query task on this thread; never throws (a failure comes back as data). */
export async function runQueryTask(task: QueryTaskMessage): Promise<Result<QueryAnswer>> {
  const r = await settle(async (): Promise<QueryAnswer> => {
    const scan = task.scan && unpackScan(task.scan);
    const read: PartReader = async (p, _i, decode) => {
      const data = openBlockingReader(p.dataPath);
      try {
        return await readBlocksAt(data, p.dataPath, p.entries, decode, BLOCKING_COALESCE_GAP_BYTES);
      } finally {
        await data.close();
      }
    };
    const result = await runOnShard(task.plan, new Map(task.mem), scan, read, task.budgetRows);
    return task.page ? singleShardPage(task.plan, result, task.page) : result;
  });
  if (!r.ok || !(r.value instanceof Uint8Array)) return r;
  // The page's buffer is its own (codec.ts encodes into a fresh one): moved, not cloned.
  const buffer = r.value.buffer as ArrayBuffer;
  const movable = {
    get [Piscina.transferableSymbol]() {
      return buffer;
    },
    get [Piscina.valueSymbol]() {
      return r;
    },
  };
  // piscina sends the value and transfers the buffer; its types do not know our own transferable.
  return Piscina.move(movable as unknown as ArrayBuffer) as unknown as Result<QueryAnswer>;
}

export default runQueryTask;
