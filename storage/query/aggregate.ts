/**
 * Partial aggregates of one shard (the half of an aggregated query a shard runs; merge.ts combines
 * them): per group — its group-by tag values, then the bucket start in a bucketed query — the row
 * count and per field the non-NaN count, sum, min and max, plus the partials of first, last,
 * percentile and rate (extra_aggs.ts). Also the ranking and key order the liaison's merge shares.
 */
import { fieldStats, type FieldStats } from '../block_stats.js';
import type { BlockSummary } from './block_summary.js';
import type { FoldedBlock } from './block_fold.js';
import type { CompiledCriteria } from './criteria.js';
import { aggregatedFields, bucketStart, type PlannedAgg, type QueryPlan } from './plan.js';
import {
  accumulateExtra,
  addExtraGroup,
  finalExtra,
  isExtra,
  newExtra,
  selectExtra,
  type ExtraStats,
  type RatePrev,
} from './extra_aggs.js';

/** Columns of one series after overlay: exactly the columns the plan reads. */
export interface SeriesCols {
  sid: string;
  n: number;
  ts: Float64Array;
  tags: Record<string, ArrayLike<unknown>>;
  fields: Record<string, Float64Array>;
}

/** Partial aggregates of one shard: per group its key (group_by tag values), row count and per-field stats. */
export interface ShardGroups {
  keys: unknown[][];
  count: number[];
  /** Per field: non-NaN count, sum, min, max — parallel to `keys`. */
  stats: Record<string, { n: number[]; sum: number[]; min: number[]; max: number[] }>;
  /** The partials of first, last, percentile and rate, when the plan asks for any (extra_aggs.ts). */
  extra?: ExtraStats;
}

/** Appends an empty group (count 0, no values) with `key`; returns its index. */
export function addGroup(groups: ShardGroups, key: unknown[], fields: readonly string[]): number {
  groups.keys.push(key);
  groups.count.push(0);
  for (const f of fields) {
    const st = groups.stats[f]!;
    st.n.push(0);
    st.sum.push(0);
    st.min.push(Infinity);
    st.max.push(-Infinity);
  }
  if (groups.extra) addExtraGroup(groups.extra);
  return groups.keys.length - 1;
}

/**
 * Partial aggregates per group of the matching rows, and of the blocks summarized from their
 * statistics (block_summary.ts: only for plans whose groups and criteria are constant in a
 * series, so the series' decoded rows say whether and where its summaries count).
 */
export function aggregate(
  plan: QueryPlan,
  series: SeriesCols[],
  match: CompiledCriteria | null,
  summaries?: ReadonlyMap<string, BlockSummary[]>,
): ShardGroups {
  const acc = new ShardAggregation(plan, match, summaries);
  acc.add(series);
  return acc.finish();
}

/**
 * The partial aggregates of one shard, fed the rows of one time window after another (in time
 * order, so a counter's rate carries over between windows); `finish` adds the summarized blocks of
 * the series seen and keeps the shard's top-N.
 */
export class ShardAggregation {
  private readonly out: ShardGroups = { keys: [], count: [], stats: {} };
  private readonly fields: string[];
  /**
   * Group per tag values (their JSON), then per bucket: its number from the first bucket of the
   * plan's range (0 unbucketed) — a small integer, which a Map looks up faster than the start's
   * epoch milliseconds (a double it would box).
   */
  private readonly index = new Map<string, Map<number, number>>();
  /** Per series: the last value per (group, field), for rate across windows. */
  private readonly ratePrev = new Map<string, RatePrev>();
  /** Per summarized series that matched: its group key (tags only). */
  private readonly summaryKeys = new Map<string, unknown[]>();
  /**
   * `index`'s entries of keys of one string, by that string: a folded block's tag value is looked
   * up as it is, not turned into JSON first (block after block of a query meets the same few).
   */
  private readonly byOneString = new Map<string, Map<number, number>>();
  /** The start of the bucket holding the plan's first instant (0 unbucketed). */
  private readonly firstBucket: number;

  constructor(
    private readonly plan: QueryPlan,
    private readonly match: CompiledCriteria | null,
    private readonly summaries?: ReadonlyMap<string, BlockSummary[]>,
  ) {
    this.fields = aggregatedFields(plan);
    this.firstBucket = plan.bucket === null ? 0 : bucketStart(plan.bucket, plan.min_ts);
    for (const f of this.fields) this.out.stats[f] = { n: [], sum: [], min: [], max: [] };
    const extra = newExtra(plan);
    if (extra) this.out.extra = extra;
  }

  /** The group of tag values `tags` (`json` their JSON) and bucket `start` (null unbucketed), added when new. */
  private groupOf(tags: unknown[], start: number | null, json = JSON.stringify(tags)): number {
    return this.groupIn(this.groupsOf(json), tags, start);
  }

  /** groupsOf the JSON of `key`, for a key of one string without making its JSON again. */
  private foldedGroups(key: unknown[]): Map<number, number> {
    const only = key.length === 1 && typeof key[0] === 'string' ? key[0] : undefined;
    if (only === undefined) return this.groupsOf(JSON.stringify(key));
    let byStart = this.byOneString.get(only);
    if (byStart === undefined) this.byOneString.set(only, (byStart = this.groupsOf(JSON.stringify(key))));
    return byStart;
  }

  /** The groups of the tag values whose JSON is `json`, per bucket start. */
  private groupsOf(json: string): Map<number, number> {
    let byStart = this.index.get(json);
    if (byStart === undefined) this.index.set(json, (byStart = new Map()));
    return byStart;
  }

  /** groupOf, the groups of `tags` already looked up. */
  private groupIn(byStart: Map<number, number>, tags: unknown[], start: number | null): number {
    const at = start === null ? 0 : (start - this.firstBucket) / this.plan.bucket!.every_ms;
    let g = byStart.get(at);
    if (g === undefined) {
      g = addGroup(this.out, start === null ? tags : [...tags, start], this.fields);
      byStart.set(at, g);
    }
    return g;
  }

  /** Adds the rows of some series (each in time order, later than any row added before for it). */
  add(series: SeriesCols[]): void {
    const { plan, out, fields, match } = this;
    const by = plan.group_by!;
    const extra = out.extra;
    // Grouping only by entity tags: a series' group values are constant.
    const entity = new Set(plan.entity);
    const perSeries = by.every((t) => entity.has(t));
    const fstats = fields.map((f) => out.stats[f]!);
    const bucket = plan.bucket;
    for (const s of series) {
      const m = match ? match(s.tags, s.fields) : null;
      const cols = by.map((t) => s.tags[t]!);
      const fcols = fields.map((f) => s.fields[f]!);
      let prev = this.ratePrev.get(s.sid);
      if (extra && !prev) this.ratePrev.set(s.sid, (prev = new Map()));
      const more = (g: number, from: number, to: number) => {
        if (extra) accumulateExtra(extra, g, s.sid, s.ts, s.fields, from, to, prev!);
      };
      // A series whose group-by columns hold one value throughout (always, for entity tags) is one group.
      const constant = s.n > 0 && (perSeries || cols.every((c) => isConstant(c, s.n)));
      if (this.summaries?.has(s.sid) && !this.summaryKeys.has(s.sid) && (m === null || m(0)))
        this.summaryKeys.set(
          s.sid,
          cols.map((c) => c[0]),
        );
      if (constant && m === null) {
        const key = cols.map((c) => c[0]);
        if (bucket === null) {
          const g = this.groupOf(key, null);
          out.count[g]! += s.n;
          for (let j = 0; j < fields.length; j++) accumulate(fstats[j]!, g, fcols[j]!, 0, s.n);
          more(g, 0, s.n);
          continue;
        }
        // Rows are in time order: each bucket is one run of them.
        const json = JSON.stringify(key);
        for (let i = 0; i < s.n;) {
          const start = bucketStart(bucket, s.ts[i]!);
          let j = i + 1;
          while (j < s.n && s.ts[j]! < start + bucket.every_ms) j++;
          const g = this.groupOf(key, start, json);
          out.count[g]! += j - i;
          for (let f = 0; f < fields.length; f++) accumulate(fstats[f]!, g, fcols[f]!, i, j);
          more(g, i, j);
          i = j;
        }
        continue;
      }
      let fixed = -1; // the series' group, once a row matched (unbucketed)
      for (let i = 0; i < s.n; i++) {
        if (m && !m(i)) continue;
        let g: number;
        if (bucket !== null)
          g = this.groupOf(
            cols.map((c) => c[i]),
            bucketStart(bucket, s.ts[i]!),
          );
        else {
          g =
            fixed >= 0
              ? fixed
              : this.groupOf(
                  cols.map((c) => c[i]),
                  null,
                );
          if (constant) fixed = g;
        }
        out.count[g]!++;
        for (let j = 0; j < fields.length; j++) accumulate(fstats[j]!, g, fcols[j]!, i, i + 1);
        more(g, i, i + 1);
      }
    }
  }

  /**
   * Adds a block of series `sid` folded while decoded (block_fold.ts): its tag values are named by
   * `names`, its statistics are of this aggregation's fields, in order. A fold answers only count,
   * sum, min and max, so its blocks may come in any order; nothing of `b` is kept.
   */
  addFolded(sid: string, b: FoldedBlock, names: readonly string[]): void {
    const { plan, out, fields, match } = this;
    if (match) {
      const tags: Record<string, unknown[]> = {};
      names.forEach((t, i) => (tags[t] = [b.tags[i]]));
      if (!match(tags, {})(0)) return;
    }
    const key = b.tags.slice(0, plan.group_by!.length);
    if (this.summaries?.has(sid) && !this.summaryKeys.has(sid)) this.summaryKeys.set(sid, key);
    const byStart = this.foldedGroups(key);
    const bucketed = plan.bucket !== null;
    for (let r = 0; r < b.runs; r++) {
      const g = this.groupIn(byStart, key, bucketed ? b.starts[r]! : null);
      out.count[g]! += b.rows[r]!;
      for (let j = 0; j < fields.length; j++) {
        const s = b.stats[j]!;
        addValues(out.stats[fields[j]!]!, g, s[4 * r]!, s[4 * r + 1]!, s[4 * r + 2]!, s[4 * r + 3]!);
      }
    }
  }

  /** The shard's partials: the summarized blocks of every matching series added, top-N kept. */
  finish(): ShardGroups {
    const { plan, out, fields } = this;
    const bucket = plan.bucket;
    const fstats = fields.map((f) => out.stats[f]!);
    for (const [sid, key] of this.summaryKeys) {
      for (const b of this.summaries!.get(sid)!) {
        const g = this.groupOf(key, bucket === null ? null : bucketStart(bucket, b.minTs));
        out.count[g]! += b.rows;
        for (let j = 0; j < fields.length; j++) addStats(fstats[j]!, g, b.stats[fields[j]!]!);
      }
    }
    // Groups keyed by every entity tag hold one series each, so live on one shard: its top-N is
    // final there. (Keyed by only some entity tags, a group may span shards.)
    if (plan.top !== null && plan.entity.every((t) => plan.group_by!.includes(t))) return pruneTop(plan, out, fields);
    return out;
  }
}

/** Whether the first `n` values of a column are all equal (lists compared by their JSON). */
function isConstant(c: ArrayLike<unknown>, n: number): boolean {
  const first = c[0];
  if (typeof first === 'object' && first !== null) {
    const j = JSON.stringify(first);
    for (let i = 1; i < n; i++) if (JSON.stringify(c[i]) !== j) return false;
    return true;
  }
  for (let i = 1; i < n; i++) if (c[i] !== first) return false;
  return true;
}

/** Adds values `[from, to)` of a field column to group g's stats; NaN (a missing float) is skipped. */
function accumulate(st: ShardGroups['stats'][string], g: number, col: Float64Array, from: number, to: number): void {
  addStats(st, g, fieldStats(col, from, to));
}

/** Adds a block's statistics of one field to group g's. */
function addStats(st: ShardGroups['stats'][string], g: number, b: FieldStats): void {
  addValues(st, g, b.n, b.sum, b.min, b.max);
}

/** Adds n values of sum `sum`, least `min` and greatest `max` to group g's statistics of one field. */
function addValues(
  st: ShardGroups['stats'][string],
  g: number,
  n: number,
  sum: number,
  min: number,
  max: number,
): void {
  st.n[g]! += n;
  st.sum[g]! += sum;
  if (min < st.min[g]!) st.min[g] = min;
  if (max > st.max[g]!) st.max[g] = max;
}

/** Keeps the shard's `top.n` best groups (valid when no group spans shards). */
function pruneTop(plan: QueryPlan, g: ShardGroups, fields: string[]): ShardGroups {
  const top = plan.top!;
  if (g.keys.length <= top.n) return g;
  const order = rankGroups(g.keys, (i) => aggValue(plan, top.agg, g, i), top.order).slice(0, top.n);
  const out: ShardGroups = { keys: order.map((i) => g.keys[i]!), count: order.map((i) => g.count[i]!), stats: {} };
  if (g.extra) out.extra = selectExtra(g.extra, order);
  for (const f of fields) {
    const st = g.stats[f]!;
    out.stats[f] = {
      n: order.map((i) => st.n[i]!),
      sum: order.map((i) => st.sum[i]!),
      min: order.map((i) => st.min[i]!),
      max: order.map((i) => st.max[i]!),
    };
  }
  return out;
}

/** The final value of aggregation `a` for group i of `g`; null when no value was seen. */
export function aggValue(plan: QueryPlan, a: PlannedAgg, g: ShardGroups, i: number): number | null {
  if (isExtra(a.fn)) return finalExtra(plan, a, g.extra!, i);
  return finalValue(a.fn, a.field === null ? null : g.stats[a.field]!, g.count, i);
}

/** The final value of one of count, sum, min, max, mean for group i; null when no value was seen. */
export function finalValue(
  fn: string,
  st: ShardGroups['stats'][string] | null,
  count: number[],
  i: number,
): number | null {
  if (fn === 'count') return st === null ? count[i]! : st.n[i]!;
  if (st === null || st.n[i] === 0) return null;
  if (fn === 'sum') return st.sum[i]!;
  if (fn === 'min') return st.min[i]!;
  if (fn === 'max') return st.max[i]!;
  return st.sum[i]! / st.n[i]!;
}

/** Group indices ranked by `value` (nulls last), ties by key. */
export function rankGroups(keys: unknown[][], value: (i: number) => number | null, order: 'asc' | 'desc'): number[] {
  const idx = keys.map((_, i) => i);
  const vals = idx.map(value);
  return idx.sort((a, b) => {
    const x = vals[a]!;
    const y = vals[b]!;
    if (x === null || y === null) return x === y ? compareKeys(keys[a]!, keys[b]!) : x === null ? 1 : -1;
    const d = order === 'desc' ? y - x : x - y;
    return d !== 0 ? d : compareKeys(keys[a]!, keys[b]!);
  });
}

/** Orders group keys: element-wise, numbers numerically, strings by code unit, lists by their JSON. */
export function compareKeys(a: unknown[], b: unknown[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x - y;
      continue;
    }
    const s = typeof x === 'string' ? x : JSON.stringify(x);
    const t = typeof y === 'string' ? y : JSON.stringify(y);
    if (s !== t) return s < t ? -1 : 1;
  }
  return 0;
}
