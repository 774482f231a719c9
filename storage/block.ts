/**
 * A block: the rows of ONE series in one time range, stored column by column (DESIGN §8).
 *
 * Layout (all integers LEB128 varints unless said otherwise):
 *   u8[4]   magic "LSB1"
 *   rows    row count (≤ MAX_BLOCK_ROWS)
 *   cols    column count, timestamps included
 *   cols ×  (u8 codec kind, schema index, byte length)   column 0 is always the timestamps
 *   the columns' bytes, back to back in header order
 *   u32le   crc32 of every byte before it
 *
 * Columns are named by their index in the part's `BlockSchema` (fields first, then tags), not by
 * name: names are stored once per part, in its metadata, so the many small blocks that memtable
 * flushes produce do not repeat them. Hence `decodeBlock` (block_decode.ts) needs the schema the
 * block was written with. Per-column byte lengths sit in the header (2–3 bytes per column) so that a projection skips
 * an unwanted column in O(1) instead of decoding it; they also let the reader check that every
 * codec consumed exactly its column. The checksum is verified before anything else is parsed.
 */
import { crc32 } from './checksum.js';
import {
  ByteWriter,
  EncodingError,
  unencodable,
  writeFloats,
  writeIntLists,
  writeInts,
  writeStringLists,
  writeStrings,
  writeTimestamps,
  writeUvarint,
} from './encoding/index.js';

/** Field value types and the codec each uses. */
export type FieldType = 'float' | 'int';
/** Tag value types: string, int, string[] and int[]. */
export type TagType = 'string' | 'int' | 'string[]' | 'int[]';

/** The columns of a block: names and types; a block refers to a column by its index here. */
export interface BlockSchema {
  readonly fields: readonly { readonly name: string; readonly type: FieldType }[];
  readonly tags: readonly { readonly name: string; readonly type: TagType }[];
}

/** A schema as plain data, without anything else its source object carried (what goes to disk or a worker). */
export function plainSchema(s: BlockSchema): BlockSchema {
  return {
    fields: s.fields.map((f) => ({ name: f.name, type: f.type })),
    tags: s.tags.map((t) => ({ name: t.name, type: t.type })),
  };
}

/** One tag column: string → string[], int → Float64Array, string[] → string[][], int[] → number[][]. */
export type TagColumn = string[] | Float64Array | string[][] | number[][];

/** Rows as struct-of-arrays: every column has one entry per timestamp (epoch milliseconds). */
export interface BlockRows {
  timestamps: Float64Array;
  fields: Record<string, Float64Array>;
  tags: Record<string, TagColumn>;
}

/** Columns to decode; an omitted list means all of that kind, names not in the schema are ignored. */
export interface BlockProjection {
  readonly fields?: readonly string[];
  readonly tags?: readonly string[];
}

/** Codec kind byte of each column in a block header. */
export const ColumnKind = { timestamps: 0, floats: 1, ints: 2, strings: 3, stringLists: 4, intLists: 5 } as const;
/** One of the column kinds. */
export type ColumnKind = (typeof ColumnKind)[keyof typeof ColumnKind];

/** First four bytes of every block. */
export const BLOCK_MAGIC = Uint8Array.of(0x4c, 0x53, 0x42, 0x01); // "LSB\x01"
/** Most rows one block holds: bounds what a damaged or foreign header can make a reader allocate. */
export const MAX_BLOCK_ROWS = 1 << 20;
/** Smallest block: magic, one-byte row and column counts, the timestamps entry (3 bytes), crc. */
export const MIN_BLOCK_BYTES = BLOCK_MAGIC.length + 2 + 3 + 4;

/** The codec kind of each column type. */
export const KIND_OF_TYPE: Record<FieldType | TagType, ColumnKind> = {
  float: ColumnKind.floats,
  int: ColumnKind.ints,
  string: ColumnKind.strings,
  'string[]': ColumnKind.stringLists,
  'int[]': ColumnKind.intLists,
};

/** Scratch writer for column bytes, reused across calls while it stays below this size. */
const SCRATCH_KEEP_BYTES = 4 << 20;
let scratch = new ByteWriter(64 * 1024);

/** Encodes `rows` (all columns of `schema`, equal lengths) as one checksummed block. */
export function encodeBlock(rows: BlockRows, schema: BlockSchema): Uint8Array {
  const n = rows.timestamps.length;
  if (n > MAX_BLOCK_ROWS) throw unencodable(`block of ${n} rows exceeds ${MAX_BLOCK_ROWS}`);
  const nf = schema.fields.length;
  const cols = 1 + nf + schema.tags.length;
  const kinds = new Uint8Array(cols);
  const lens = new Float64Array(cols);
  const body = scratch;
  body.reset();
  writeTimestamps(body, rows.timestamps);
  lens[0] = body.pos;
  for (let c = 1; c < cols; c++) {
    const start = body.pos;
    if (c <= nf) {
      const f = schema.fields[c - 1]!;
      const col = rows.fields[f.name];
      if (!(col instanceof Float64Array) || col.length !== n) throw badColumn('field', f.name, col, n);
      if (f.type === 'float') writeFloats(body, col);
      else writeInts(body, col);
      kinds[c] = KIND_OF_TYPE[f.type];
    } else {
      const t = schema.tags[c - 1 - nf]!;
      const col = rows.tags[t.name];
      const wantTyped = t.type === 'int';
      if (col === undefined || col.length !== n || col instanceof Float64Array !== wantTyped)
        throw badColumn('tag', t.name, col, n);
      if (t.type === 'string') writeStrings(body, col as string[]);
      else if (t.type === 'int') writeInts(body, col as Float64Array);
      else if (t.type === 'string[]') writeStringLists(body, col as string[][]);
      else writeIntLists(body, col as number[][]);
      kinds[c] = KIND_OF_TYPE[t.type];
    }
    lens[c] = body.pos - start;
  }
  const head = new ByteWriter(16 + cols * 8);
  head.bytes(BLOCK_MAGIC);
  writeUvarint(head, n);
  writeUvarint(head, cols);
  for (let c = 0; c < cols; c++) {
    head.u8(kinds[c]!);
    // Column c is schema index c − 1; the timestamps carry 0, which nothing reads.
    writeUvarint(head, c === 0 ? 0 : c - 1);
    writeUvarint(head, lens[c]!);
  }
  const out = new Uint8Array(head.pos + body.pos + 4);
  out.set(head.buf.subarray(0, head.pos), 0);
  out.set(body.buf.subarray(0, body.pos), head.pos);
  const end = out.length - 4;
  writeU32le(out, end, crc32(out.subarray(0, end)));
  if (body.buf.length > SCRATCH_KEEP_BYTES) scratch = new ByteWriter(64 * 1024);
  return out;
}

function badColumn(what: string, name: string, col: unknown, n: number): EncodingError {
  const got =
    col === undefined ? 'missing' : `${(col as { length?: number }).length} values of the wrong shape or count`;
  return unencodable(`${what} column ${JSON.stringify(name)}: ${got}, expected ${n} rows`);
}

/** The crc stored at the end of an encoded block (the value a part's index records). */
export function blockCrc(bytes: Uint8Array): number {
  return readU32le(bytes, bytes.length - 4);
}

/** Rows to keep by time, inclusive at both ends. */
export interface TimeRange {
  minTs: number;
  maxTs: number;
}

/** The rows `[start, end)` of `rows`: typed arrays as views, string/list arrays as shallow copies. */
export function sliceBlockRows(rows: BlockRows, start: number, end: number): BlockRows {
  const fields: Record<string, Float64Array> = {};
  const tags: Record<string, TagColumn> = {};
  for (const name in rows.fields) fields[name] = rows.fields[name]!.subarray(start, end);
  for (const name in rows.tags) {
    const col = rows.tags[name]!;
    tags[name] = col instanceof Float64Array ? col.subarray(start, end) : col.slice(start, end);
  }
  return { timestamps: rows.timestamps.subarray(start, end), fields, tags };
}

/** Writes `v` as 4 little-endian bytes at `at`. */
export function writeU32le(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}

/** Reads 4 little-endian bytes at `at` as an unsigned number. */
export function readU32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}
