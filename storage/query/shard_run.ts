/**
 * A shard's half of a query within a memory budget (issue: bounded memory). The rows a query reads
 * are not held at once: when the planned blocks and the memtable's rows come to more than
 * `budgetRows`, the range is cut into time windows of about that many rows each (rows assumed
 * evenly spread over each block's span), and each window is read, merged and overlaid on its own —
 * aggregations fold every window into one set of partials (in time order, so a counter's rate
 * carries over), raw rows stop at the window that completes the page. What stays is the answer:
 * the groups, or the page's rows. The memtable's rows are taken once (they are in memory anyway,
 * bounded by the flush threshold); blocks that span windows are read once per window.
 */
import { DEFAULT_QUERY_BUDGET_ROWS } from '../../transport/limits.js';
import { sliceBlockRows, type BlockRows, type TimeRange } from '../block.js';
import { runScanPlan, windowScan, type PartReader, type ScanPlan } from '../scan_plan.js';
import type { ShardStore } from '../shard_store.js';
import { ShardAggregation } from './aggregate.js';
import { aggregateAlone, splitAlone } from './block_series.js';
import { foldSpec } from './block_fold.js';
import { compileCriteria } from './criteria.js';
import type { QueryPlan } from './plan.js';
import {
  firstRows,
  overlaySeries,
  shardScanQueries,
  storeQueryAfter,
  type MemtableScanQuery,
  type ShardResult,
  type StoreScanQuery,
} from './shard_exec.js';
import { appendRows, type ShardRows } from './shard_rows.js';

export { DEFAULT_QUERY_BUDGET_ROWS } from '../../transport/limits.js';

/** What a shard reads rows from: its memtable snapshot first, then its store (see Memtable.scan). */
export interface ShardSource {
  memtableScan(q: MemtableScanQuery): Map<string, BlockRows>;
  /** The store's reads of `q`, planned, and a reader of its parts (ShardStore.planRead). */
  storePlan(q: StoreScanQuery): { plan: ScanPlan; read: PartReader };
  /** Keeps the planned parts on disk while `p` runs (ShardStore.trackScan). */
  track<T>(p: Promise<T>): Promise<T>;
}

/** The ShardSource of a memtable scan and a shard store. */
export function shardSource(
  memtableScan: (q: MemtableScanQuery) => Map<string, BlockRows>,
  store: Pick<ShardStore, 'planRead' | 'trackScan'>,
): ShardSource {
  return { memtableScan, storePlan: (q) => store.planRead(q), track: (p) => store.trackScan(p) };
}

/**
 * Runs `plan` on one shard, holding about `budgetRows` rows at once (shard_run.ts): the memtable
 * first (a batch it hands to the store meanwhile is then seen by the store scan).
 */
export async function executeOnShard(
  plan: QueryPlan,
  src: ShardSource,
  budgetRows = DEFAULT_QUERY_BUDGET_ROWS,
): Promise<ShardResult> {
  const q = shardScanQueries(plan);
  const mem = q.memtable ? src.memtableScan(q.memtable) : new Map<string, BlockRows>();
  if (!q.store) return runOnShard(plan, mem, null, async () => [], budgetRows);
  const { plan: scan, read } = src.storePlan(storeQueryAfter(q.store, mem));
  return src.track(runOnShard(plan, mem, scan, read, budgetRows));
}

/**
 * The shard's answer from the memtable's rows and the store's planned reads (`read` reads a part's
 * blocks), holding about `budgetRows` rows at once (file header).
 */
export async function runOnShard(
  plan: QueryPlan,
  mem: ReadonlyMap<string, BlockRows>,
  scan: ScanPlan | null,
  read: PartReader,
  budgetRows: number,
): Promise<ShardResult> {
  const match = plan.criteria === null ? null : compileCriteria(plan.criteria, plan.tag_types);
  const range = { minTs: plan.min_ts, maxTs: plan.max_ts };
  const windows =
    range.minTs > range.maxTs || rowsAtMost(mem, scan) <= budgetRows
      ? [range]
      : planWindows(spansOf(mem, scan), range, budgetRows);
  const whole = windows.length === 1;
  const seriesIn = async (w: TimeRange) => {
    const stored = scan ? await runScanPlan(whole ? scan : windowScan(scan, w), read) : new Map<string, BlockRows>();
    return overlaySeries(plan, whole ? mem : memIn(mem, w), stored);
  };
  if (plan.group_by !== null) {
    const acc = new ShardAggregation(plan, match, scan?.summaries);
    const fold = foldSpec(plan);
    for (const w of windows) {
      const wmem = whole ? mem : memIn(mem, w);
      if (!scan) {
        acc.add(overlaySeries(plan, wmem, new Map()));
        continue;
      }
      // Series whose blocks need no merge are aggregated block by block (block_series.ts).
      const split = splitAlone(whole ? scan : windowScan(scan, w), wmem, plan.element_id_column !== null);
      await aggregateAlone(plan, acc, split.alone, read, fold);
      acc.add(overlaySeries(plan, wmem, await runScanPlan(split.merged, read)));
    }
    return { groups: acc.finish() };
  }
  if (plan.order === 'desc') windows.reverse();
  let keep = plan.offset + plan.limit + 1;
  let rows: ShardRows | null = null;
  for (const w of windows) {
    const r = firstRows(plan, await seriesIn(w), match, keep);
    rows = rows === null ? r : appendRows(rows, r);
    keep -= r.ts.length;
    if (keep <= 0) break;
  }
  return { rows: rows! };
}

/** A stretch of rows: a planned block, or a series' memtable rows. */
export interface RowSpan {
  minTs: number;
  maxTs: number;
  rows: number;
}

/** Every row the planned blocks and the memtable hold: when within the budget, one window takes them all. */
function rowsAtMost(mem: ReadonlyMap<string, BlockRows>, scan: ScanPlan | null): number {
  let n = 0;
  for (const p of scan?.parts ?? []) for (const e of p.entries) n += e.rowCount;
  for (const r of mem.values()) n += r.timestamps.length;
  return n;
}

function spansOf(mem: ReadonlyMap<string, BlockRows>, scan: ScanPlan | null): RowSpan[] {
  const out: RowSpan[] = [];
  for (const p of scan?.parts ?? [])
    for (const e of p.entries) out.push({ minTs: e.minTs, maxTs: e.maxTs, rows: e.rowCount });
  for (const r of mem.values()) {
    const n = r.timestamps.length;
    if (n > 0) out.push({ minTs: r.timestamps[0]!, maxTs: r.timestamps[n - 1]!, rows: n });
  }
  return out;
}

/** The rows of `s` expected in [lo, hi], its rows spread evenly over its span. */
export function rowsIn(s: RowSpan, lo: number, hi: number): number {
  const a = Math.max(lo, s.minTs);
  const b = Math.min(hi, s.maxTs);
  if (a > b) return 0;
  return s.maxTs === s.minTs ? s.rows : (s.rows * (b - a + 1)) / (s.maxTs - s.minTs + 1);
}

/**
 * Consecutive windows covering `range`, each expected to hold at most `budget` rows of `spans`
 * (halved until they do, down to one millisecond). Pure; ascending.
 */
export function planWindows(spans: readonly RowSpan[], range: TimeRange, budget: number): TimeRange[] {
  const out: TimeRange[] = [];
  const cut = (lo: number, hi: number, inside: readonly RowSpan[]) => {
    let total = 0;
    for (const s of inside) total += rowsIn(s, lo, hi);
    if (total <= budget || hi <= lo) {
      out.push({ minTs: lo, maxTs: hi });
      return;
    }
    const mid = lo + Math.floor((hi - lo) / 2);
    cut(
      lo,
      mid,
      inside.filter((s) => s.minTs <= mid && s.maxTs >= lo),
    );
    cut(
      mid + 1,
      hi,
      inside.filter((s) => s.maxTs > mid && s.minTs <= hi),
    );
  };
  cut(range.minTs, range.maxTs, spans);
  return out;
}

/** The memtable's rows inside `w`, per series. */
export function memIn(mem: ReadonlyMap<string, BlockRows>, w: TimeRange): Map<string, BlockRows> {
  const out = new Map<string, BlockRows>();
  for (const [sid, r] of mem) {
    const ts = r.timestamps;
    const a = lowerBound(ts, w.minTs);
    const b = lowerBound(ts, w.maxTs + 1);
    if (b > a) out.set(sid, a === 0 && b === ts.length ? r : sliceBlockRows(r, a, b));
  }
  return out;
}

/** The first index whose value is ≥ v in ascending `a`. */
function lowerBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (a[m]! < v) lo = m + 1;
    else hi = m;
  }
  return lo;
}
