/**
 * Reading a block (block.ts has the layout): the checksum verified first, then the header, then
 * only the columns and rows a reader wants — the rows of a projection and a time range
 * (`decodeBlock`), or whatever a reader makes of the columns itself (`readVerifiedBlock`, as the
 * query fold does).
 */
import { CorruptDataError } from './errors.js';
import { verify } from './checksum.js';
import {
  BLOCK_MAGIC,
  ColumnKind,
  KIND_OF_TYPE,
  MAX_BLOCK_ROWS,
  MIN_BLOCK_BYTES,
  readU32le,
  type BlockProjection,
  type BlockRows,
  type BlockSchema,
  type TagColumn,
  type TimeRange,
} from './block.js';
import {
  ByteReader,
  EncodingError,
  readFloats,
  readIntLists,
  readInts,
  readStringLists,
  readStrings,
  readTimestamps,
  readUvarint,
  regularTimestamps,
} from './encoding/index.js';

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
  r.need(BLOCK_MAGIC.length, 'block magic');
  for (let i = 0; i < BLOCK_MAGIC.length; i++) if (bytes[i] !== BLOCK_MAGIC[i]) throw headerError('bad block magic', 0);
  r.pos = BLOCK_MAGIC.length;
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
