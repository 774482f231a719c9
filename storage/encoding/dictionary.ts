/**
 * String columns (string tags, element ids) as a dictionary plus indexes, and list columns
 * (string[] and int[] tags) as lengths plus the flattened values.
 *
 * String layout for n > 0 values:
 *   uvarint d (distinct strings, 1..n), d × (uvarint byte length, UTF-8 bytes) in first-seen order,
 *   u8 index mode, then the n indexes:
 *     0 packed  ceil(log2 d) bits each, MSB first, zero-padded to a byte (0 bits when d = 1)
 *     1 runs    pairs (uvarint index, uvarint run length − 1): rows sorted by series repeat
 *               their tags for long stretches, and a run costs 2 bytes whatever its length.
 * The encoder sizes both and writes the smaller.
 * List layout: an int column of per-row lengths, then the flattened values as one column.
 */
import { ByteReader, ByteWriter, corrupt, unencodable } from './byte_buffer.js';
import { BitReader, BitWriter } from './bits.js';
import { readInts, writeInts } from './ints.js';
import { readUvarint, uvarintLen, writeUvarint } from './varint.js';

/** The index modes of a string column. */
export const StringIndexCodec = { packed: 0, runs: 1 } as const;

/** Most values all rows of one list column hold together; bounds what a damaged length can allocate. */
export const MAX_LIST_VALUES = 1 << 24;

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is corruption, not U+FFFD; ignoreBOM: a leading U+FEFF is data.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Matches a lone surrogate, which UTF-8 cannot carry (it would come back as U+FFFD). */
const LONE_SURROGATE = /\p{Cs}/u;

const SCRATCH_KEEP_IDS = 1 << 20;
let scratchIds = new Uint32Array(1024);

/** Appends the encoding of `values` to `w`; throws `unencodable` for a non-string or lone surrogate. */
export function writeStrings(w: ByteWriter, values: readonly string[]): void {
  const n = values.length;
  if (n === 0) return;
  // Reuse one id array across calls, but never pin a huge one.
  if (scratchIds.length < n && n <= SCRATCH_KEEP_IDS) scratchIds = new Uint32Array(Math.max(n, scratchIds.length * 2));
  const ids = n <= scratchIds.length ? scratchIds : new Uint32Array(n);
  const index = new Map<string, number>();
  const dict: string[] = [];
  let runs = 0;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const s = values[i]!;
    // Sorted parts repeat a tag row after row: skip the map lookup for a repeat.
    if (i > 0 && s === values[i - 1]) {
      ids[i] = prev;
      continue;
    }
    let id = index.get(s);
    if (id === undefined) {
      if (typeof s !== 'string') throw unencodable(`value at index ${i} is not a string`);
      if (LONE_SURROGATE.test(s)) throw unencodable(`string at index ${i} holds a lone surrogate`);
      id = dict.length;
      index.set(s, id);
      dict.push(s);
    }
    ids[i] = id;
    if (id !== prev) runs++;
    prev = id;
  }
  writeUvarint(w, dict.length);
  for (const s of dict) {
    const len = Buffer.byteLength(s, 'utf8');
    writeUvarint(w, len);
    w.ensure(len);
    encoder.encodeInto(s, w.buf.subarray(w.pos, w.pos + len));
    w.pos += len;
  }
  const width = bitWidth(dict.length);
  const packedSize = Math.ceil((n * width) / 8);
  // Only size the runs when they can win: each costs at least 2 bytes.
  let runsSize = Infinity;
  if (runs * 2 < packedSize) {
    runsSize = 0;
    forEachRun(ids, n, (id, len) => {
      runsSize += uvarintLen(id) + uvarintLen(len - 1);
    });
  }
  if (runsSize < packedSize) {
    w.u8(StringIndexCodec.runs);
    forEachRun(ids, n, (id, len) => {
      writeUvarint(w, id);
      writeUvarint(w, len - 1);
    });
    return;
  }
  w.u8(StringIndexCodec.packed);
  if (width === 0) return;
  const bw = new BitWriter(w);
  for (let i = 0; i < n; i++) bw.bits(ids[i]!, width);
  bw.flush();
}

/** Bits needed for an index into a dictionary of `d` entries. */
function bitWidth(d: number): number {
  return d <= 1 ? 0 : 32 - Math.clz32(d - 1);
}

/** Calls `fn` once per run of equal ids in `ids[0, n)`. */
function forEachRun(ids: Uint32Array, n: number, fn: (id: number, len: number) => void): void {
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i === n || ids[i] !== ids[start]) {
      fn(ids[start]!, i - start);
      start = i;
    }
  }
}

/** Encodes `values` into a new exact-length array (empty input → no bytes). */
export function encodeStrings(values: readonly string[]): Uint8Array {
  const w = new ByteWriter(64 + values.length);
  writeStrings(w, values);
  return w.finish();
}

function readEntry(r: ByteReader): string {
  const len = readUvarint(r);
  const at = r.pos;
  const bytes = r.bytes(len, 'dictionary entry');
  try {
    return decoder.decode(bytes);
  } catch {
    throw corrupt('dictionary entry is not valid UTF-8', at);
  }
}

/**
 * The value of every row of a non-empty column written by `writeStrings` when its dictionary
 * holds one entry, else null; either way the reader is left inside the column.
 */
export function readOnlyString(r: ByteReader): string | null {
  if (readUvarint(r) !== 1) return null;
  // A query reads the same few tag values (its regions, say) in block after block: those met
  // lately are looked up by their bytes, not decoded again.
  const at = r.pos;
  const len = readUvarint(r);
  r.need(len, 'dictionary entry');
  const { buf, pos } = r;
  for (let k = 0; k < recentOnly.length; k++) {
    const known = recentOnly[k]!.bytes;
    if (known.length !== len) continue;
    let i = 0;
    while (i < len && buf[pos + i] === known[i]) i++;
    if (i === len) {
      r.pos += len;
      return recentOnly[k]!.value;
    }
  }
  r.pos = at;
  const value = readEntry(r);
  if (len <= RECENT_ONLY_BYTES) {
    if (recentOnly.length === RECENT_ONLY) recentOnly.pop();
    recentOnly.unshift({ bytes: buf.slice(pos, pos + len), value });
  }
  return value;
}

/** The values readOnlyString decoded last (newest first), with their bytes; values up to 64 bytes. */
const recentOnly: { bytes: Uint8Array; value: string }[] = [];
const RECENT_ONLY = 16;
const RECENT_ONLY_BYTES = 64;

/**
 * Reads `count` strings written by `writeStrings`; throws `corrupt` on damaged input. With `from`
 * and `to`, the whole column is read and checked but only the values `[from, to)` are returned.
 */
export function readStrings(r: ByteReader, count: number, from = 0, to = count): string[] {
  const out: string[] = new Array<string>(to - from);
  if (count === 0) return out;
  const d = readUvarint(r);
  if (d < 1 || d > count) throw corrupt(`dictionary of ${d} entries for ${count} values`, r.pos);
  const dict: string[] = new Array<string>(d);
  for (let k = 0; k < d; k++) dict[k] = readEntry(r);
  const modeAt = r.pos;
  const mode = r.u8('string index mode');
  if (mode === StringIndexCodec.runs) {
    let i = 0;
    while (i < count) {
      const id = readUvarint(r);
      if (id >= d) throw corrupt(`index ${id} outside a dictionary of ${d}`, r.pos);
      const len = readUvarint(r) + 1;
      if (len > count - i) throw corrupt(`run of ${len} exceeds the ${count - i} values left`, r.pos);
      const s = dict[id]!;
      const stop = i + len;
      for (let k = Math.max(i, from), end = Math.min(stop, to); k < end; k++) out[k - from] = s;
      i = stop;
    }
    return out;
  }
  if (mode !== StringIndexCodec.packed) throw corrupt(`unknown string index mode ${mode}`, modeAt);
  const width = bitWidth(d);
  if (width === 0) return out.fill(dict[0]!);
  const br = new BitReader(r);
  for (let i = 0; i < count; i++) {
    const id = br.bits(width);
    if (id >= d) throw corrupt(`index ${id} outside a dictionary of ${d}`, r.pos);
    if (i >= from && i < to) out[i - from] = dict[id]!;
  }
  br.finish();
  return out;
}

/** Decodes a buffer holding exactly `count` strings. */
export function decodeStrings(buf: Uint8Array, count: number): string[] {
  const r = new ByteReader(buf);
  const out = readStrings(r, count);
  r.expectEnd('strings');
  return out;
}

/** Per-row lengths of a list column, checked against MAX_LIST_VALUES. */
function listLengths(rows: readonly ArrayLike<unknown>[]): { lengths: Float64Array; total: number } {
  const lengths = new Float64Array(rows.length);
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    lengths[i] = rows[i]!.length;
    total += rows[i]!.length;
  }
  if (total > MAX_LIST_VALUES) throw unencodable(`list column holds ${total} values, more than ${MAX_LIST_VALUES}`);
  return { lengths, total };
}

/** Reads per-row lengths and checks them before anything is allocated for the values. */
function readListLengths(r: ByteReader, count: number): { lengths: Float64Array; total: number } {
  const lengths = readInts(r, count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const len = lengths[i]!;
    if (len < 0) throw corrupt(`negative list length ${len}`, r.pos);
    total += len;
    if (total > MAX_LIST_VALUES) throw corrupt(`list values exceed ${MAX_LIST_VALUES}`, r.pos);
  }
  return { lengths, total };
}

/** Appends a string[] column (one list per row) to `w`. */
export function writeStringLists(w: ByteWriter, rows: readonly (readonly string[])[]): void {
  if (rows.length === 0) return;
  const { lengths, total } = listLengths(rows);
  writeInts(w, lengths);
  const flat: string[] = new Array<string>(total);
  let k = 0;
  for (const row of rows) for (let j = 0; j < row.length; j++) flat[k++] = row[j]!;
  writeStrings(w, flat);
}

/** Reads `count` rows of a string[] column. */
export function readStringLists(r: ByteReader, count: number): string[][] {
  if (count === 0) return [];
  const { lengths, total } = readListLengths(r, count);
  const flat = readStrings(r, total);
  const out: string[][] = new Array<string[]>(count);
  for (let i = 0, k = 0; i < count; k += lengths[i]!, i++) out[i] = flat.slice(k, k + lengths[i]!);
  return out;
}

/** Appends an int[] column (one list per row) to `w`. */
export function writeIntLists(w: ByteWriter, rows: readonly ArrayLike<number>[]): void {
  if (rows.length === 0) return;
  const { lengths, total } = listLengths(rows);
  writeInts(w, lengths);
  const flat = new Float64Array(total);
  let k = 0;
  for (const row of rows) for (let j = 0; j < row.length; j++) flat[k++] = row[j]!;
  writeInts(w, flat);
}

/** Reads `count` rows of an int[] column. */
export function readIntLists(r: ByteReader, count: number): number[][] {
  if (count === 0) return [];
  const { lengths, total } = readListLengths(r, count);
  const flat = readInts(r, total);
  const out: number[][] = new Array<number[]>(count);
  for (let i = 0, k = 0; i < count; k += lengths[i]!, i++) out[i] = Array.from(flat.subarray(k, k + lengths[i]!));
  return out;
}

/** Encodes a string[] column into a new exact-length array. */
export function encodeStringLists(rows: readonly (readonly string[])[]): Uint8Array {
  const w = new ByteWriter();
  writeStringLists(w, rows);
  return w.finish();
}

/** Decodes a buffer holding exactly `count` rows of a string[] column. */
export function decodeStringLists(buf: Uint8Array, count: number): string[][] {
  const r = new ByteReader(buf);
  const out = readStringLists(r, count);
  r.expectEnd('string lists');
  return out;
}

/** Encodes an int[] column into a new exact-length array. */
export function encodeIntLists(rows: readonly ArrayLike<number>[]): Uint8Array {
  const w = new ByteWriter();
  writeIntLists(w, rows);
  return w.finish();
}

/** Decodes a buffer holding exactly `count` rows of an int[] column. */
export function decodeIntLists(buf: Uint8Array, count: number): number[][] {
  const r = new ByteReader(buf);
  const out = readIntLists(r, count);
  r.expectEnd('int lists');
  return out;
}
