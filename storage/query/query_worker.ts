/**
 * The query pool's worker entry (piscina loads its compiled form): one shard's query — read the
 * planned blocks from the data files (opened here by path and read with blocking calls, as this
 * thread has nothing else to do meanwhile; the shard store keeps the files alive until the task
 * settles), merge, lay the memtable rows over them, filter and aggregate — returning only the
 * shard's answer.
 */
import type { BlockRows } from '../../storage/block.js';
import { openBlockingReader } from '../../storage/fs.js';
import { readBlocksAt } from '../../storage/part.js';
import { settle, type Result } from '../../runtime/thread_envelope.js';
import type { PartReader, ScanPlan } from '../../storage/scan_plan.js';
import type { QueryPlan } from './plan.js';
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
}

/** Runs a query task on this thread; never throws (a failure comes back as data). */
export function runQueryTask(task: QueryTask): Promise<Result<ShardResult>> {
  return settle(async () => {
    const scan = task.scan;
    const read: PartReader = async (p, _i, range, projection) => {
      const data = openBlockingReader(p.dataPath);
      try {
        return await readBlocksAt(data, p.dataPath, p.schema, p.entries, projection, range);
      } finally {
        await data.close();
      }
    };
    return runOnShard(task.plan, new Map(task.mem), scan, read, task.budgetRows);
  });
}

export default runQueryTask;
