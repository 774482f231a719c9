/**
 * An immutable part: one flush (or merge) of a shard's rows, in a directory `part-<seq>/` holding
 * `data` (blocks back to back, see block.ts), `index` (one entry per block) and `metadata` (JSON,
 * written LAST); the index and metadata formats are in part_format.ts.
 *
 * Crash rule: a part is complete only when its directory is named `part-<seq>` AND holds
 * `metadata`. The writer builds everything in `part-<seq>.tmp/`, fsyncs data and index, writes
 * metadata atomically, renames the directory, then fsyncs its parent; a kill -9 at any point
 * leaves either a complete part or a `.tmp` directory / a directory without metadata. `openPart`
 * refuses the latter with `IncompletePartError`; whoever lists parts (the segment) must skip and
 * remove them. Nothing in them was acknowledged: the WAL is acknowledged only after the flush, and
 * a restart resumes after the `last_sequence` of the complete parts.
 *
 * Reads never load the data file: `readBlocks` reads exactly the blocks asked for (neighbours
 * together, in a few positioned reads), checks each block's crc against the block and the index,
 * and decodes only the projected columns.
 */
import { basename, join } from 'node:path';
import { systemClock, type Clock } from '../runtime/clock.js';
import { errors } from '../transport/errors.js';
import { blockCrc, type TimeRange } from './block.js';
import { decodeBlock } from './block_decode.js';
import type { BlockProjection, BlockRows, BlockSchema } from './block.js';
import { stepHasRowIn } from './block_stats.js';
import { CorruptDataError } from './errors.js';
import type { FileHandle, StorageFs } from './fs.js';
import { IncompletePartError, parseIndex, parseMetadata, PART_FILES, PART_TMP_SUFFIX } from './part_format.js';
import { checkMaxRows, encodeRuns, schemaColumns, seriesRuns, writeEncodedPart } from './part_encode.js';
import type { BlockEntry, BlockLocation, PartMetadata } from './part_format.js';

export * from './part_format.js';

/** Rows per block unless the writer is told otherwise. */
export const DEFAULT_MAX_ROWS_PER_BLOCK = 512;
/**
 * `readBlocks` reads two blocks in one read when at most this many bytes lie between them: an
 * awaited read of the thread pool costs more than reading and dropping that much.
 */
const COALESCE_GAP_BYTES = 64 * 1024;
/**
 * The same for a blocking reader (fs.ts's openBlockingReader, in a query worker), whose read is one
 * system call: skipping more than a page is cheaper than reading it. (A one-hour query reading 2
 * of a series' ~20 blocks read 6 times the bytes it used with the larger gap, and took 30% longer.)
 */
export const BLOCKING_COALESCE_GAP_BYTES = 4096;
/** The most bytes `readBlocks` reads at once. */
const MAX_RUN_BYTES = 4 << 20;
/** Reads `readBlocks` keeps in flight. */
const READ_CONCURRENCY = 8;

/** Rows for a part: block rows plus one series id per row, sorted by series id, then timestamp. */
export interface PartRows extends BlockRows {
  seriesIds: readonly string[];
}

/** Options of `writePart`. */
export interface PartWriteOptions {
  /** The columns every block holds. */
  schema: BlockSchema;
  /** The storage version stamped in the metadata (from storage/versions.json). */
  formatVersion: string;
  /** The last WAL sequence whose rows this part holds: a restart resumes after it. */
  lastSequence: number;
  /** Rows per block, 1..MAX_BLOCK_ROWS; default DEFAULT_MAX_ROWS_PER_BLOCK. */
  maxRowsPerBlock?: number;
  /** Source of `created_at`; default the system clock. */
  clock?: Pick<Clock, 'now'>;
}

/** Which blocks a query needs; the time range is inclusive on both ends. */
export interface BlockQuery {
  seriesIds?: ReadonlySet<string>;
  minTs?: number;
  maxTs?: number;
}

/**
 * Writes `rows` as part directory `dir` (`…/part-<seq>`), through `dir + '.tmp'`, metadata last;
 * returns the metadata. Throws AlreadyExists if `dir` exists; removes the `.tmp` on failure.
 */
export async function writePart(
  fs: StorageFs,
  dir: string,
  rows: PartRows,
  opts: PartWriteOptions,
): Promise<PartMetadata> {
  const maxRows = opts.maxRowsPerBlock ?? DEFAULT_MAX_ROWS_PER_BLOCK;
  checkMaxRows(maxRows);
  if (!Number.isSafeInteger(opts.lastSequence) || opts.lastSequence < 0) {
    throw errors.invalidArgument(`options.lastSequence must be a non-negative integer, got ${opts.lastSequence}`);
  }
  if (typeof opts.formatVersion !== 'string' || opts.formatVersion === '') {
    throw errors.invalidArgument('options.formatVersion must be a non-empty string');
  }
  if (dir.endsWith(PART_TMP_SUFFIX))
    throw errors.invalidArgument(`part directory ${dir} must not end in ${PART_TMP_SUFFIX}`);
  const cols = schemaColumns(rows, opts.schema);
  const stamp = {
    formatVersion: opts.formatVersion,
    lastSequence: opts.lastSequence,
    createdAt: new Date((opts.clock ?? systemClock).now()).toISOString(),
  };
  // The same encoder and crash protocol the shard store uses (part_encode.ts), on this thread.
  const part = encodeRuns(cols, seriesRuns(rows), opts.schema, maxRows, stamp);
  await writeEncodedPart(fs, dir, part);
  return part.metadata;
}

/** Options of `openPart`. */
export interface PartOpenOptions {
  /** Storage versions this build reads; a part stamped otherwise throws UnsupportedVersionError. */
  supportedVersions?: readonly string[];
}

/**
 * Opens the part in `dir`: reads and checks metadata and index, opens data for positioned reads.
 * Throws IncompletePartError for a `.tmp` or metadata-less directory, CorruptDataError naming the
 * file for damage. The caller must `close()` the part.
 */
export async function openPart(fs: StorageFs, dir: string, opts: PartOpenOptions = {}): Promise<Part> {
  if (basename(dir).endsWith(PART_TMP_SUFFIX)) throw new IncompletePartError(dir, 'its writer never finished (.tmp)');
  if (!(await fs.exists(dir))) throw errors.notFound(`part ${dir} does not exist`);
  const metaPath = join(dir, PART_FILES.metadata);
  if (!(await fs.exists(metaPath))) throw new IncompletePartError(dir, 'no metadata file');
  const meta = parseMetadata(metaPath, await readWhole(fs, metaPath), opts.supportedVersions);
  const indexPath = join(dir, PART_FILES.index);
  const entries = parseIndex(indexPath, await readWhole(fs, indexPath), meta);
  const dataPath = join(dir, PART_FILES.data);
  if (!(await fs.exists(dataPath))) throw new CorruptDataError(dataPath, 'file missing from a complete part');
  const data = await fs.open(dataPath, 'r');
  try {
    const size = await data.size();
    if (size !== meta.data_bytes)
      throw new CorruptDataError(dataPath, `${size} bytes, the metadata says ${meta.data_bytes}`);
  } catch (err) {
    await data.close();
    throw err;
  }
  return new Part(dir, meta, entries, data);
}

async function readWhole(fs: StorageFs, path: string): Promise<Uint8Array> {
  if (!(await fs.exists(path))) throw new CorruptDataError(path, 'file missing from a complete part');
  return fs.readFile(path);
}

/** An open, immutable part. Not safe to use after `close()`. */
export class Part {
  /** The part directory. */
  readonly dir: string;
  /** The part's metadata as read from disk. */
  readonly metadata: PartMetadata;
  /** All blocks, in file order. */
  readonly entries: readonly BlockEntry[];
  /** The part's data file. */
  readonly dataPath: string;
  private readonly data: FileHandle;
  /**
   * The series in file order (entries of a series are contiguous): series s holds entries
   * `bounds[s]` to `bounds[s + 1]`. With each entry's time range in typed arrays, a query over
   * every series walks flat arrays instead of a map of objects (an empty range asks each series).
   */
  private readonly seriesIds: string[] = [];
  private readonly seriesAt = new Map<string, number>();
  private readonly bounds: Int32Array;
  private readonly minTs: Float64Array;
  private readonly maxTs: Float64Array;
  private closed = false;

  /** Use `openPart`. */
  constructor(dir: string, metadata: PartMetadata, entries: BlockEntry[], data: FileHandle) {
    this.dir = dir;
    this.metadata = metadata;
    this.entries = entries;
    this.data = data;
    this.dataPath = join(dir, PART_FILES.data);
    const starts: number[] = [];
    this.minTs = new Float64Array(entries.length);
    this.maxTs = new Float64Array(entries.length);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      this.minTs[k] = e.minTs;
      this.maxTs[k] = e.maxTs;
      if (k > 0 && e.seriesId === entries[k - 1]!.seriesId) continue;
      this.seriesAt.set(e.seriesId, this.seriesIds.length);
      this.seriesIds.push(e.seriesId);
      starts.push(k);
    }
    starts.push(entries.length);
    this.bounds = Int32Array.from(starts);
  }

  /** Number of distinct series in the part. */
  get seriesCount(): number {
    return this.seriesIds.length;
  }

  /** The blocks holding rows of the asked series that may fall in [minTs, maxTs], in file order. */
  blocksFor(q: BlockQuery = {}): BlockEntry[] {
    const lo = q.minTs ?? -Infinity;
    const hi = q.maxTs ?? Infinity;
    const out: BlockEntry[] = [];
    const m = this.metadata;
    if (m.min_ts === null || m.max_ts === null || hi < m.min_ts || lo > m.max_ts || lo > hi) return out;
    const ids = q.seriesIds;
    if (!ids || ids.size >= this.seriesIds.length) {
      for (let s = 0; s < this.seriesIds.length; s++)
        if (!ids || ids.has(this.seriesIds[s]!)) this.blocksOfSeries(s, lo, hi, out);
      return out;
    }
    for (const id of ids) {
      const s = this.seriesAt.get(id);
      if (s !== undefined) this.blocksOfSeries(s, lo, hi, out);
    }
    // Set order is the caller's; file order makes the reads sequential.
    return out.sort(byOrdinal);
  }

  /**
   * Appends series s's blocks that may hold rows in [lo, hi]. A series' blocks follow one another
   * in time (parseIndex checks it): the first that may overlap is found by bisection, and the walk
   * stops at the first starting after the range. An evenly spaced block (version 3) whose rows all
   * miss the range is skipped unread. (A method, not a closure per call: V8 keeps its compiled
   * code.)
   */
  private blocksOfSeries(s: number, lo: number, hi: number, out: BlockEntry[]): void {
    const { bounds, minTs, maxTs } = this;
    let a = bounds[s]!;
    let b = bounds[s + 1]!;
    const end = b;
    while (a < b) {
      const k = (a + b) >>> 1;
      if (maxTs[k]! < lo) a = k + 1;
      else b = k;
    }
    for (let k = a; k < end && minTs[k]! <= hi; k++) {
      const e = this.entries[k]!;
      if (e.step === 0 || stepHasRowIn(e.minTs, e.maxTs, e.step, lo, hi)) out.push(e);
    }
  }

  /** Reads and decodes one block (see readBlocks). */
  async readBlock(entry: BlockEntry, projection?: BlockProjection): Promise<BlockRows> {
    return (await this.readBlocks([entry], projection))[0]!;
  }

  /**
   * Reads and decodes `entries` (in file order, as `blocksFor` gives them), rows limited to
   * `range` when given. Neighbouring blocks are read together (one positioned read per run, gaps
   * up to COALESCE_GAP_BYTES read and dropped) and runs are read concurrently: a query over many
   * series costs a few reads, not one awaited read per block. Same checks as `readBlock`.
   */
  async readBlocks(
    entries: readonly BlockLocation[],
    projection?: BlockProjection,
    range?: TimeRange,
  ): Promise<BlockRows[]> {
    return this.readDecoded(entries, rowsDecoder(this.metadata.schema, projection, range));
  }

  /** Reads `entries` as `readBlocks` does, each block's bytes turned into a `T` by `decode`. */
  async readDecoded<T>(entries: readonly BlockLocation[], decode: BlockDecoder<T>): Promise<T[]> {
    if (this.closed) throw errors.failedPrecondition(`part ${this.dir} is closed`);
    for (const e of entries)
      if (this.entries[e.ordinal] !== e)
        throw errors.invalidArgument(`block entry ${e.ordinal} does not belong to part ${this.dir}`);
    return readBlocksAt(this.data, this.dataPath, entries, decode);
  }

  /** Closes the data file; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.data.close();
  }
}

/**
 * Turns the bytes of one block (its crc already matched the index's) into what a reader wants;
 * `where` names the block in `path` for an error.
 */
export type BlockDecoder<T> = (bytes: Uint8Array, entry: BlockLocation, path: string, where: () => string) => T;

/** A block's rows (decodeBlock), limited to `range` when given, else checked against the index's row count. */
export function rowsDecoder(
  schema: BlockSchema,
  projection?: BlockProjection,
  range?: TimeRange,
): BlockDecoder<BlockRows> {
  return (bytes, e, path, where) => {
    const rows = decodeBlock(path, bytes, schema, projection, where, range);
    if (!range && rows.timestamps.length !== e.rowCount)
      throw new CorruptDataError(path, `${where()}: ${rows.timestamps.length} rows, the index says ${e.rowCount}`);
    return rows;
  };
}

/** Blocks in file order. */
const byOrdinal = (a: BlockLocation, b: BlockLocation) => a.ordinal - b.ordinal;

/** Neighbouring blocks read with one positioned read: bytes [start, end) hold entries [from, to). */
interface ReadRun {
  start: number;
  end: number;
  from: number;
  to: number;
}

/** A run's bytes as read: `got` of them came (fewer than asked when the file is short). */
interface RunBytes {
  buf: Buffer;
  got: number;
}

/** Reads one run's bytes (a module function, not a closure per call: V8 keeps its compiled code). */
async function readRun(data: FileHandle, run: ReadRun): Promise<RunBytes> {
  // Not zeroed first: bytes past what the read returned are never looked at (checked in decodeRun).
  const buf = Buffer.allocUnsafe(run.end - run.start);
  return { buf, got: await data.read(buf, 0, buf.length, run.start) };
}

/** Checks and decodes the blocks of one run read into `out`. */
function decodeRun<T>(
  { buf, got }: RunBytes,
  dataPath: string,
  entries: readonly BlockLocation[],
  decode: BlockDecoder<T>,
  run: ReadRun,
  out: T[],
): void {
  for (let k = run.from; k < run.to; k++) {
    const e = entries[k]!;
    // Named only when damaged (see decodeBlock).
    const where = () => `block ${e.ordinal} (series ${e.seriesId}, offset ${e.offset}, ${e.length} bytes)`;
    if (got < e.offset + e.length - run.start)
      throw new CorruptDataError(dataPath, `${where()}: truncated, read ${got} bytes`);
    // A plain Uint8Array view, not a Buffer: the codecs' own subarrays are then the typed array's
    // (a Buffer's subarray is a JS constructor call, a few per block of every query).
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset + e.offset - run.start, e.length);
    if (blockCrc(bytes) !== e.crc)
      throw new CorruptDataError(dataPath, `${where()}: stored checksum differs from the index`);
    out[k] = decode(bytes, e, dataPath, where);
  }
}

/**
 * Reads `entries` (in file order) of the data file open as `data` and decodes each with `decode`
 * (see Part.readBlocks), reading two neighbours together when at most `gapBytes` lie between
 * them. Also what a worker thread runs on a file it opened itself by path.
 */
export async function readBlocksAt<T>(
  data: FileHandle,
  dataPath: string,
  entries: readonly BlockLocation[],
  decode: BlockDecoder<T>,
  gapBytes = COALESCE_GAP_BYTES,
): Promise<T[]> {
  const runs: ReadRun[] = [];
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!;
    const last = runs[runs.length - 1];
    if (
      last &&
      e.offset >= last.end &&
      e.offset - last.end <= gapBytes &&
      e.offset + e.length - last.start <= MAX_RUN_BYTES
    ) {
      last.end = e.offset + e.length;
      last.to = k + 1;
    } else {
      runs.push({ start: e.offset, end: e.offset + e.length, from: k, to: k + 1 });
    }
  }
  const out = new Array<T>(entries.length);
  for (let i = 0; i < runs.length; i += READ_CONCURRENCY) {
    const batch = runs.slice(i, i + READ_CONCURRENCY);
    const read = await Promise.all(batch.map((run) => readRun(data, run)));
    // Decoded in file order once the batch is read, whichever read finished first: a decoder that
    // adds to an aggregation (block_series.ts) then adds the same way every time.
    for (let j = 0; j < batch.length; j++) decodeRun(read[j]!, dataPath, entries, decode, batch[j]!, out);
  }
  return out;
}
