/**
 * The rows of a reply (pure): the merged picks of a raw-row query turned into what is sent — one
 * object per row, or parallel columns when the query asked `columns` (no object per row on either
 * side of the wire) — and the key a page's cursor resumes after.
 */
import type { Encoding } from '../../transport/codec.js';
import type { WriteTagValue } from '../../transport/api_types.js';
import { packTag, packTimes, packValues } from '../../transport/packed_columns.js';
import type { MeasureRow, OneValueTag, RowColumns, StreamRow, TagColumn } from '../../transport/query_types.js';
import type { RowKey } from './cursor.js';
import type { QueryPlan } from './plan.js';
import { DictBuilder, narrowCodes, runStart, sidAt, tagAt, type ShardRows } from './shard_rows.js';

/** The rows of an answer in order: row k is row `row[k]` of shard answer `parts[part[k]]`. */
export interface MergedRows {
  plan: QueryPlan;
  parts: ShardRows[];
  part: ArrayLike<number>;
  row: ArrayLike<number>;
}

/** The key of row k (a cursor resumes after it). */
export function rowKey(m: MergedRows, k: number): RowKey {
  const p = m.parts[m.part[k]!]!;
  const i = m.row[k]!;
  return { ts: p.ts[i]!, sid: sidAt(p, i), eid: p.eid ? p.eid[i]! : null };
}

/** The first `n` rows as objects. */
export function rowObjects(m: MergedRows, n = m.part.length): (MeasureRow | StreamRow)[] {
  const { plan, parts } = m;
  const out: (MeasureRow | StreamRow)[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const p = parts[m.part[k]!]!;
    const i = m.row[k]!;
    const tags: Record<string, WriteTagValue> = {};
    for (const t of plan.tags) tags[t] = tagAt(p, t, i) as WriteTagValue;
    if (plan.kind === 'stream') {
      out[k] = { ts: p.ts[i]!, element_id: p.eid![i]!, tags };
    } else {
      const fields: Record<string, number | null> = {};
      for (const f of plan.fields) {
        const v = p.fields[f]![i]!;
        fields[f] = Number.isNaN(v) ? null : v;
      }
      out[k] = { ts: p.ts[i]!, tags, fields };
    }
  }
  return out;
}

/**
 * The first `n` rows as columns: Float64Arrays in msgpack (NaN = no value), packed where exact when
 * `packed`; arrays with null in JSON.
 */
export function rowColumns(m: MergedRows, n: number, encoding: Encoding, packed = false): RowColumns {
  const { plan, parts } = m;
  // The rows of one shard are a run of its rows (merge.ts picks them in order): taken whole.
  const start = parts.length === 1 ? runStart(m.row, n) : -1;
  const tsOfParts = parts.map((p) => p.ts);
  const ts = pickColumn(m, n, start, tsOfParts);
  const tags: Record<string, TagColumn | OneValueTag> = {};
  for (const t of plan.tags) {
    const col = tagColumn(m, n, t, encoding, start);
    tags[t] = packed && encoding !== 'json' ? packTag(col, n) : col;
  }
  const fields: RowColumns['fields'] = {};
  for (const f of plan.fields) {
    const fieldOfParts = parts.map((p) => p.fields[f]!);
    const col = pickColumn(m, n, start, fieldOfParts);
    if (encoding === 'json') fields[f] = Array.from(col, (v) => (Number.isNaN(v) ? null : v));
    else fields[f] = packed ? packValues(col) : col;
  }
  const out: RowColumns = { ts: encoding === 'json' ? Array.from(ts) : packed ? packTimes(ts) : ts, tags, fields };
  if (plan.kind === 'stream') out.element_id = Array.from({ length: n }, (_, k) => parts[m.part[k]!]!.eid![m.row[k]!]!);
  return out;
}

/**
 * The first `n` rows' values of one column (`src`: the column of each shard answer). A run of the
 * only shard's rows (`start` ≥ 0) is a view of its column, packed or encoded, never kept: no copy.
 */
function pickColumn(m: MergedRows, n: number, start: number, src: Float64Array[]): Float64Array {
  if (start >= 0) return src[0]!.subarray(start, start + n);
  const col = new Float64Array(n);
  for (let k = 0; k < n; k++) col[k] = src[m.part[k]!]![m.row[k]!]!;
  return col;
}

/**
 * Tag `t` of the first `n` rows as one dictionary over the shards' own: each value the page holds
 * once, in the order first met (a shard's codes are mapped once per distinct value, not per row).
 * `start` ≥ 0: the rows are the only shard's, a run from its row `start`.
 */
function tagColumn(m: MergedRows, n: number, t: string, encoding: Encoding, start: number): TagColumn {
  const dicts = m.parts.map((p) => p.tags[t]!);
  // One shard whose rows all hold one value: every code is 0.
  if (dicts.length === 1 && dicts[0]!.values.length === 1 && n > 0) {
    const values = dicts[0]!.values as WriteTagValue[];
    return { values, codes: encoding === 'json' ? new Array<number>(n).fill(0) : new Uint8Array(n) };
  }
  const mapped = dicts.map((d) => new Int32Array(d.values.length).fill(-1));
  const dict = new DictBuilder();
  const codes = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    // One shard's run of rows (see rowColumns) needs no per-row lookup of shard and row.
    const s = start >= 0 ? 0 : m.part[k]!;
    const c = dicts[s]!.codes[start >= 0 ? start + k : m.row[k]!]!;
    let code = mapped[s]![c]!;
    if (code < 0) mapped[s]![c] = code = dict.codeOf(dicts[s]!.values[c]);
    codes[k] = code;
  }
  const values = dict.values as WriteTagValue[];
  return { values, codes: encoding === 'json' ? Array.from(codes) : narrowCodes(codes, values.length) };
}
