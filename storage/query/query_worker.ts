/**
 * The query pool's worker entry (piscina loads its compiled form): one shard's query — read the planned blocks from the data files (opened
 * here by path; the shard store keeps them alive until the task settles), merge, lay the memtable
 * rows over them, filter and aggregate — returning only the shard's answer.
 */
import type { BlockRows } from '../../storage/block.js';
import { nodeFs } from '../../storage/fs.js';
import { readBlocksAt } from '../../storage/part.js';
import { settle, type Result } from '../../runtime/thread_envelope.js';
import { runScanPlan, type ScanPlan } from '../../storage/scan_plan.js';
import type { QueryPlan } from './plan.js';
import { finishOnShard, type ShardResult } from './shard_exec.js';

/** One shard's query as a message. */
export interface QueryTask {
  plan: QueryPlan;
  /** The memtable's rows per series id (taken on the shard's thread). */
  mem: [string, BlockRows][];
  /** The store's blocks to read, or null for none. */
  scan: ScanPlan | null;
}

/** Runs a query task on this thread; never throws (a failure comes back as data). */
export function runQueryTask(task: QueryTask): Promise<Result<ShardResult>> {
  return settle(async () => {
    const scan = task.scan;
    const stored = scan
      ? await runScanPlan(scan, async (p) => {
          const data = await nodeFs.open(p.dataPath, 'r');
          try {
            return await readBlocksAt(data, p.dataPath, p.schema, p.entries, scan.projection, scan.range);
          } finally {
            await data.close();
          }
        })
      : new Map<string, BlockRows>();
    return finishOnShard(task.plan, new Map(task.mem), stored, scan?.summaries);
  });
}

export default runQueryTask;
