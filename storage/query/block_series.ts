/**
 * The aggregation's short way through a scan: a series whose planned blocks do not overlap one
 * another in time and which has no memtable rows in the query has each of its keys in one block
 * only, so no newer write can replace any of its rows. Its blocks are then aggregated one by one
 * as they are decoded — no merge, no copy into one array per series, and no row versions read
 * (they only pick between two rows of one key). Every other series goes the merged way
 * (scan_plan.ts's runScanPlan, then the memtable laid over it).
 */
import type { BlockRows } from '../block.js';
import { VERSION_COLUMN } from '../point_version.js';
import { readPlanBlocks, type PartReader, type ScanPlan } from '../scan_plan.js';
import type { SeriesCols } from './aggregate.js';
import type { QueryPlan } from './plan.js';
import { neededColumns, seriesColsOf } from './shard_exec.js';

/** A plan split in two, each keeping every part in its place (a reader knows parts by index). */
export interface BlockSplit {
  /** Blocks of series read block by block. */
  alone: ScanPlan;
  /** Blocks of series that need the merged read. */
  merged: ScanPlan;
}

/**
 * Splits `scan` by series: a measure's series without rows in `mem` whose blocks are disjoint in
 * time (each starts after the previous one ends) are `alone`. Pure.
 */
export function splitAlone(scan: ScanPlan, mem: ReadonlyMap<string, BlockRows>, keyed: boolean): BlockSplit {
  const spans = new Map<string, [number, number][]>();
  for (const p of scan.parts)
    for (const e of p.entries) {
      const list = spans.get(e.seriesId);
      if (list) list.push([e.minTs, e.maxTs]);
      else spans.set(e.seriesId, [[e.minTs, e.maxTs]]);
    }
  const alone = new Set<string>();
  // Rows keyed by an element id as well may share a timestamp across blocks: always merged.
  if (!keyed)
    for (const [sid, list] of spans) {
      if (mem.has(sid)) continue;
      list.sort((a, b) => a[0] - b[0]);
      let ok = true;
      for (let k = 1; k < list.length && ok; k++) ok = list[k]![0] > list[k - 1]![1];
      if (ok) alone.add(sid);
    }
  const part = (keep: boolean): ScanPlan => ({
    ...scan,
    parts: scan.parts.map((p) => ({ ...p, entries: p.entries.filter((e) => alone.has(e.seriesId) === keep) })),
  });
  return { alone: part(true), merged: part(false) };
}

/**
 * The rows of `alone`'s blocks, one SeriesCols per block with rows in the range, in the plan's
 * columns, ordered by series id then time (what ShardAggregation.add expects of one series).
 */
export async function readAlone(plan: QueryPlan, alone: ScanPlan, read: PartReader): Promise<SeriesCols[]> {
  const projection = alone.projection && {
    ...alone.projection,
    fields: alone.projection.fields?.filter((f) => f !== VERSION_COLUMN),
  };
  const out: SeriesCols[] = [];
  const { tags, fields } = neededColumns(plan);
  await readPlanBlocks(alone, read, projection, (rows, _part, sid) =>
    out.push(seriesColsOf(sid, rows, plan, tags, fields)),
  );
  return out.sort((a, b) => (a.sid < b.sid ? -1 : a.sid > b.sid ? 1 : a.ts[0]! - b.ts[0]!));
}
