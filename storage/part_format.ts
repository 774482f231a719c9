/**
 * The on-disk format of a part's index and metadata files (the blocks are in block.ts, the writer
 * and reader in part.ts).
 *
 * index: u8[4] magic "LSI1", uvarint entry count, then one entry per block in data-file order:
 *   uvarint bytes shared with the previous entry's series id, uvarint suffix length, the suffix
 *   (UTF-8; sorted ids share prefixes and a series' later blocks repeat its id for 2 bytes),
 *   varint min ts, varint max ts, uvarint rows, uvarint block length, u32le block crc;
 *   then, in a part of storage version 3 or later (magic "LSI2"), the block statistics section
 *   (block_stats.ts: per entry, per schema field); then u32le crc32 of everything before it. Offsets are not stored: blocks are contiguous, so
 *   each offset is the sum of the lengths before it, and the data file's size must equal their
 *   total. The parser cross-checks counts, bytes and the time range with the metadata.
 * metadata: JSON (PartMetadata) plus `crc32`, the crc of the same JSON text without that key.
 */
import { Code, LockstepError } from '../transport/errors.js';
import { MAX_BLOCK_ROWS, MIN_BLOCK_BYTES, readU32le, type BlockSchema } from './block.js';
import { readBlockStats, versionHasBlockStats, writeBlockStats, type FieldStats } from './block_stats.js';
import { crc32, verify } from './checksum.js';
import {
  ByteReader,
  ByteWriter,
  EncodingError,
  readUvarint,
  readVarint,
  writeUvarint,
  writeVarint,
} from './encoding/index.js';
import { CorruptDataError, UnsupportedVersionError } from './errors.js';

/** File names inside a part directory. */
export const PART_FILES = { data: 'data', index: 'index', metadata: 'metadata' } as const;
/** Suffix of a part directory still being written. */
export const PART_TMP_SUFFIX = '.tmp';
/** First four bytes of an index file. */
export const INDEX_MAGIC = Uint8Array.of(0x4c, 0x53, 0x49, 0x31); // "LSI1"
/** First four bytes of an index file with block statistics (storage version 3 on). */
export const INDEX_MAGIC_STATS = Uint8Array.of(0x4c, 0x53, 0x49, 0x32); // "LSI2"
/** The directory name of part `seq`. */
export function partDirName(seq: number): string {
  return `part-${seq}`;
}

/** The sequence of a part directory name and whether it is an unfinished `.tmp`, or null if not a part. */
export function parsePartDirName(name: string): { seq: number; tmp: boolean } | null {
  const m = /^part-(\d+)(\.tmp)?$/.exec(name);
  return m ? { seq: Number(m[1]), tmp: m[2] !== undefined } : null;
}

/** The part's metadata file (JSON, snake_case keys). */
export interface PartMetadata {
  format_version: string;
  row_count: number;
  series_count: number;
  block_count: number;
  /** Null only for a part without rows. */
  min_ts: number | null;
  max_ts: number | null;
  last_sequence: number;
  created_at: string;
  data_bytes: number;
  index_bytes: number;
  schema: BlockSchema;
}

/** One block of a part as its index describes it. */
export interface BlockEntry {
  /** Position in the part's index (and in the data file). */
  readonly ordinal: number;
  readonly seriesId: string;
  readonly minTs: number;
  readonly maxTs: number;
  readonly rowCount: number;
  readonly offset: number;
  readonly length: number;
  readonly crc: number;
  /** Per field of the part's schema (in its order) the block's statistics; null in parts before version 3. */
  readonly stats: readonly FieldStats[] | null;
  /** The ms between neighbouring rows when they are evenly spaced, else 0 (always 0 before version 3). */
  readonly step: number;
}

/** What reading a block takes from its index entry (a plan sent to a worker carries only this). */
export type BlockLocation = Pick<
  BlockEntry,
  'ordinal' | 'seriesId' | 'minTs' | 'maxTs' | 'rowCount' | 'offset' | 'length' | 'crc'
>;

/** A part directory that is not (yet) a part: a `.tmp` or one without metadata. Skip and remove it. */
export class IncompletePartError extends LockstepError {
  override readonly name: string = 'IncompletePartError';
  readonly dir: string;
  constructor(dir: string, reason: string) {
    super(Code.FailedPrecondition, `incomplete part ${dir}: ${reason}`, { details: { dir } });
    this.dir = dir;
  }
}

/** Builds an index file entry by entry, in data-file order. */
export class IndexWriter {
  private readonly entries = new ByteWriter(4096);
  private readonly stats = new ByteWriter(1024);
  private readonly utf8 = new TextEncoder();
  private prevId = '';
  private prevBytes = new Uint8Array(0);
  /** Entries added so far. */
  count = 0;

  /** Adds the entry of the next block, with its statistics per schema field. */
  add(
    seriesId: string,
    minTs: number,
    maxTs: number,
    rows: number,
    length: number,
    crc: number,
    step: number,
    stats: readonly FieldStats[],
  ): void {
    const w = this.entries;
    if (seriesId !== this.prevId || this.count === 0) {
      const bytes = this.utf8.encode(seriesId);
      const lim = Math.min(bytes.length, this.prevBytes.length);
      let shared = 0;
      while (shared < lim && bytes[shared] === this.prevBytes[shared]) shared++;
      writeUvarint(w, shared);
      writeUvarint(w, bytes.length - shared);
      w.bytes(bytes.subarray(shared));
      this.prevId = seriesId;
      this.prevBytes = bytes;
    } else {
      writeUvarint(w, this.prevBytes.length);
      writeUvarint(w, 0);
    }
    writeVarint(w, minTs);
    writeVarint(w, maxTs);
    writeUvarint(w, rows);
    writeUvarint(w, length);
    w.u32le(crc);
    writeBlockStats(this.stats, step, stats);
    this.count++;
  }

  /** The whole index file, with the statistics when the part's storage version carries them. */
  finish(formatVersion: string): Uint8Array {
    const withStats = versionHasBlockStats(formatVersion);
    const out = new ByteWriter(16 + this.entries.pos + (withStats ? this.stats.pos : 0));
    out.bytes(withStats ? INDEX_MAGIC_STATS : INDEX_MAGIC);
    writeUvarint(out, this.count);
    out.bytes(this.entries.buf.subarray(0, this.entries.pos));
    if (withStats) out.bytes(this.stats.buf.subarray(0, this.stats.pos));
    out.u32le(crc32(out.buf.subarray(0, out.pos)));
    return out.finish();
  }
}

/** The metadata file's bytes: the JSON of `meta` with its checksum added. */
export function encodeMetadata(meta: PartMetadata): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ ...meta, crc32: metadataCrc(meta) }, null, 1));
}

/**
 * The metadata's checksum: crc32 of its JSON text without the `crc32` key. JSON.parse keeps key
 * order and integers and strings round-trip exactly, so the reader can rebuild the same text.
 */
function metadataCrc(meta: PartMetadata): number {
  return crc32(new TextEncoder().encode(JSON.stringify(meta, null, 1)));
}

const FIELD_TYPES = new Set(['float', 'int']);
const TAG_TYPES = new Set(['string', 'int', 'string[]', 'int[]']);

/** Parses and checks the metadata file: version first (another version may differ in layout), then checksum, then fields. */
export function parseMetadata(path: string, bytes: Uint8Array, supported?: readonly string[]): PartMetadata {
  let file: PartMetadata & { crc32?: unknown };
  try {
    file = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as PartMetadata & { crc32?: unknown };
  } catch (err) {
    throw new CorruptDataError(path, 'metadata is not valid JSON', { cause: err });
  }
  if (file === null || typeof file !== 'object' || typeof file.format_version !== 'string') {
    throw new CorruptDataError(path, 'metadata has no format_version');
  }
  if (supported && !supported.includes(file.format_version))
    throw new UnsupportedVersionError(path, file.format_version, supported);
  const { crc32: stored, ...m } = file;
  if (typeof stored !== 'number') throw new CorruptDataError(path, 'metadata has no crc32');
  verify(path, 'metadata', new TextEncoder().encode(JSON.stringify(m, null, 1)), stored);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const tsOk = (v: unknown) => v === null || Number.isSafeInteger(v);
  const named = (c: unknown, types: Set<string>) =>
    c !== null &&
    typeof c === 'object' &&
    typeof (c as { name?: unknown }).name === 'string' &&
    types.has((c as { type?: string }).type ?? '');
  const ok =
    count(m.row_count) &&
    count(m.series_count) &&
    count(m.block_count) &&
    count(m.last_sequence) &&
    count(m.data_bytes) &&
    count(m.index_bytes) &&
    tsOk(m.min_ts) &&
    tsOk(m.max_ts) &&
    typeof m.created_at === 'string' &&
    m.schema !== null &&
    typeof m.schema === 'object' &&
    Array.isArray(m.schema.fields) &&
    Array.isArray(m.schema.tags) &&
    m.schema.fields.every((f) => named(f, FIELD_TYPES)) &&
    m.schema.tags.every((t) => named(t, TAG_TYPES));
  if (!ok) throw new CorruptDataError(path, 'metadata lacks a field or has one of the wrong type');
  return m;
}

/** Parses an index file and cross-checks it with the metadata; damage throws CorruptDataError naming `path`. */
export function parseIndex(path: string, bytes: Uint8Array, meta: PartMetadata): BlockEntry[] {
  if (bytes.length < INDEX_MAGIC.length + 5)
    throw new CorruptDataError(path, `index of ${bytes.length} bytes is too short`);
  if (bytes.length !== meta.index_bytes)
    throw new CorruptDataError(path, `${bytes.length} bytes, the metadata says ${meta.index_bytes}`);
  const end = bytes.length - 4;
  verify(path, 'index', bytes.subarray(0, end), readU32le(bytes, end));
  const fail = (what: string): never => {
    throw new CorruptDataError(path, `index: ${what}`);
  };
  const r = new ByteReader(bytes, 0, end);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    const withStats = versionHasBlockStats(meta.format_version);
    const magic = withStats ? INDEX_MAGIC_STATS : INDEX_MAGIC;
    for (let i = 0; i < magic.length; i++)
      if (r.u8() !== magic[i]) fail(`bad magic for storage version ${meta.format_version}`);
    const count = readUvarint(r);
    if (count !== meta.block_count) fail(`${count} entries, the metadata says ${meta.block_count} blocks`);
    // Every entry takes at least 10 bytes: bounds the allocation below by the file's size.
    if (count * 10 > end) fail(`${count} entries cannot fit in ${end} bytes`);
    const entries: BlockEntry[] = new Array<BlockEntry>(count);
    let prevId = new Uint8Array(0);
    let prevSeries = '';
    let offset = 0;
    let rowsTotal = 0;
    let series = 0;
    let minTs = Infinity;
    let maxTs = -Infinity;
    for (let k = 0; k < count; k++) {
      const shared = readUvarint(r);
      const suffix = readUvarint(r);
      if (shared > prevId.length) fail(`entry ${k} shares ${shared} bytes of a ${prevId.length}-byte id`);
      const tail = r.bytes(suffix, 'series id'); // bounds `suffix` before anything is allocated
      const idBytes = new Uint8Array(shared + suffix);
      idBytes.set(prevId.subarray(0, shared));
      idBytes.set(tail, shared);
      let seriesId = prevSeries;
      if (!(k > 0 && shared === prevId.length && suffix === 0)) {
        try {
          seriesId = decoder.decode(idBytes);
        } catch {
          fail(`entry ${k} has a series id that is not UTF-8`);
        }
      }
      const lo = readVarint(r);
      const hi = readVarint(r);
      const rows = readUvarint(r);
      const length = readUvarint(r);
      const crc = r.u32le('block crc');
      if (lo > hi || rows < 1 || rows > MAX_BLOCK_ROWS || length < MIN_BLOCK_BYTES) fail(`entry ${k} is malformed`);
      if (k > 0 && (seriesId < prevSeries || (seriesId === prevSeries && lo < entries[k - 1]!.maxTs)))
        fail(`entry ${k} is out of order`);
      if (k === 0 || seriesId !== prevSeries) series++;
      entries[k] = {
        ordinal: k,
        seriesId,
        minTs: lo,
        maxTs: hi,
        rowCount: rows,
        offset,
        length,
        crc,
        stats: null,
        step: 0,
      };
      offset += length;
      rowsTotal += rows;
      if (lo < minTs) minTs = lo;
      if (hi > maxTs) maxTs = hi;
      prevId = idBytes;
      prevSeries = seriesId;
    }
    if (withStats) {
      const fields = meta.schema.fields.length;
      for (let k = 0; k < count; k++) {
        const e = entries[k] as { stats: readonly FieldStats[] | null; step: number } & BlockEntry;
        const read =
          readBlockStats(r, fields, e.rowCount, e.minTs, e.maxTs) ??
          fail(`entry ${k} has inconsistent block statistics`);
        e.stats = read.stats;
        e.step = read.step;
      }
    }
    for (const e of entries) Object.freeze(e);
    r.expectEnd('index entries');
    if (offset !== meta.data_bytes) fail(`blocks total ${offset} bytes, the metadata says ${meta.data_bytes}`);
    if (rowsTotal !== meta.row_count) fail(`blocks total ${rowsTotal} rows, the metadata says ${meta.row_count}`);
    if (series !== meta.series_count) fail(`${series} series, the metadata says ${meta.series_count}`);
    if (count > 0 && (minTs !== meta.min_ts || maxTs !== meta.max_ts)) fail('time range differs from the metadata');
    return entries;
  } catch (err) {
    if (err instanceof EncodingError) throw new CorruptDataError(path, `index: ${err.message}`, { cause: err });
    throw err;
  }
}
