/**
 * Packed columns of a `columns: "packed"` reply in msgpack (pure): times as one step or as deltas,
 * decimal field values as scaled integers, each only where that is exact, and a tag of one value
 * without a code per row, so a day of one series travels in about a sixth of the bytes.
 * `plainColumns` turns them back into Float64Arrays, bit for bit the values packed. WAL records
 * pack their times and fields the same way, and their repeating string tags as dictionaries.
 */
import type {
  OneValueTag,
  PackedTimes,
  PackedValues,
  PlainColumns,
  RowColumns,
  StepTimes,
  TagColumn,
} from './query_types.js';

/**
 * The most rows step times may stand for: more than one message of a reply or a WAL record can
 * hold (a row takes a byte at least in each other column), so a damaged count allocates no more.
 */
const MAX_ROWS = 1 << 24;
/** The most decimal digits a packed value keeps. */
const MAX_SCALE = 9;

/** The narrowest signed typed array holding every value of `v` (all integers in Int32 range). */
function narrowInts(v: Int32Array, min: number, max: number): Int8Array | Int16Array | Int32Array {
  if (min >= -128 && max <= 127) return Int8Array.from(v);
  if (min >= -32768 && max <= 32767) return Int16Array.from(v);
  return v;
}

/**
 * `ts` as `{base, deltas}` (ts[i] = ts[i-1] + deltas[i], ts[0] = base + deltas[0], deltas[0] = 0)
 * when every step fits an Int32, or as `{base, step, count}` when, of two rows or more, every step
 * is the same; else `ts` itself.
 */
export function packTimes(ts: Float64Array): PackedTimes | Float64Array {
  if (ts.length === 0) return ts;
  const deltas = new Int32Array(ts.length);
  let min = 0;
  let max = 0;
  let same = ts.length >= 2;
  for (let i = 1; i < ts.length; i++) {
    const d = ts[i]! - ts[i - 1]!;
    deltas[i] = d;
    if (deltas[i] !== d) return ts; // not an integer, or past Int32
    if (d < min) min = d;
    else if (d > max) max = d;
    if (d !== deltas[1]) same = false;
  }
  if (same) return { base: ts[0]!, step: deltas[1]!, count: ts.length };
  return { base: ts[0]!, deltas: narrowInts(deltas, min, max) };
}

/**
 * `col` as `{scale, ints}` (value i = ints[i] / 10 ** scale, a division) when every value is a
 * decimal of at most MAX_SCALE digits that comes back exactly that way and fits an Int32; else
 * `col` itself (a missing value, NaN, or -0 keeps the column plain).
 */
export function packValues(col: Float64Array): PackedValues | Float64Array {
  if (col.length === 0) return col;
  const ints = new Int32Array(col.length);
  let scale = 0;
  let pow = 1;
  let min = 0;
  let max = 0;
  // One pass at the scale found so far; a value that needs more digits starts it over (a column
  // of decimals settles on its scale within its first few values).
  for (let i = 0; i < col.length; i++) {
    const v = col[i]!;
    const x = Math.round(v * pow);
    ints[i] = x;
    if (x / pow === v && ints[i] === x && (v !== 0 || 1 / v > 0)) {
      if (x < min) min = x;
      else if (x > max) max = x;
      continue;
    }
    // Past Int32, -0, NaN or infinite: more digits cannot help.
    if (ints[i] !== x || x / pow === v || !Number.isFinite(v)) return col;
    if (++scale > MAX_SCALE) return col;
    pow *= 10;
    min = max = 0;
    i = -1;
  }
  return { scale, ints: narrowInts(ints, min, max) };
}

/** True when `c` is a packed time or field column (an object, not an array). */
function isPacked(c: unknown): c is PackedTimes | PackedValues {
  return typeof c === 'object' && c !== null && !ArrayBuffer.isView(c) && !Array.isArray(c);
}

const isInts = (a: unknown) => a instanceof Int8Array || a instanceof Int16Array || a instanceof Int32Array;

/** True when `c` has the shape packTimes gives a packed column. */
export function isPackedTimes(c: unknown): c is PackedTimes {
  if (!isPacked(c) || typeof (c as PackedTimes).base !== 'number') return false;
  if ('deltas' in c) return isInts(c.deltas);
  const t = c as StepTimes;
  return Number.isSafeInteger(t.step) && Number.isSafeInteger(t.count) && t.count >= 0 && t.count <= MAX_ROWS;
}

/** True when `c` has the shape packValues gives a packed column. */
export function isPackedValues(c: unknown): c is PackedValues {
  const v = c as PackedValues;
  return isPacked(c) && Number.isInteger(v.scale) && v.scale >= 0 && v.scale <= MAX_SCALE && isInts(v.ints);
}

/** Times of a packed column as plain ones (each step added to the time before, in both forms). */
export function plainTimes(c: PackedTimes): Float64Array {
  if (!('deltas' in c)) {
    const out = new Float64Array(c.count);
    let t = c.base;
    if (out.length > 0) out[0] = t;
    for (let i = 1; i < out.length; i++) out[i] = t += c.step;
    return out;
  }
  const out = new Float64Array(c.deltas.length);
  let t = c.base;
  for (let i = 0; i < out.length; i++) out[i] = t += c.deltas[i]!;
  return out;
}

/** `col` (`count` rows) as a OneValueTag when it holds one value, else itself. */
export function packTag(col: TagColumn, count: number): TagColumn | OneValueTag {
  return col.values.length === 1 && count > 0 ? { values: [col.values[0]!], count } : col;
}

/** A packed reply's tag column as a dictionary with a code per row. */
export function plainTag(c: TagColumn | OneValueTag): TagColumn {
  return 'count' in c ? { values: c.values, codes: new Uint8Array(c.count) } : c;
}

/** Values of a packed field column as plain ones: the very values packed (10 ** scale is exact, and so is the division's rounding). */
export function plainValues(c: PackedValues): Float64Array {
  const pow = 10 ** c.scale;
  const out = new Float64Array(c.ints.length);
  // A plain loop: Float64Array.from with a map function is ~50x slower here.
  for (let i = 0; i < out.length; i++) out[i] = c.ints[i]! / pow;
  return out;
}

/**
 * A string tag column as a dictionary (TagColumn: each distinct value once, a code per row) when
 * its values repeat — at most one distinct value per two rows, as the rows of a batch's series do —
 * else the column itself.
 */
export function packTags(col: readonly unknown[]): TagColumn | readonly unknown[] {
  const n = col.length;
  if (n < 2) return col;
  const index = new Map<string, number>();
  const values: string[] = [];
  const codes = new Uint32Array(n);
  let last: unknown = undefined;
  let lastCode = -1;
  for (let i = 0; i < n; i++) {
    const v = col[i];
    if (i > 0 && v === last) {
      codes[i] = lastCode;
      continue;
    }
    if (typeof v !== 'string') return col;
    let c = index.get(v);
    if (c === undefined) {
      c = values.length;
      if (2 * c >= n) return col;
      values.push(v);
      index.set(v, c);
    }
    codes[i] = lastCode = c;
    last = v;
  }
  return { values, codes: narrowCodes(codes, values.length) };
}

/** `codes` in the narrowest unsigned typed array holding codes of `distinct` values. */
function narrowCodes(codes: Uint32Array, distinct: number): TagColumn['codes'] {
  return distinct <= 0x100 ? Uint8Array.from(codes) : distinct <= 0x10000 ? Uint16Array.from(codes) : codes;
}

/**
 * Rows `idx` of a dictionary column, as a dictionary of only the values those rows hold (a shard's
 * share of a batch names a share of its series), in the order they first occur.
 */
export function selectTagRows(col: TagColumn, idx: readonly number[]): TagColumn {
  const remap = new Int32Array(col.values.length).fill(-1);
  const values: TagColumn['values'] = [];
  const codes = new Uint32Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const c = col.codes[idx[k]!]!;
    let r = remap[c]!;
    if (r < 0) {
      r = remap[c] = values.length;
      values.push(col.values[c]!);
    }
    codes[k] = r;
  }
  return { values, codes: narrowCodes(codes, values.length) };
}

/** Row i's value of a tag column given plain or as a dictionary. */
export const tagAt = (col: readonly unknown[] | TagColumn, i: number): unknown =>
  Array.isArray(col) ? col[i] : (col as TagColumn).values[(col as TagColumn).codes[i]!];

/** True when `c` has the shape packTags gives a dictionary. */
export function isTagDictionary(c: unknown): c is TagColumn {
  const d = c as TagColumn;
  return (
    isPacked(c) &&
    Array.isArray(d.values) &&
    (d.codes instanceof Uint8Array || d.codes instanceof Uint16Array || d.codes instanceof Uint32Array)
  );
}

/** The values of a dictionary column, one per row; null when a code names no value. */
export function plainTags(c: TagColumn): unknown[] | null {
  const { values, codes } = c;
  const out = new Array<unknown>(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const k = codes[i]!;
    if (k >= values.length) return null;
    out[i] = values[k];
  }
  return out;
}

/** `c` with packed columns made plain again (the same object when none is packed). */
export function plainColumns(c: RowColumns): PlainColumns {
  const fields = Object.entries(c.fields);
  const tags = Object.entries(c.tags);
  if (!isPacked(c.ts) && !fields.some(([, col]) => isPacked(col)) && !tags.some(([, col]) => 'count' in col))
    return c as PlainColumns;
  return {
    ...c,
    ts: isPacked(c.ts) ? plainTimes(c.ts) : c.ts,
    tags: Object.fromEntries(tags.map(([t, col]) => [t, plainTag(col)])),
    fields: Object.fromEntries(fields.map(([f, col]) => [f, isPacked(col) ? plainValues(col) : col])),
  };
}
