/**
 * The liaison's half of a query: shard answers merged into the reply. Rows keep the global order
 * (ts, series id, element id) — or its reverse — then offset and limit apply; groups are combined
 * across shards, finished (mean = sum / count), ranked for a top-N or ordered by their tag values,
 * then offset and limit apply.
 */
import type { GroupRow } from '../../transport/query_types.js';
import type { WriteTagValue } from '../../transport/api_types.js';
import { Code, LockstepError } from '../../transport/errors.js';
import { MAX_QUERY_LIMIT } from '../../transport/limits.js';
import { aggregatedFields, bucketStart, type QueryPlan } from './plan.js';
import { mergeExtra, newExtra } from './extra_aggs.js';
import { addGroup, aggValue, compareKeys, rankGroups, type ShardGroups } from './aggregate.js';
import type { ShardResult } from './shard_exec.js';
import { sidAt, type ShardRows } from './shard_rows.js';
import type { MergedRows } from './row_answer.js';

/**
 * Rows or groups of the reply, and whether more follow the page. Rows are picks from the shards'
 * rows, turned into the reply's form only for the rows sent (row_answer.ts); groups page by
 * offset (`offset` is the first's).
 */
export type MergedResult =
  { rows: MergedRows; has_more: boolean } | { groups: GroupRow[]; has_more: boolean; offset: number };

/** Merges shard answers by the plan. */
export function mergeShardResults(plan: QueryPlan, results: ShardResult[]): MergedResult {
  if (plan.group_by !== null) {
    const { groups, total } = mergeGroups(
      plan,
      results.map((r) => r.groups).filter((g): g is ShardGroups => g !== undefined),
    );
    return { groups, has_more: total > plan.offset + groups.length, offset: plan.offset };
  }
  return mergeRows(
    plan,
    results.map((r) => r.rows).filter((r): r is ShardRows => r !== undefined),
  );
}

function mergeRows(plan: QueryPlan, parts: ShardRows[]): { rows: MergedRows; has_more: boolean } {
  if (parts.length === 1) return oneShardRows(plan, parts[0]!);
  const desc = plan.order === 'desc';
  const at = parts.map(() => 0);
  // Compares the heads of two shards: (ts, sid, eid), reversed for desc.
  const cmp = (a: number, b: number) => {
    const x = parts[a]!;
    const y = parts[b]!;
    const i = at[a]!;
    const j = at[b]!;
    let d = x.ts[i]! - y.ts[j]!;
    if (d === 0) {
      const sx = sidAt(x, i);
      const sy = sidAt(y, j);
      d = sx < sy ? -1 : sx > sy ? 1 : 0;
    }
    if (d === 0 && x.eid && y.eid) d = x.eid[i]! < y.eid[j]! ? -1 : x.eid[i]! > y.eid[j]! ? 1 : 0;
    return desc ? -d : d;
  };
  const out = { plan, parts, part: [] as number[], row: [] as number[] };
  const end = plan.offset + plan.limit;
  let seen = 0;
  let hasMore = false;
  // Shards are few (≤ 256): a linear pick of the smallest head is cheap enough.
  for (;;) {
    // A shard that cut its rows to fit its reply may hold more after its last: nothing past that
    // point can be placed in order, so the page ends there.
    if (parts.some((p, s) => p.truncated && at[s]! >= p.ts.length)) {
      hasMore = true;
      break;
    }
    let best = -1;
    for (let s = 0; s < parts.length; s++) if (at[s]! < parts[s]!.ts.length && (best < 0 || cmp(s, best) < 0)) best = s;
    if (best < 0) break;
    if (seen >= end) {
      hasMore = true; // a row beyond the page exists
      break;
    }
    const i = at[best]!++;
    if (seen++ < plan.offset) continue;
    out.part.push(best);
    out.row.push(i);
  }
  return { rows: out, has_more: hasMore };
}

/**
 * The rows of the only shard that answered, already in order: a run of them after the offset (what
 * mergeRows picks, without comparing). More follow when the run stops short of them, or when the
 * shard cut its rows.
 */
function oneShardRows(plan: QueryPlan, p: ShardRows): { rows: MergedRows; has_more: boolean } {
  const len = p.ts.length;
  const start = Math.min(plan.offset, len);
  const end = Math.min(len, plan.offset + plan.limit);
  const part = new Uint8Array(end - start);
  const row = new Uint32Array(end - start);
  for (let k = 0; k < row.length; k++) row[k] = start + k;
  return { rows: { plan, parts: [p], part, row }, has_more: end < len || p.truncated === true };
}

/** The page of groups, and how many groups the whole answer holds. */
function mergeGroups(plan: QueryPlan, parts: ShardGroups[]): { groups: GroupRow[]; total: number } {
  const fields = aggregatedFields(plan);
  const all: ShardGroups = { keys: [], count: [], stats: {} };
  for (const f of fields) all.stats[f] = { n: [], sum: [], min: [], max: [] };
  const extra = newExtra(plan);
  if (extra) all.extra = extra;
  const index = new Map<string, number>();
  for (const p of parts) {
    for (let i = 0; i < p.keys.length; i++) {
      const k = JSON.stringify(p.keys[i]);
      let g = index.get(k);
      if (g === undefined) {
        g = addGroup(all, p.keys[i]!, fields);
        index.set(k, g);
      }
      all.count[g]! += p.count[i]!;
      for (const f of fields) {
        const a = all.stats[f]!;
        const b = p.stats[f]!;
        a.n[g]! += b.n[i]!;
        a.sum[g]! += b.sum[i]!;
        a.min[g] = Math.min(a.min[g]!, b.min[i]!);
        a.max[g] = Math.max(a.max[g]!, b.max[i]!);
      }
      if (extra && p.extra) mergeExtra(extra, g, p.extra, i);
    }
  }
  const bucket = plan.bucket;
  // An overall aggregate (no group_by) over no rows is still one group: count 0, the rest null.
  if (plan.group_by!.length === 0 && all.keys.length === 0 && bucket === null) addGroup(all, [], fields);
  if (bucket?.fill) fillBuckets(plan, all, index, fields);
  let order: number[];
  if (plan.top !== null) {
    const t = plan.top;
    order = rankGroups(all.keys, (i) => aggValue(plan, t.agg, all, i), t.order).slice(0, t.n);
  } else if (bucket !== null) {
    // By tags, then bucket start in the query's time order.
    const tagsOf = (k: unknown[]) => k.slice(0, -1);
    const sign = plan.order === 'desc' ? -1 : 1;
    order = all.keys
      .map((_, i) => i)
      .sort(
        (a, b) =>
          compareKeys(tagsOf(all.keys[a]!), tagsOf(all.keys[b]!)) ||
          sign * ((all.keys[a]!.at(-1) as number) - (all.keys[b]!.at(-1) as number)),
      );
  } else {
    order = all.keys.map((_, i) => i).sort((a, b) => compareKeys(all.keys[a]!, all.keys[b]!));
  }
  const groups = order.slice(plan.offset, plan.offset + plan.limit).map((i) => {
    const tags: Record<string, WriteTagValue> = {};
    plan.group_by!.forEach((t, j) => (tags[t] = all.keys[i]![j] as WriteTagValue));
    const values: Record<string, number | null> = {};
    for (const a of plan.aggs) values[a.column] = aggValue(plan, a, all, i);
    return bucket !== null ? { ts: all.keys[i]!.at(-1) as number, tags, values } : { tags, values };
  });
  return { groups, total: order.length };
}

/**
 * Adds the empty buckets of the range to every group (to the one overall group without group_by):
 * count 0, values null. `ResourceExhausted` when that makes more groups than a reply may hold.
 */
function fillBuckets(plan: QueryPlan, all: ShardGroups, index: Map<string, number>, fields: string[]): void {
  const b = plan.bucket!;
  const prefixes = new Map<string, unknown[]>();
  if (plan.group_by!.length === 0) prefixes.set('[]', []);
  for (const k of all.keys) {
    const p = k.slice(0, -1);
    prefixes.set(JSON.stringify(p), p);
  }
  const first = bucketStart(b, plan.min_ts);
  const buckets = plan.max_ts < plan.min_ts ? 0 : (bucketStart(b, plan.max_ts) - first) / b.every_ms + 1;
  if (prefixes.size * buckets > MAX_QUERY_LIMIT)
    throw new LockstepError(
      Code.ResourceExhausted,
      `fill "null" makes ${prefixes.size} groups × ${buckets} buckets, more than the ${MAX_QUERY_LIMIT} a reply holds: use a wider bucket, a shorter range or criteria`,
    );
  for (const p of prefixes.values()) {
    for (let k = 0; k < buckets; k++) {
      const key = [...p, first + k * b.every_ms];
      const id = JSON.stringify(key);
      if (!index.has(id)) index.set(id, addGroup(all, key, fields));
    }
  }
}
