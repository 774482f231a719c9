/**
 * The aggregation's short way through a scan: a series whose planned blocks do not overlap one
 * another in time and which has no memtable rows in the query has each of its keys in one block
 * only, so no newer write can replace any of its rows. Its blocks are then aggregated one by one
 * as they are decoded — no merge, no copy into one array per series, and no row versions read
 * (they only pick between two rows of one key). Every other series goes the merged way
 * (scan_plan.ts's runScanPlan, then the memtable laid over it).
 */
import type { BlockRows } from '../block.js';
import { decodeColumns, readVerifiedBlock } from '../block_decode.js';
import { rowsDecoder, type BlockDecoder } from '../part.js';
import { VERSION_COLUMN } from '../point_version.js';
import { readPlanBlocks, type PartReader, type PlannedPart, type ScanPlan } from '../scan_plan.js';
import type { SeriesCols, ShardAggregation } from './aggregate.js';
import { foldColumns, foldIndexes, type BlockFold } from './block_fold.js';
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
  const alone = new Set<string>();
  // Rows keyed by an element id as well may share a timestamp across blocks: always merged.
  if (!keyed) {
    // Blocks usually come in time order per series (a part's are): each is checked against the
    // end of the one before. A series whose blocks come out of order (from several parts) is
    // checked again below with its blocks sorted.
    const end = new Map<string, number>();
    const recheck = new Set<string>();
    for (const p of scan.parts)
      for (const e of p.entries) {
        const prev = end.get(e.seriesId);
        if (prev === undefined || e.minTs > prev) end.set(e.seriesId, e.maxTs);
        else recheck.add(e.seriesId);
      }
    for (const sid of end.keys()) if (!recheck.has(sid) && !mem.has(sid)) alone.add(sid);
    if (recheck.size > 0) for (const sid of disjointSeries(scan, recheck, mem)) alone.add(sid);
  }
  return { alone: keepSeries(scan, alone, true), merged: keepSeries(scan, alone, false) };
}

/** Those of `sids` without rows in `mem` whose blocks in `scan`, sorted by start, each start after the previous one ends. */
function disjointSeries(scan: ScanPlan, sids: ReadonlySet<string>, mem: ReadonlyMap<string, BlockRows>): string[] {
  const spans = new Map<string, [number, number][]>();
  for (const p of scan.parts)
    for (const e of p.entries) {
      if (!sids.has(e.seriesId) || mem.has(e.seriesId)) continue;
      const list = spans.get(e.seriesId);
      if (list) list.push([e.minTs, e.maxTs]);
      else spans.set(e.seriesId, [[e.minTs, e.maxTs]]);
    }
  const out: string[] = [];
  for (const [sid, list] of spans) {
    list.sort((a, b) => a[0] - b[0]);
    let ok = true;
    for (let k = 1; k < list.length && ok; k++) ok = list[k]![0] > list[k - 1]![1];
    if (ok) out.push(sid);
  }
  return out;
}

/** `scan` with, in each part, only the blocks of series in `alone` (keep) or only the others. */
function keepSeries(scan: ScanPlan, alone: ReadonlySet<string>, keep: boolean): ScanPlan {
  const parts = scan.parts.map((p) => {
    const entries: typeof p.entries = [];
    for (const e of p.entries) if (alone.has(e.seriesId) === keep) entries.push(e);
    return { ...p, entries };
  });
  return { ...scan, parts };
}

/** A block read alone and decoded: its rows in the plan's columns. */
interface DecodedBlock {
  sid: string;
  rows: SeriesCols;
}

/**
 * Reads the blocks of `alone` with rows in its range into `acc`: folded by `fold` (the plan's
 * foldSpec) when the block allows, else decoded, in the plan's columns. A folded block is added as
 * it is read — its statistics do not depend on the order blocks come in — so a query holds no
 * block's fold past its read; decoded blocks are added last, ordered by series id then time (the
 * order ShardAggregation takes one series' rows in).
 */
export async function aggregateAlone(
  plan: QueryPlan,
  acc: ShardAggregation,
  alone: ScanPlan,
  read: PartReader,
  fold: BlockFold | null,
): Promise<void> {
  const projection = alone.projection && {
    ...alone.projection,
    fields: alone.projection.fields?.filter((f) => f !== VERSION_COLUMN),
  };
  const range = alone.range;
  // A folded block is added as soon as it is folded (the fold is this thread's, reused by the next
  // block): the read keeps nothing of it. A block the fold cannot take comes back decoded.
  const decoderOf = (p: PlannedPart): BlockDecoder<BlockRows | null> => {
    if (fold === null) return rowsDecoder(p.schema, projection, range);
    const at = foldIndexes(p.schema, fold);
    return (bytes, e, path, where) =>
      readVerifiedBlock(path, bytes, p.schema, where, (h) => {
        const folded = foldColumns(bytes, h, at, fold, range);
        if (folded === null) return decodeColumns(bytes, h, p.schema, projection, range);
        if (folded.runs > 0) acc.addFolded(e.seriesId, folded, fold.tags);
        return null;
      });
  };
  const decoded: DecodedBlock[] = [];
  const { tags, fields } = neededColumns(plan);
  // One part at a time when folding: blocks are then added in plan order, so the same query adds
  // its sums in the same order every time (a query thread's blocking reads overlap nothing anyway).
  await readPlanBlocks(
    alone,
    read,
    decoderOf,
    (b, _part, sid) => {
      if (b !== null && b.timestamps.length > 0) decoded.push({ sid, rows: seriesColsOf(sid, b, plan, tags, fields) });
    },
    fold === null ? undefined : 1,
  );
  if (decoded.length > 0) acc.add(decoded.sort(bySeriesThenTime).map(rowsOf));
}

function bySeriesThenTime(a: DecodedBlock, b: DecodedBlock): number {
  return a.sid < b.sid ? -1 : a.sid > b.sid ? 1 : a.rows.ts[0]! - b.rows.ts[0]!;
}

function rowsOf(b: DecodedBlock): SeriesCols {
  return b.rows;
}
