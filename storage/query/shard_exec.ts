/**
 * A query plan run on ONE shard (DESIGN §7): the memtable's rows laid over the store's merged
 * parts (for an equal key the higher version wins, the memtable's row when equal), filtered by the criteria, then either the first
 * `offset + limit` (+1) rows in the plan's order, or partial aggregates per group (aggregate.ts)
 * that the liaison combines.
 *
 * Row order is (ts, series id, element id), `desc` being its exact reverse, so answers do not
 * depend on how rows were spread over shards. Results are columnar: a reply of 100 000 rows stays
 * far below NATS's payload limit.
 */
import { NO_VERSION, VERSION_COLUMN } from '../point_version.js';
import type { BlockProjection, BlockRows, TagColumn } from '../../storage/block.js';
import { seriesId } from '../series_id.js';
import { criteriaNames, entitySeriesKeys, type CompiledCriteria } from './criteria.js';
import { isAfter } from './cursor.js';
import type { QueryPlan } from './plan.js';
import type { SeriesCols, ShardGroups } from './aggregate.js';
import { summarizeSpec, type SummarizeSpec } from './block_summary.js';
import { oneSeriesRows, ShardRowsBuilder, type ShardRows } from './shard_rows.js';

/** A shard's answer. */
export interface ShardResult {
  rows?: ShardRows;
  groups?: ShardGroups;
}

/** A scan of a shard's memtable: one resource, a time range, optionally some series, some columns. */
export interface MemtableScanQuery {
  name: string;
  minTs: number;
  maxTs: number;
  seriesIds?: ReadonlySet<string>;
  projection: BlockProjection;
}

/** A scan of a shard's stored parts: the memtable query's range, series and columns, by schema name. */
export interface StoreScanQuery extends Omit<MemtableScanQuery, 'name'> {
  schemaName: string;
  keyTag?: string;
  /** Blocks whose statistics answer the aggregation are summarized, not read (block_summary.ts). */
  summarize?: SummarizeSpec;
}

/** What a shard reads for a plan: the memtable query, and the store query (same range, series, projection). */
export interface ShardScanQueries {
  /** Null when the range is empty (from == to): nothing to read. */
  memtable: MemtableScanQuery | null;
  store: StoreScanQuery | null;
}

/** The scans `plan` needs on a shard. */
export function shardScanQueries(plan: QueryPlan): ShardScanQueries {
  const { tags, fields } = neededColumns(plan);
  // Row versions decide which of two rows of one key is read (storage/point_version.ts).
  const projection: BlockProjection = { tags, fields: [...fields, VERSION_COLUMN] };
  const keys = entitySeriesKeys(plan.criteria, plan.entity, plan.tag_types);
  const seriesIds = keys === null ? undefined : new Set(keys.map((k) => seriesId(plan.kind, plan.name, k)));
  const range = { minTs: plan.min_ts, maxTs: plan.max_ts, seriesIds, projection };
  const empty = plan.min_ts > plan.max_ts; // from == to: nothing to read
  const summarize = summarizeSpec(plan) ?? undefined;
  return {
    memtable: empty ? null : { name: plan.name, ...range },
    store: empty ? null : { schemaName: plan.name, ...range, keyTag: plan.element_id_column ?? undefined, summarize },
  };
}

/**
 * The store query to run once the memtable was read: a summarizing one learns the time range of
 * the memtable's rows per series (blocks they overlap must be merged with them, so read).
 */
export function storeQueryAfter(store: StoreScanQuery, mem: ReadonlyMap<string, BlockRows>): StoreScanQuery {
  if (!store.summarize) return store;
  const busy = new Map<string, readonly [number, number]>();
  for (const [sid, r] of mem) {
    const n = r.timestamps.length;
    if (n > 0) busy.set(sid, [r.timestamps[0]!, r.timestamps[n - 1]!]);
  }
  return { ...store, summarize: { ...store.summarize, busy } };
}

/**
 * The columns the plan reads: criteria and group-by tags or the projection, the element id,
 * aggregated or projected fields, then the fields only the criteria compare.
 */
export function neededColumns(plan: QueryPlan): { tags: string[]; fields: string[] } {
  const grouped = plan.group_by !== null;
  const named = criteriaNames(plan.criteria);
  const tags = new Set<string>(grouped ? plan.group_by! : plan.tags);
  for (const t of named.tags) tags.add(t);
  if (plan.element_id_column !== null) tags.add(plan.element_id_column);
  const fields = new Set(grouped ? plan.aggs.flatMap((a) => (a.field === null ? [] : [a.field])) : plan.fields);
  for (const f of named.fields) fields.add(f);
  return { tags: [...tags], fields: [...fields] };
}

/** The series of the plan's columns: memtable rows laid over the store's (per series id), empty ones left out. */
export function overlaySeries(
  plan: QueryPlan,
  mem: ReadonlyMap<string, BlockRows>,
  stored: ReadonlyMap<string, BlockRows>,
): SeriesCols[] {
  const { tags, fields } = neededColumns(plan);
  const ids = new Set([...stored.keys(), ...mem.keys()]);
  const series: SeriesCols[] = [];
  for (const sid of [...ids].sort()) {
    const s = overlay(sid, stored.get(sid), mem.get(sid), plan, tags, fields);
    if (s.n > 0) series.push(s);
  }
  return series;
}

/** The value a column reads as when a part or batch lacks it (see memtable.ts). */
function missingTag(type: string | undefined): unknown {
  return type === 'int' ? 0 : type === 'string[]' || type === 'int[]' ? [] : '';
}

/** One series from the store and the memtable, per key the higher version (the memtable's when equal), in the plan's columns. */
function overlay(
  sid: string,
  base: BlockRows | undefined,
  top: BlockRows | undefined,
  plan: QueryPlan,
  tags: string[],
  fields: string[],
): SeriesCols {
  const idCol = plan.element_id_column;
  if (!base || !top) return seriesColsOf(sid, (base ?? top)!, plan, tags, fields);
  // Row picks: side (0 base, 1 top) and row, in (ts, element id) order.
  let side: Uint8Array;
  let row: Uint32Array;
  {
    const bt = base.timestamps;
    const tt = top.timestamps;
    const be = idCol ? (base.tags[idCol] as unknown[] | undefined) : undefined;
    const bv = base.fields[VERSION_COLUMN];
    const tv = top.fields[VERSION_COLUMN];
    const te = idCol ? (top.tags[idCol] as unknown[] | undefined) : undefined;
    const cmp = (i: number, j: number) => {
      const d = bt[i]! - tt[j]!;
      if (d !== 0 || !idCol) return d;
      const a = String(be?.[i] ?? '');
      const b = String(te?.[j] ?? '');
      return a < b ? -1 : a > b ? 1 : 0;
    };
    const s: number[] = [];
    const r: number[] = [];
    let i = 0;
    let j = 0;
    while (i < bt.length || j < tt.length) {
      const c = i >= bt.length ? 1 : j >= tt.length ? -1 : cmp(i, j);
      if (c < 0) {
        s.push(0);
        r.push(i++);
      } else if (c === 0 && (bv?.[i] ?? NO_VERSION) > (tv?.[j] ?? NO_VERSION)) {
        // The same key, the part's row of a higher version (a backfill applied after a newer write
        // was flushed): it stays.
        s.push(0);
        r.push(i++);
        j++;
      } else {
        if (c === 0) i++; // the same key: the memtable's row replaces the part's
        s.push(1);
        r.push(j++);
      }
    }
    side = Uint8Array.from(s);
    row = Uint32Array.from(r);
  }
  const n = row.length;
  const sources = [base, top];
  const ts = new Float64Array(n);
  for (let k = 0; k < n; k++) ts[k] = sources[side[k]!]!.timestamps[row[k]!]!;
  const out: SeriesCols = { sid, n, ts, tags: {}, fields: {} };
  for (const f of fields) {
    const miss = plan.field_types[f] === 'int' ? 0 : NaN;
    const cols = sources.map((x) => x?.fields[f]);
    const dst = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const c = cols[side[k]!];
      dst[k] = c ? c[row[k]!]! : miss;
    }
    out.fields[f] = dst;
  }
  for (const t of tags) {
    const miss = missingTag(t === idCol ? 'string' : plan.tag_types[t]);
    const cols = sources.map((x) => x?.tags[t] as TagColumn | undefined);
    const dst = new Array<unknown>(n);
    for (let k = 0; k < n; k++) {
      const c = cols[side[k]!];
      dst[k] = c ? c[row[k]!] : miss;
    }
    out.tags[t] = dst;
  }
  return out;
}

/** A series found on one side only (or one block of it): its columns as they are, missing ones filled. */
export function seriesColsOf(sid: string, r: BlockRows, plan: QueryPlan, tags: string[], fields: string[]): SeriesCols {
  const n = r.timestamps.length;
  const out: SeriesCols = { sid, n, ts: r.timestamps, tags: {}, fields: {} };
  for (const f of fields)
    out.fields[f] = r.fields[f] ?? new Float64Array(n).fill(plan.field_types[f] === 'int' ? 0 : NaN);
  for (const t of tags)
    out.tags[t] =
      r.tags[t] ?? new Array<unknown>(n).fill(missingTag(t === plan.element_id_column ? 'string' : plan.tag_types[t]));
  return out;
}

/** One series' rows in a k-way merge: the indexes of its matching rows in plan order, and its columns. */
interface SeriesCursor {
  s: SeriesCols;
  rows: Uint32Array;
  at: number;
  tagCols: ArrayLike<unknown>[];
  fieldCols: Float64Array[];
}

/**
 * Series `s`'s matching rows in plan order (desc walks it backwards), past the plan's cursor, and
 * its plan columns looked up once, not per row. (A module function, not a callback made per query:
 * V8 keeps its compiled code.)
 */
function seriesCursor(plan: QueryPlan, s: SeriesCols, match: CompiledCriteria | null): SeriesCursor {
  const desc = plan.order === 'desc';
  const after = plan.after;
  const m = match ? match(s.tags, s.fields) : null;
  const eids = plan.element_id_column ? s.tags[plan.element_id_column]! : null;
  // The indexes in a typed array of the series' length (a growing array of numbers was a third of
  // a raw-row query's garbage), cut to those that match.
  const rows = new Uint32Array(s.n);
  let n = 0;
  if (!m && after === null) {
    // Every row (no criteria, no cursor): their indexes in plan order, without a test per row.
    for (let k = 0; k < s.n; k++) rows[k] = desc ? s.n - 1 - k : k;
    n = s.n;
  } else {
    for (let k = 0; k < s.n; k++) {
      const i = desc ? s.n - 1 - k : k;
      if (m && !m(i)) continue;
      // Rows of a page after a cursor: only those past its key.
      if (after !== null && !isAfter(after, s.ts[i]!, s.sid, eids ? String(eids[i] ?? '') : null, desc)) continue;
      rows[n++] = i;
    }
  }
  const tagCols = plan.tags.map((t) => s.tags[t]!);
  const fieldCols = plan.fields.map((f) => s.fields[f]!);
  return { s, rows: n === s.n ? rows : rows.subarray(0, n), at: 0, tagCols, fieldCols };
}

/**
 * The first `keep` matching rows over every series, in plan order (a k-way merge). A whole answer
 * keeps `offset + limit` and one row more: the liaison then knows whether more follow.
 */
export function firstRows(
  plan: QueryPlan,
  series: SeriesCols[],
  match: CompiledCriteria | null,
  keep = plan.offset + plan.limit + 1,
): ShardRows {
  const desc = plan.order === 'desc';
  const idCol = plan.element_id_column;
  const out = new ShardRowsBuilder(plan.tags, plan.fields, idCol !== null);
  if (keep === 0) return out.finish();
  const cursors = series.map((s) => seriesCursor(plan, s, match));
  // Series are in id order; a binary heap on (ts, series index) picks the next row. Element ids
  // of one series are already ordered inside it.
  const heap = cursors.map((_, i) => i).filter((i) => cursors[i]!.rows.length > 0);
  // One series with rows (a query pinned to a series): its rows are the answer, column by column.
  if (heap.length === 1) {
    const c = cursors[heap[0]!]!;
    const rows = c.rows.length > keep ? c.rows.subarray(0, keep) : c.rows;
    return oneSeriesRows(
      c.s.sid,
      rows,
      c.s.ts,
      plan.tags,
      c.tagCols,
      plan.fields,
      c.fieldCols,
      idCol ? c.s.tags[idCol]! : null,
    );
  }
  const tsOf = (c: number) => cursors[c]!.s.ts[cursors[c]!.rows[cursors[c]!.at]!]!;
  const less = (a: number, b: number) =>
    desc ? tsOf(a) > tsOf(b) || (tsOf(a) === tsOf(b) && a > b) : tsOf(a) < tsOf(b) || (tsOf(a) === tsOf(b) && a < b);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  while (heap.length > 0 && out.length < keep) {
    const c = cursors[heap[0]!]!;
    const i = c.rows[c.at]!;
    out.row(c.s.ts[i]!, c.s.sid, idCol ? String(c.s.tags[idCol]![i] ?? '') : null);
    for (let j = 0; j < c.tagCols.length; j++) out.tag(j, c.tagCols[j]![i]);
    for (let j = 0; j < c.fieldCols.length; j++) out.field(j, c.fieldCols[j]![i]!);
    if (++c.at >= c.rows.length) {
      heap[0] = heap[heap.length - 1]!;
      heap.pop();
    }
    down(0);
  }
  return out.finish();
}
