/**
 * Which blocks an aggregation reads from their statistics instead of decoding them (issue: block
 * statistics). Pure decisions; the store applies them when it plans a scan (shard_scan.ts) and
 * aggregate.ts folds the summaries into the groups.
 *
 * A block is summarized only when its statistics give exactly what decoding it would add:
 * - the query: groups keyed by entity tags only (constant in a series), count/sum/min/max/mean,
 *   criteria on entity tags only (a series matches whole or not at all), a measure (no element
 *   ids);
 * - the block: it has statistics (storage version 3), lies wholly inside the query's range and,
 *   when bucketed, wholly inside one bucket; its part's schema holds every aggregated field; and
 *   no other block of its series (in any part) nor the memtable's rows of the series overlap its
 *   time range — otherwise a newer write may replace some of its rows, and only a merged read
 *   knows which.
 * Every series keeps one decoded block at least: its rows carry the tag values its group and
 * criteria need (the block with the fewest rows is kept).
 */
import type { FieldStats } from '../block_stats.js';
import type { BlockSchema } from '../block.js';
import type { BlockEntry } from '../part_format.js';
import { criteriaNames } from './criteria.js';
import { aggregatedFields, type QueryPlan } from './plan.js';

/** A block answered from its statistics. */
export interface BlockSummary {
  minTs: number;
  maxTs: number;
  rows: number;
  /** Per aggregated field. */
  stats: Record<string, FieldStats>;
}

/** What a summarizing scan needs from the query and the memtable. */
export interface SummarizeSpec {
  /** The aggregated fields. */
  fields: readonly string[];
  /** The bucketing, if any: a summarized block lies in one bucket. */
  bucket: { every_ms: number; offset_ms: number } | null;
  /** Per series, the time range of the memtable's rows in the query: blocks they overlap are decoded. */
  busy?: ReadonlyMap<string, readonly [number, number]>;
}

const SUMMABLE = new Set(['count', 'sum', 'min', 'max', 'mean']);

/**
 * Whether `plan` is an aggregation that per-field statistics (count, sum, min, max) of its rows
 * answer — every aggregation and the top-N's among count/sum/min/max/mean — whose criteria name
 * no field (so they keep or drop rows by their tags alone).
 */
export function statsAnswer(plan: QueryPlan): boolean {
  if (plan.group_by === null || plan.element_id_column !== null) return false;
  if (!plan.aggs.every((a) => SUMMABLE.has(a.fn))) return false;
  if (plan.top !== null && !SUMMABLE.has(plan.top.agg.fn)) return false;
  return criteriaNames(plan.criteria).fields.length === 0;
}

/** The summarizing spec of `plan`, or null when its answer cannot come from block statistics. */
export function summarizeSpec(plan: QueryPlan): SummarizeSpec | null {
  if (!statsAnswer(plan)) return null;
  const entity = new Set(plan.entity);
  if (!plan.group_by!.every((t) => entity.has(t))) return null;
  if (!criteriaNames(plan.criteria).tags.every((t) => entity.has(t))) return null;
  const fields = aggregatedFields(plan);
  const bucket = plan.bucket === null ? null : { every_ms: plan.bucket.every_ms, offset_ms: plan.bucket.offset_ms };
  return { fields, bucket };
}

/** Blocks of one part a scan would read. */
export interface PartBlocks {
  schema: BlockSchema;
  entries: readonly BlockEntry[];
}

/** What a summarizing scan decodes (per part, in file order) and what it takes from statistics (per series). */
export interface SummarySplit {
  decode: BlockEntry[][];
  summaries: Map<string, BlockSummary[]>;
}

/** Splits the blocks of `parts` (all overlapping the range [minTs, maxTs]) into decoded and summarized ones. */
export function splitSummarized(
  parts: readonly PartBlocks[],
  range: { minTs: number; maxTs: number },
  spec: SummarizeSpec,
): SummarySplit {
  type Cand = { part: number; e: BlockEntry; summary: BlockSummary | null };
  const bySeries = new Map<string, Cand[]>();
  parts.forEach((p, part) => {
    const at = spec.fields.map((f) => p.schema.fields.findIndex((x) => x.name === f));
    const hasAll = at.every((i) => i >= 0);
    for (const e of p.entries) {
      let summary: BlockSummary | null = null;
      if (hasAll && e.stats !== null && inside(e, range, spec)) {
        const stats: Record<string, FieldStats> = {};
        spec.fields.forEach((f, j) => (stats[f] = e.stats![at[j]!]!));
        summary = { minTs: e.minTs, maxTs: e.maxTs, rows: e.rowCount, stats };
      }
      const list = bySeries.get(e.seriesId);
      if (list) list.push({ part, e, summary });
      else bySeries.set(e.seriesId, [{ part, e, summary }]);
    }
  });
  const summaries = new Map<string, BlockSummary[]>();
  const summarized = new Set<BlockEntry>();
  for (const [sid, list] of bySeries) {
    list.sort((a, b) => a.e.minTs - b.e.minTs);
    const busy = spec.busy?.get(sid);
    let reach = -Infinity; // the latest maxTs of the blocks before k
    const chosen: Cand[] = [];
    for (let k = 0; k < list.length; k++) {
      const c = list[k]!;
      const next = list[k + 1];
      const alone =
        reach < c.e.minTs &&
        (next === undefined || next.e.minTs > c.e.maxTs) &&
        (busy === undefined || busy[1] < c.e.minTs || busy[0] > c.e.maxTs);
      if (alone && c.summary !== null) chosen.push(c);
      if (c.e.maxTs > reach) reach = c.e.maxTs;
    }
    // Keep one block decoded for the series' tag values: the smallest.
    if (chosen.length === list.length) {
      let k = 0;
      for (let j = 1; j < chosen.length; j++) if (chosen[j]!.e.rowCount < chosen[k]!.e.rowCount) k = j;
      chosen.splice(k, 1);
    }
    if (chosen.length === 0) continue;
    for (const c of chosen) summarized.add(c.e);
    summaries.set(sid, foldSummaries(chosen, spec));
  }
  const decode = parts.map((p) =>
    summarized.size === 0 ? [...p.entries] : p.entries.filter((e) => !summarized.has(e)),
  );
  return { decode, summaries };
}

/**
 * One summary per bucket (one in all, unbucketed) of a series' chosen blocks, in time order: the
 * aggregation adds only their sums, so fewer of them cost less to pass to a worker and to fold.
 */
function foldSummaries(chosen: readonly { summary: BlockSummary | null }[], spec: SummarizeSpec): BlockSummary[] {
  const out: BlockSummary[] = [];
  let last: BlockSummary | null = null;
  let lastBucket = NaN;
  for (const { summary } of chosen) {
    const b = summary!;
    const bucket = spec.bucket === null ? 0 : Math.floor((b.minTs - spec.bucket.offset_ms) / spec.bucket.every_ms);
    if (last === null || bucket !== lastBucket) {
      last = { ...b, stats: { ...b.stats } };
      lastBucket = bucket;
      out.push(last);
      continue;
    }
    last.minTs = Math.min(last.minTs, b.minTs);
    last.maxTs = Math.max(last.maxTs, b.maxTs);
    last.rows += b.rows;
    for (const f of spec.fields) {
      const x = last.stats[f]!;
      const y = b.stats[f]!;
      last.stats[f] = { n: x.n + y.n, sum: x.sum + y.sum, min: Math.min(x.min, y.min), max: Math.max(x.max, y.max) };
    }
  }
  return out;
}

/** Whether block `e` lies wholly inside the range and, when bucketed, inside one bucket. */
function inside(e: BlockEntry, range: { minTs: number; maxTs: number }, spec: SummarizeSpec): boolean {
  if (e.minTs < range.minTs || e.maxTs > range.maxTs) return false;
  const b = spec.bucket;
  if (b === null) return true;
  const start = (ts: number) => Math.floor((ts - b.offset_ms) / b.every_ms);
  return start(e.minTs) === start(e.maxTs);
}
