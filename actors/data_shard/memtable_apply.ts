/**
 * How a WAL record's rows enter a memtable bucket (see memtable.ts): a measure's columnar record is
 * appended column by column (its rows are never replaced in place, see `claimSlot`), a stream's
 * row by row through its key index, and row objects (the first record format) one at a time.
 */
import { errors } from '../../transport/errors.js';
import { isTagDictionary, tagAt } from '../../transport/packed_columns.js';
import type { TagColumn } from '../../transport/query_types.js';
import type { MeasurePoint, StreamElement, WalColumns } from '../../transport/wal_record.js';
import { seriesId } from '../../storage/series_id.js';
import { seriesOfTags, type RowSeries } from '../../storage/routing.js';
import { EMPTY, T_INT, T_STRING, type Bucket, type Layout, type Rows, type Series } from './memtable_rows.js';

/** Rough bytes per stored value and per row (map entries, array growth), for `approxBytes`. */
const VALUE_BYTES = 8;
const ROW_BYTES = 32;

/** Series `key` of bucket `b`, added when new. */
export function seriesOf(b: Bucket, key: string): Series {
  let s = b.series.get(key);
  if (s === undefined) {
    // Ids are hashed once per series and drain (~0.2 µs each), so they need no longer-lived cache.
    const id = seriesId(b.kind, b.name, key);
    b.series.set(key, (s = { id, entityKey: key, pos: [], maxTs: -Infinity, sorted: true, index: null }));
  }
  return s;
}

/** A columnar WAL record's columns in layout order (null: the record lacks it, read as missing). */
export interface RecordColumns {
  ts: Float64Array;
  eid: unknown[] | null;
  f: (Float64Array | null)[];
  /** A value per row, or a dictionary (its codes checked). */
  t: (unknown[] | TagColumn | null)[];
  /** The rows' series: entity keys (JSON arrays of entity tag values) and per row the index of its key. */
  series: RowSeries;
}

export function columnsOf(cols: WalColumns, L: Layout, entity: readonly string[], seq: number): RecordColumns {
  const n = cols.ts?.length;
  if (!(cols.ts instanceof Float64Array) || typeof cols.fields !== 'object' || typeof cols.tags !== 'object') {
    throw errors.invalidArgument(`WAL record ${seq}: malformed columns`);
  }
  const sized = <T extends { length: number }>(c: T | undefined): T | null =>
    c !== undefined && c !== null && c.length === n ? c : null;
  // A tag as a value per row, or as a dictionary (transport/wal_record.ts `decodeWalRecord`) whose
  // codes all name a value; else the record lacks it.
  const tagCol = (c: unknown): unknown[] | TagColumn | null =>
    Array.isArray(c) ? (c.length === n ? c : null) : isTagDictionary(c) && validCodes(c, n) ? c : null;
  const given = L.tagNames.map((name) => (Object.hasOwn(cols.tags, name) ? tagCol(cols.tags[name]) : null));
  // Entity tags are declared tags: their columns are among those just checked.
  const ecols = entity.map((t) => given[L.tagNames.indexOf(t)] ?? null);
  if (ecols.some((c) => c === null)) throw errors.invalidArgument(`WAL record ${seq}: an entity tag column is missing`);
  return {
    ts: cols.ts,
    eid: L.stream ? sized(cols.eid) : null,
    f: L.fieldNames.map((name) => {
      const c = sized(cols.fields[name]);
      return c instanceof Float64Array ? c : null;
    }),
    t: given,
    // Series are keyed once per distinct value of a dictionary.
    series: seriesOfTags(ecols as (unknown[] | TagColumn)[], n),
  };
}

/** True when dictionary `c` has a code for each of `n` rows, each naming one of its values. */
function validCodes(c: TagColumn, n: number): boolean {
  if (c.codes.length !== n) return false;
  const m = c.values.length;
  for (let i = 0; i < n; i++) if (!(c.codes[i]! < m)) return false;
  return true;
}

/**
 * The slot of row (ts, eid) in series `s`: an existing row of that key (to overwrite; returned), or
 * a new one appended with its ts and element id set (-1 returned: push its values). A measure's
 * row is always appended: a key written again is resolved when the series is drained or scanned
 * (memtable_rows.ts `newestPerTime`), which costs a sort at flush instead of a map operation per
 * row of every series written out of order (several writers interleave every series).
 */
function claimSlot(r: Rows, s: Series, ts: number, eid: string, L: Layout): number {
  // The common case: time moves forward within a series, and a later ts cannot be a duplicate.
  if (ts > s.maxTs && s.index === null) {
    s.maxTs = ts;
  } else if (!L.stream) {
    s.sorted = false;
    if (ts > s.maxTs) s.maxTs = ts;
  } else {
    if (s.index === null) {
      s.index = new Map();
      for (const p of s.pos) s.index.set(`${r.ts.a[p]}\u0000${r.eid[p]}`, p);
    }
    const key = `${ts}\u0000${eid}`;
    const at = s.index.get(key);
    if (at !== undefined) return at;
    s.index.set(key, r.n);
    if (ts < s.maxTs) s.sorted = false;
    else s.maxTs = ts;
  }
  s.pos.push(r.n++);
  r.ts.push(ts);
  if (L.stream) r.eid.push(eid);
  return -1;
}

/**
 * Adds a row object (the row records of older WAL messages: version = the record's sequence), or
 * replaces the row with its key unless that one's version is higher; returns the approximate bytes added.
 */
export function addRow(r: Rows, s: Series, row: MeasurePoint | StreamElement, L: Layout, seq: number): number {
  const eid = L.stream ? (row as StreamElement).element_id : '';
  const at = claimSlot(r, s, row.ts, eid, L);
  const fv = (row as MeasurePoint).fields;
  const tv = row.tags;
  const vj = r.f.length - 1;
  if (at >= 0) {
    if (r.f[vj]!.a[at]! > seq) return 0;
    for (let j = 0; j < vj; j++) r.f[j]!.a[at] = fieldValue(fv, j, L);
    r.f[vj]!.a[at] = seq;
    for (let j = 0; j < r.t.length; j++) r.t[j]![at] = tagValue(tv[L.tagNames[j]!], j, L, eid);
    return 0;
  }
  let bytes = ROW_BYTES + VALUE_BYTES * (1 + r.f.length + r.t.length) + 2 * eid.length;
  for (let j = 0; j < vj; j++) r.f[j]!.push(fieldValue(fv, j, L));
  r.f[vj]!.push(seq);
  for (let j = 0; j < r.t.length; j++) {
    const v = tagValue(tv[L.tagNames[j]!], j, L, eid);
    if (typeof v === 'string') bytes += 2 * v.length;
    r.t[j]!.push(v);
  }
  return bytes;
}

/**
 * Appends every row of a measure's columnar record to bucket `b`, each series looked up once, the
 * columns copied whole; returns the approximate bytes added.
 */
export function appendMeasureColumns(b: Bucket, c: RecordColumns): number {
  const r = b.rows;
  const L = b.layout;
  const n = c.ts.length;
  const { keys, of } = c.series;
  const found = new Array<Series | undefined>(keys.length);
  for (let i = 0; i < n; i++) {
    const k = of[i]!;
    const s = (found[k] ??= seriesOf(b, keys[k]!));
    // What claimSlot does for a measure row.
    const ts = c.ts[i]!;
    if (ts > s.maxTs) s.maxTs = ts;
    else s.sorted = false;
    s.pos.push(r.n + i);
  }
  r.ts.append(c.ts);
  for (let j = 0; j < r.f.length; j++) {
    const src = c.f[j];
    if (src) r.f[j]!.append(src);
    else r.f[j]!.appendFill(n, L.fieldMissing[j]!);
  }
  let bytes = n * (ROW_BYTES + VALUE_BYTES * (1 + r.f.length + r.t.length));
  for (let j = 0; j < r.t.length; j++) bytes += appendTags(r.t[j]!, c.t[j]!, n, j, L);
  r.n += n;
  return bytes;
}

/** Appends a tag column's `n` values as stored (a dictionary's values made so once); returns their string bytes. */
function appendTags(out: unknown[], src: unknown[] | TagColumn | null, n: number, j: number, L: Layout): number {
  let bytes = 0;
  if (src === null) {
    const v = tagValue(undefined, j, L, '');
    for (let i = 0; i < n; i++) out.push(v);
  } else if (Array.isArray(src)) {
    for (let i = 0; i < n; i++) {
      const v = tagValue(src[i], j, L, '');
      if (typeof v === 'string') bytes += 2 * v.length;
      out.push(v);
    }
  } else {
    const values = src.values.map((v) => tagValue(v, j, L, ''));
    const sizes = values.map((v) => (typeof v === 'string' ? 2 * v.length : 0));
    const codes = src.codes;
    for (let i = 0; i < n; i++) {
      const k = codes[i]!;
      bytes += sizes[k]!;
      out.push(values[k]);
    }
  }
  return bytes;
}

/** Adds a stream's columnar record row by row (a row of an element's key replaces the earlier one); returns the approximate bytes added. */
export function addStreamColumns(b: Bucket, c: RecordColumns): number {
  const { keys, of } = c.series;
  const found = new Array<Series | undefined>(keys.length);
  let bytes = 0;
  for (let i = 0; i < c.ts.length; i++) {
    const k = of[i]!;
    bytes += addColumnsRow(b.rows, (found[k] ??= seriesOf(b, keys[k]!)), c, i, b.layout);
  }
  return bytes;
}

/** Adds row i of a columnar record, or replaces the row with its key; returns the approximate bytes added. */
function addColumnsRow(r: Rows, s: Series, c: RecordColumns, i: number, L: Layout): number {
  const eid = L.stream ? String(c.eid?.[i] ?? '') : '';
  const at = claimSlot(r, s, c.ts[i]!, eid, L);
  if (at >= 0) {
    // The version column is the last field, always present (see `apply`): an older write keeps out.
    const vj = r.f.length - 1;
    if (r.f[vj]!.a[at]! > c.f[vj]![i]!) return 0;
    for (let j = 0; j < r.f.length; j++) r.f[j]!.a[at] = c.f[j] ? c.f[j]![i]! : L.fieldMissing[j]!;
    for (let j = 0; j < r.t.length; j++) r.t[j]![at] = tagValue(tagOf(c.t[j]!, i), j, L, eid);
    return 0;
  }
  let bytes = ROW_BYTES + VALUE_BYTES * (1 + r.f.length + r.t.length) + 2 * eid.length;
  for (let j = 0; j < r.f.length; j++) r.f[j]!.push(c.f[j] ? c.f[j]![i]! : L.fieldMissing[j]!);
  for (let j = 0; j < r.t.length; j++) {
    const v = tagValue(tagOf(c.t[j]!, i), j, L, eid);
    if (typeof v === 'string') bytes += 2 * v.length;
    r.t[j]!.push(v);
  }
  return bytes;
}

/** Row i's value of a record's tag column, undefined when the record lacks it. */
const tagOf = (col: unknown[] | TagColumn | null, i: number): unknown => (col === null ? undefined : tagAt(col, i));

/** A field value as stored. */
function fieldValue(fv: Record<string, number>, j: number, L: Layout): number {
  const v = fv[L.fieldNames[j]!];
  return typeof v === 'number' ? v : L.fieldMissing[j]!;
}

/** A tag value `v` as stored in column j; the element-id column also takes the id an element carried outside its tags. */
function tagValue(v: unknown, j: number, L: Layout, eid: string): unknown {
  if (j === L.idTag && (v === undefined || v === '')) v = eid;
  const kind = L.tagKinds[j];
  if (kind === T_STRING) return typeof v === 'string' ? v : v === undefined ? '' : String(v);
  if (kind === T_INT) return Number.isSafeInteger(v) ? v : Number.isSafeInteger(Number(v)) ? Number(v) : 0;
  return Array.isArray(v) ? v : EMPTY;
}
