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
 * flushes produce do not repeat them. Hence `decodeBlock` needs the schema the block was written
 * with. Per-column byte lengths sit in the header (2–3 bytes per column) so that a projection skips
 * an unwanted column in O(1) instead of decoding it; they also let the reader check that every
 * codec consumed exactly its column. The checksum is verified before anything else is parsed.
 */
import { CorruptDataError } from './errors.js';
import { crc32, verify } from './checksum.js';
import {
  ByteReader,
  ByteWriter,
  EncodingError,
  readFloats,
  readIntLists,
  readInts,
  readStringLists,
  readStrings,
  readTimestamps,
  readUvarint,
  regularTimestamps,
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

const KIND_OF_TYPE: Record<FieldType | TagType, ColumnKind> = {
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

/**
 * Decodes a block read from `path`: verifies its checksum first, then decodes the timestamps and
 * the projected columns only. Any damage throws `CorruptDataError` naming `path`; `where` locates
 * the block inside the file for the message.
 */
export function decodeBlock(
  path: string,
  bytes: Uint8Array,
  schema: BlockSchema,
  projection?: BlockProjection,
  where: string | (() => string) = 'block',
  range?: TimeRange,
): BlockRows {
  return readVerifiedBlock(path, bytes, schema, where, (h) => decodeColumns(bytes, h, schema, projection, range));
}

/**
 * Verifies the checksum of a block read from `path`, parses its header and hands it to `body`
 * (which reads the columns it wants). Any damage, in the header or found by `body` (an
 * `EncodingError`), throws `CorruptDataError` naming `path`; `where` locates the block in the file.
 */
export function readVerifiedBlock<T>(
  path: string,
  bytes: Uint8Array,
  schema: BlockSchema,
  where: string | (() => string),
  body: (header: BlockHeader) => T,
): T {
  // `where` may be a function: a query decodes thousands of blocks, and only a damaged one is named.
  const named = () => (typeof where === 'string' ? where : where());
  if (bytes.length < MIN_BLOCK_BYTES)
    throw new CorruptDataError(path, `${named()}: ${bytes.length} bytes is shorter than any block`);
  const end = bytes.length - 4;
  verify(path, where, bytes.subarray(0, end), readU32le(bytes, end));
  try {
    return body(readBlockHeader(bytes, end, schema));
  } catch (err) {
    if (err instanceof EncodingError) throw new CorruptDataError(path, `${named()}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Rows to keep by time, inclusive at both ends. */
export interface TimeRange {
  minTs: number;
  maxTs: number;
}

/**
 * A parsed block header: the row count and, per column in block order, its codec kind, schema
 * index and first byte (`starts[cols]` is one past the last column). The arrays are shared by
 * every block read on this thread: valid until the next header is read.
 */
export interface BlockHeader {
  n: number;
  cols: number;
  kinds: Uint8Array;
  index: Int32Array;
  starts: Float64Array;
}

/** Parses the header of a block whose checksum matched; throws `EncodingError` on anything malformed. */
function readBlockHeader(bytes: Uint8Array, end: number, schema: BlockSchema): BlockHeader {
  const r = new ByteReader(bytes, 0, end);
  const magic = r.bytes(BLOCK_MAGIC.length, 'block magic');
  for (let i = 0; i < BLOCK_MAGIC.length; i++) if (magic[i] !== BLOCK_MAGIC[i]) throw headerError('bad block magic', 0);
  const n = readUvarint(r);
  if (n > MAX_BLOCK_ROWS) throw headerError(`row count ${n} exceeds ${MAX_BLOCK_ROWS}`, r.pos);
  const nf = schema.fields.length;
  const schemaCols = nf + schema.tags.length;
  const cols = readUvarint(r);
  if (cols < 1 || cols > 1 + schemaCols)
    throw headerError(`${cols} columns for a schema of ${schemaCols} plus timestamps`, r.pos);
  // A query decodes thousands of blocks: the header's arrays are reused, not allocated per block.
  const { kinds, index, starts, seen } = headerScratch(cols, schemaCols);
  let total = 0;
  for (let c = 0; c < cols; c++) {
    kinds[c] = r.u8('column kind');
    index[c] = readUvarint(r);
    const len = readUvarint(r);
    if (c === 0) {
      if (kinds[0] !== ColumnKind.timestamps) throw headerError('first column is not the timestamps', r.pos);
    } else {
      const i = index[c]!;
      if (i >= schemaCols || seen[i])
        throw headerError(`column ${c} names schema index ${i} twice or out of range`, r.pos);
      seen[i] = 1;
      const type = i < nf ? schema.fields[i]!.type : schema.tags[i - nf]!.type;
      if (kinds[c] !== KIND_OF_TYPE[type])
        throw headerError(`column ${c} has codec kind ${kinds[c]} but the schema says ${type}`, r.pos);
    }
    starts[c] = total;
    total += len;
  }
  if (total !== end - r.pos) throw headerError(`columns total ${total} bytes, the block holds ${end - r.pos}`, r.pos);
  const base = r.pos;
  for (let c = 0; c <= cols; c++) starts[c] = base + (c < cols ? starts[c]! : total);
  return { n, cols, kinds, index, starts };
}

/**
 * Where a block's rows inside a time range lie: rows `[lo, hi)` (timestamps are sorted). Evenly
 * spaced timestamps (the usual scrape) are located by arithmetic: row i is at `first + i × step`
 * and `all` is null; otherwise `all` holds every decoded timestamp.
 */
export interface RowsInRange {
  lo: number;
  hi: number;
  first: number;
  step: number;
  all: Float64Array | null;
}

/** The rows of a verified block (header `h`) inside `range` (every row without one). */
export function rowsInRange(bytes: Uint8Array, h: BlockHeader, range: TimeRange | undefined): RowsInRange {
  const n = h.n;
  const tr = new ByteReader(bytes, h.starts[0]!, h.starts[1]!);
  const regular = range ? regularTimestamps(tr, n) : null;
  if (range && regular) {
    const { first, step } = regular;
    const lo = range.minTs <= first ? 0 : Math.min(n, Math.ceil((range.minTs - first) / step));
    const hi = range.maxTs < first ? 0 : Math.min(n, Math.floor((range.maxTs - first) / step) + 1);
    return { lo, hi: Math.max(lo, hi), first, step, all: null };
  }
  const all = readColumn(bytes, h.starts[0]!, h.starts[1]!, ColumnKind.timestamps, n) as Float64Array;
  let lo = 0;
  let hi = n;
  if (range) {
    while (lo < n && all[lo]! < range.minTs) lo++;
    while (hi > lo && all[hi - 1]! > range.maxTs) hi--;
  }
  return { lo, hi, first: 0, step: 0, all };
}

/**
 * The rows of a verified block (header `h`). With a range, only rows inside it are returned, and
 * field columns (sequential codecs) are decoded only up to the last of them; tag columns are
 * decoded whole, then sliced.
 */
export function decodeColumns(
  bytes: Uint8Array,
  h: BlockHeader,
  schema: BlockSchema,
  projection?: BlockProjection,
  range?: TimeRange,
): BlockRows {
  const { n, cols, kinds, index, starts } = h;
  const nf = schema.fields.length;
  const { wantFields, wantTags } = projectionSets(projection);
  const { lo, hi, first, step, all } = rowsInRange(bytes, h, range);
  let ts: Float64Array;
  if (all) ts = lo > 0 || hi < n ? all.subarray(lo, hi) : all;
  else {
    ts = new Float64Array(hi - lo);
    for (let i = 0; i < ts.length; i++) ts[i] = first + (lo + i) * step;
  }
  const out: BlockRows = { timestamps: ts, fields: {}, tags: {} };
  if (hi === lo) {
    for (const f of schema.fields) if (!wantFields || wantFields.has(f.name)) out.fields[f.name] = new Float64Array(0);
    for (const t of schema.tags)
      if (!wantTags || wantTags.has(t.name)) out.tags[t.name] = t.type === 'int' ? new Float64Array(0) : [];
    return out;
  }
  for (let c = 1; c < cols; c++) {
    const i = index[c]!;
    if (i < nf) {
      const name = schema.fields[i]!.name;
      if (wantFields && !wantFields.has(name)) continue;
      out.fields[name] = readColumn(
        bytes,
        starts[c]!,
        starts[c + 1]!,
        kinds[c] as ColumnKind,
        n,
        lo,
        hi,
      ) as Float64Array;
    } else {
      const name = schema.tags[i - nf]!.name;
      if (wantTags && !wantTags.has(name)) continue;
      out.tags[name] = readColumn(bytes, starts[c]!, starts[c + 1]!, kinds[c] as ColumnKind, n, lo, hi);
    }
  }
  return out;
}

/** Column header arrays shared by every decode on this thread (a decode is synchronous). */
let header = {
  kinds: new Uint8Array(16),
  index: new Int32Array(16),
  starts: new Float64Array(17),
  seen: new Uint8Array(16),
};

function headerScratch(cols: number, schemaCols: number): typeof header {
  if (header.kinds.length < cols || header.seen.length < schemaCols) {
    const n = Math.max(cols, schemaCols) * 2;
    header = {
      kinds: new Uint8Array(n),
      index: new Int32Array(n),
      starts: new Float64Array(n + 1),
      seen: new Uint8Array(n),
    };
  }
  header.seen.fill(0, 0, schemaCols);
  return header;
}

/** The projection's names as sets, made once per projection object. */
const projectionCache = new WeakMap<
  BlockProjection,
  { wantFields: Set<string> | null; wantTags: Set<string> | null }
>();

function projectionSets(projection: BlockProjection | undefined): {
  wantFields: Set<string> | null;
  wantTags: Set<string> | null;
} {
  if (!projection) return { wantFields: null, wantTags: null };
  let sets = projectionCache.get(projection);
  if (!sets) {
    sets = {
      wantFields: projection.fields ? new Set(projection.fields) : null,
      wantTags: projection.tags ? new Set(projection.tags) : null,
    };
    projectionCache.set(projection, sets);
  }
  return sets;
}

/**
 * Decodes rows `[lo, hi)` of one column held in exactly `bytes[start, stop)`. Codecs read only as
 * far as they must: floats and ints stop after row hi (their codecs are sequential) and skip to
 * row lo where their layout allows; strings produce only those rows; lists are decoded whole.
 */
function readColumn(
  bytes: Uint8Array,
  start: number,
  stop: number,
  kind: ColumnKind,
  n: number,
  lo = 0,
  hi = n,
): TagColumn {
  const r = new ByteReader(bytes, start, stop);
  const whole = lo === 0 && hi === n;
  if (kind === ColumnKind.floats || kind === ColumnKind.ints) {
    const col = kind === ColumnKind.floats ? readFloats(r, hi, hi < n, lo) : readInts(r, hi, hi < n);
    if (hi === n) r.expectEnd('column');
    return lo === 0 ? col : col.subarray(lo, hi);
  }
  let col: TagColumn;
  switch (kind) {
    case ColumnKind.timestamps:
      col = readTimestamps(r, n);
      break;
    case ColumnKind.strings:
      col = readStrings(r, n, lo, hi);
      r.expectEnd('column');
      return col;
    case ColumnKind.stringLists:
      col = readStringLists(r, n);
      break;
    default:
      col = readIntLists(r, n);
  }
  r.expectEnd('column');
  return whole ? col : col instanceof Float64Array ? col.subarray(lo, hi) : (col.slice(lo, hi) as TagColumn);
}

function headerError(message: string, offset: number): EncodingError {
  return new EncodingError('corrupt', `block header at byte ${offset}: ${message}`, { offset });
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
