/**
 * The query pool's worker entry (piscina loads it; from TypeScript sources query_pool.ts bundles it
 * into plain JS first): one shard's query — read the planned blocks from the data files (opened
 * here by path; the shard store keeps them alive until the task settles), merge, lay the memtable
 * rows over them, filter and aggregate — returning only the shard's answer.
 */
import type { BlockRows } from '../../storage/block.js';
import { nodeFs } from '../../storage/fs.js';
import { readBlocksAt } from '../../storage/part.js';
import { failureOf, type PartTaskFailure } from '../../storage/part_tasks.js';
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

/** A task's outcome: errors travel as data (an Error loses its class crossing threads). */
export type QueryTaskResult = { ok: true; result: ShardResult } | { ok: false; error: PartTaskFailure };

/** Runs a query task on this thread; never throws. */
export async function runQueryTask(task: QueryTask): Promise<QueryTaskResult> {
  try {
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
    return { ok: true, result: finishOnShard(task.plan, new Map(task.mem), stored) };
  } catch (err) {
    return { ok: false, error: failureOf(err) };
  }
}

export default runQueryTask;
