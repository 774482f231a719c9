/**
 * The aggregations beyond count/sum/min/max/mean (shard_exec.ts keeps those): `first` and `last`
 * (the value at the earliest / latest time; a tie between series goes to the smaller series id),
 * `percentile` (a mergeable sketch, sketch.ts, within SKETCH_RELATIVE_ERROR), and `rate` (a
 * counter's increase per second: per series, the sum of the rises between consecutive values in the
 * group — a drop is a counter reset, which counts the new value as the rise — over the bucket's
 * width, or the query's range without buckets). Each is a partial per group that shards fill and the
 * liaison merges; all are pure data.
 */
import type { PlannedAgg, QueryPlan } from './plan.js';
import { addValue, mergeSketch, newSketch, quantile, type Sketch } from './sketch.js';

/** The value at the earliest (first) or latest (last) time seen per group. */
interface Pick {
  ts: number[];
  sid: string[];
  v: number[];
}

/** Per field, per group: the partials of the extra aggregations a plan asks for. */
export interface ExtraStats {
  first: Record<string, Pick>;
  last: Record<string, Pick>;
  sketch: Record<string, Sketch[]>;
  rate: Record<string, { inc: number[]; pairs: number[] }>;
}

/** Per series: the last value seen per (group, field), for `rate`. */
export type RatePrev = Map<number, Record<string, number>>;

const EXTRA_FNS = new Set(['first', 'last', 'percentile', 'rate']);

/** True when an aggregation needs ExtraStats. */
export function isExtra(fn: string): boolean {
  return EXTRA_FNS.has(fn);
}

const fieldsFor = (plan: QueryPlan, fn: string) => [
  ...new Set(plan.aggs.filter((a) => a.fn === fn && a.field !== null).map((a) => a.field!)),
];

/** Empty partials for the plan's extra aggregations; null when it has none. */
export function newExtra(plan: QueryPlan): ExtraStats | null {
  if (!plan.aggs.some((a) => isExtra(a.fn))) return null;
  const picks = (fn: string) => Object.fromEntries(fieldsFor(plan, fn).map((f) => [f, { ts: [], sid: [], v: [] }]));
  return {
    first: picks('first'),
    last: picks('last'),
    sketch: Object.fromEntries(fieldsFor(plan, 'percentile').map((f) => [f, []])),
    rate: Object.fromEntries(fieldsFor(plan, 'rate').map((f) => [f, { inc: [], pairs: [] }])),
  };
}

/** Appends an empty group to every partial. */
export function addExtraGroup(x: ExtraStats): void {
  for (const p of Object.values(x.first)) {
    p.ts.push(Infinity);
    p.sid.push('');
    p.v.push(NaN);
  }
  for (const p of Object.values(x.last)) {
    p.ts.push(-Infinity);
    p.sid.push('');
    p.v.push(NaN);
  }
  for (const s of Object.values(x.sketch)) s.push(newSketch());
  for (const r of Object.values(x.rate)) {
    r.inc.push(0);
    r.pairs.push(0);
  }
}

/** Rows [from, to) of one series (time-ordered) into group g. NaN (a missing float) is skipped. */
export function accumulateExtra(
  x: ExtraStats,
  g: number,
  sid: string,
  ts: Float64Array,
  fields: Record<string, Float64Array>,
  from: number,
  to: number,
  prev: RatePrev,
): void {
  for (const [f, p] of Object.entries(x.first)) {
    const col = fields[f]!;
    for (let i = from; i < to; i++) {
      const v = col[i]!;
      if (v !== v) continue;
      if (ts[i]! < p.ts[g]! || (ts[i] === p.ts[g] && sid < p.sid[g]!)) {
        p.ts[g] = ts[i]!;
        p.sid[g] = sid;
        p.v[g] = v;
      }
      break; // the series' earliest value in the range
    }
  }
  for (const [f, p] of Object.entries(x.last)) {
    const col = fields[f]!;
    for (let i = to - 1; i >= from; i--) {
      const v = col[i]!;
      if (v !== v) continue;
      if (ts[i]! > p.ts[g]! || (ts[i] === p.ts[g] && sid < p.sid[g]!)) {
        p.ts[g] = ts[i]!;
        p.sid[g] = sid;
        p.v[g] = v;
      }
      break;
    }
  }
  for (const [f, s] of Object.entries(x.sketch)) {
    const col = fields[f]!;
    const sk = s[g]!;
    for (let i = from; i < to; i++) if (col[i] === col[i]) addValue(sk, col[i]!);
  }
  const rates = Object.entries(x.rate);
  if (rates.length === 0) return;
  let last = prev.get(g);
  if (!last) prev.set(g, (last = {}));
  for (const [f, r] of rates) {
    const col = fields[f]!;
    for (let i = from; i < to; i++) {
      const v = col[i]!;
      if (v !== v) continue;
      const before = last[f];
      if (before !== undefined) {
        r.inc[g]! += v >= before ? v - before : v; // a drop: the counter restarted from 0
        r.pairs[g]!++;
      }
      last[f] = v;
    }
  }
}

/** Adds group `j` of `b` into group `i` of `a`. */
export function mergeExtra(a: ExtraStats, i: number, b: ExtraStats, j: number): void {
  for (const [f, p] of Object.entries(a.first)) {
    const q = b.first[f]!;
    if (q.ts[j]! < p.ts[i]! || (q.ts[j] === p.ts[i] && q.sid[j]! < p.sid[i]!)) {
      p.ts[i] = q.ts[j]!;
      p.sid[i] = q.sid[j]!;
      p.v[i] = q.v[j]!;
    }
  }
  for (const [f, p] of Object.entries(a.last)) {
    const q = b.last[f]!;
    if (q.ts[j]! > p.ts[i]! || (q.ts[j] === p.ts[i] && q.sid[j]! < p.sid[i]!)) {
      p.ts[i] = q.ts[j]!;
      p.sid[i] = q.sid[j]!;
      p.v[i] = q.v[j]!;
    }
  }
  for (const [f, s] of Object.entries(a.sketch)) mergeSketch(s[i]!, b.sketch[f]![j]!);
  for (const [f, r] of Object.entries(a.rate)) {
    r.inc[i]! += b.rate[f]!.inc[j]!;
    r.pairs[i]! += b.rate[f]!.pairs[j]!;
  }
}

/** The partials of groups `order` only, in that order (a shard's top-N). */
export function selectExtra(x: ExtraStats, order: number[]): ExtraStats {
  const pick = (p: Pick): Pick => ({
    ts: order.map((i) => p.ts[i]!),
    sid: order.map((i) => p.sid[i]!),
    v: order.map((i) => p.v[i]!),
  });
  const map = <T, U>(o: Record<string, T>, fn: (t: T) => U) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fn(v)]));
  return {
    first: map(x.first, pick),
    last: map(x.last, pick),
    sketch: map(x.sketch, (s) => order.map((i) => s[i]!)),
    rate: map(x.rate, (r) => ({ inc: order.map((i) => r.inc[i]!), pairs: order.map((i) => r.pairs[i]!) })),
  };
}

/** The final value of an extra aggregation for group i; null when it saw no value. */
export function finalExtra(plan: QueryPlan, a: PlannedAgg, x: ExtraStats, i: number): number | null {
  const f = a.field!;
  if (a.fn === 'first' || a.fn === 'last') {
    const v = x[a.fn][f]!.v[i]!;
    return Number.isNaN(v) ? null : v;
  }
  if (a.fn === 'percentile') return quantile(x.sketch[f]![i]!, a.p! / 100);
  const r = x.rate[f]!;
  if (r.pairs[i] === 0) return null;
  const seconds = (plan.bucket !== null ? plan.bucket.every_ms : plan.max_ts - plan.min_ts + 1) / 1000;
  return r.inc[i]! / seconds;
}
