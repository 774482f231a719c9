/**
 * The rows of a reply (pure): the merged picks of a raw-row query turned into what is sent — one
 * object per row, or parallel columns when the query asked `columns` (no object per row on either
 * side of the wire) — and the key a page's cursor resumes after.
 */
import type { Encoding } from '../../transport/codec.js';
import type { WriteTagValue } from '../../transport/api_types.js';
import type { MeasureRow, RowColumns, StreamRow } from '../../transport/query_types.js';
import type { RowKey } from './cursor.js';
import type { QueryPlan } from './plan.js';
import { sidAt, tagAt, type ShardRows } from './shard_rows.js';

/** The rows of an answer in order: row k is row `row[k]` of shard answer `parts[part[k]]`. */
export interface MergedRows {
  plan: QueryPlan;
  parts: ShardRows[];
  part: number[];
  row: number[];
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

/** The first `n` rows as columns: Float64Arrays in msgpack (NaN = no value), arrays with null in JSON. */
export function rowColumns(m: MergedRows, n: number, encoding: Encoding): RowColumns {
  const { plan, parts } = m;
  const ts = new Float64Array(n);
  for (let k = 0; k < n; k++) ts[k] = parts[m.part[k]!]!.ts[m.row[k]!]!;
  // Per column, each shard's array looked up once, not per row.
  const tags: Record<string, WriteTagValue[]> = {};
  for (const t of plan.tags) {
    const dicts = parts.map((p) => p.tags[t]!);
    const col = new Array<WriteTagValue>(n);
    for (let k = 0; k < n; k++) {
      const d = dicts[m.part[k]!]!;
      col[k] = d.values[d.codes[m.row[k]!]!] as WriteTagValue;
    }
    tags[t] = col;
  }
  const fields: RowColumns['fields'] = {};
  for (const f of plan.fields) {
    const src = parts.map((p) => p.fields[f]!);
    const col = new Float64Array(n);
    for (let k = 0; k < n; k++) col[k] = src[m.part[k]!]![m.row[k]!]!;
    fields[f] = encoding === 'json' ? Array.from(col, (v) => (Number.isNaN(v) ? null : v)) : col;
  }
  const out: RowColumns = { ts: encoding === 'json' ? Array.from(ts) : ts, tags, fields };
  if (plan.kind === 'stream') out.element_id = m.part.slice(0, n).map((p, k) => parts[p]!.eid![m.row[k]!]!);
  return out;
}
