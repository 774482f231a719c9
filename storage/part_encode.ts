/**
 * A part's bytes built apart from its writing: `PartEncoder` turns rows into a part's `data`,
 * `index` and `metadata`, and `writeEncodedPart` puts them on disk with the part crash protocol
 * (part.ts). part.ts's `writePart` is the two in a row; the split lets the CPU-heavy half run on a
 * worker thread (part_pool.ts), which has no StorageFs, while every file operation stays on the
 * caller's thread and injected fs.
 *
 * Nothing here validates sort order: callers check it on their thread first (`seriesRuns`), so a
 * worker never meets a caller's mistake.
 */
import { dirname, join } from 'node:path';
import { errors } from '../transport/errors.js';
import {
  blockCrc,
  encodeBlock,
  MAX_BLOCK_ROWS,
  plainSchema,
  sliceBlockRows,
  type BlockRows,
  type BlockSchema,
  type TagColumn,
} from './block.js';
import { fieldStats, timestampStep } from './block_stats.js';
import type { FileHandle, StorageFs } from './fs.js';
import {
  DEFAULT_MAX_ROWS_PER_BLOCK,
  encodeMetadata,
  IndexWriter,
  PART_FILES,
  PART_TMP_SUFFIX,
  type PartMetadata,
  type PartRows,
} from './part.js';

/** The three files of a part, ready to write. */
export interface EncodedPart {
  data: Uint8Array;
  index: Uint8Array;
  metadata: PartMetadata;
}

/** What a part's metadata says besides what its rows determine. */
export interface PartStamp {
  formatVersion: string;
  lastSequence: number;
  /** ISO 8601, from the caller's clock (a worker has none). */
  createdAt: string;
}

/** Rows grouped by series: `series[k]` owns the next `counts[k]` rows. */
export interface SeriesRuns {
  series: string[];
  counts: Uint32Array;
}

/** Checks the part's sort rules (series ascending and contiguous, ts ascending within one) and groups rows by series. */
export function seriesRuns(rows: PartRows): SeriesRuns {
  const ids = rows.seriesIds;
  const ts = rows.timestamps;
  const n = ts.length;
  if (ids.length !== n) throw errors.invalidArgument(`${ids.length} series ids for ${n} rows`);
  const series: string[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n;) {
    const sid = ids[i]!;
    if (typeof sid !== 'string') throw errors.invalidArgument(`series id at row ${i} is not a string`);
    let j = i + 1;
    for (; j < n && ids[j] === sid; j++) {
      if (ts[j]! < ts[j - 1]!)
        throw errors.invalidArgument(`rows of series ${sid} are not sorted by timestamp at row ${j}`);
    }
    if (j < n && !(ids[j]! > sid))
      throw errors.invalidArgument(`series ids are not sorted (or a series is split) at row ${j}`);
    series.push(sid);
    counts.push(j - i);
    i = j;
  }
  return { series, counts: Uint32Array.from(counts) };
}

/** Only the schema's columns of `rows`, checked for presence and length (as writePart checks them). */
export function schemaColumns(rows: PartRows, schema: BlockSchema): BlockRows {
  const n = rows.timestamps.length;
  if (!(rows.timestamps instanceof Float64Array)) throw errors.invalidArgument('timestamps must be a Float64Array');
  const out: BlockRows = { timestamps: rows.timestamps, fields: {}, tags: {} };
  for (const f of schema.fields) {
    const col = rows.fields[f.name];
    if (!(col instanceof Float64Array) || col.length !== n) {
      throw errors.invalidArgument(`field column ${JSON.stringify(f.name)} must be a Float64Array of ${n} values`);
    }
    out.fields[f.name] = col;
  }
  for (const t of schema.tags) {
    const col: TagColumn | undefined = rows.tags[t.name];
    if (col === undefined || col.length !== n)
      throw errors.invalidArgument(`tag column ${JSON.stringify(t.name)} must hold ${n} values`);
    out.tags[t.name] = col;
  }
  return out;
}

/** Checks `maxRowsPerBlock` as writePart does. */
export function checkMaxRows(maxRows: number): void {
  if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > MAX_BLOCK_ROWS) {
    throw errors.invalidArgument(`options.maxRowsPerBlock must be an integer in 1..${MAX_BLOCK_ROWS}, got ${maxRows}`);
  }
}

/** Builds a part series by series (ascending ids), in memory. */
export class PartEncoder {
  private data = new Uint8Array(64 * 1024);
  private fill = 0;
  private readonly index = new IndexWriter();
  private rows = 0;
  private seriesCount = 0;
  private minTs = Infinity;
  private maxTs = -Infinity;

  constructor(
    private readonly schema: BlockSchema,
    private readonly maxRows = DEFAULT_MAX_ROWS_PER_BLOCK,
  ) {}

  /** Appends one series' rows (sorted by ts, every schema column present) as blocks of up to maxRows. */
  addSeries(seriesId: string, rows: BlockRows): void {
    const n = rows.timestamps.length;
    if (n === 0) return;
    const ts = rows.timestamps;
    this.seriesCount++;
    this.rows += n;
    for (let s = 0; s < n; s += this.maxRows) {
      const e = Math.min(n, s + this.maxRows);
      const block = encodeBlock(s === 0 && e === n ? rows : sliceBlockRows(rows, s, e), this.schema);
      const stats = this.schema.fields.map((f) => fieldStats(rows.fields[f.name]!, s, e));
      const step = timestampStep(ts, s, e);
      this.index.add(seriesId, ts[s]!, ts[e - 1]!, e - s, block.length, blockCrc(block), step, stats);
      if (ts[s]! < this.minTs) this.minTs = ts[s]!;
      if (ts[e - 1]! > this.maxTs) this.maxTs = ts[e - 1]!;
      this.append(block);
    }
  }

  /** The finished part. The encoder must not be used afterwards. */
  finish(stamp: PartStamp): EncodedPart {
    const index = this.index.finish(stamp.formatVersion);
    const blocks = this.index.count;
    // Exact size, so that a transfer moves no slack.
    const data = this.fill === this.data.length ? this.data : this.data.slice(0, this.fill);
    // Same keys in the same order as writePart: the bytes must be identical.
    const metadata: PartMetadata = {
      format_version: stamp.formatVersion,
      row_count: this.rows,
      series_count: this.seriesCount,
      block_count: blocks,
      min_ts: blocks ? this.minTs : null,
      max_ts: blocks ? this.maxTs : null,
      last_sequence: stamp.lastSequence,
      created_at: stamp.createdAt,
      data_bytes: this.fill,
      index_bytes: index.length,
      schema: plainSchema(this.schema),
    };
    return { data, index, metadata };
  }

  private append(block: Uint8Array): void {
    if (this.fill + block.length > this.data.length) {
      const grown = new Uint8Array(Math.max(this.fill + block.length, this.data.length * 2));
      grown.set(this.data.subarray(0, this.fill));
      this.data = grown;
    }
    this.data.set(block, this.fill);
    this.fill += block.length;
  }
}

/** Encodes rows already grouped by `seriesRuns` (only the schema's columns are read). */
export function encodeRuns(
  rows: BlockRows,
  runs: SeriesRuns,
  schema: BlockSchema,
  maxRows: number,
  stamp: PartStamp,
): EncodedPart {
  const enc = new PartEncoder(schema, maxRows);
  for (let k = 0, i = 0; k < runs.series.length; k++) {
    const n = runs.counts[k]!;
    enc.addSeries(runs.series[k]!, sliceBlockRows(rows, i, i + n));
    i += n;
  }
  return enc.finish(stamp);
}

/** A file written into the part's `.tmp` directory before its metadata (so a complete part always has it). */
export interface ExtraPartFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * Writes an encoded part as directory `dir` (`…/part-<seq>`) with writePart's crash protocol:
 * everything in `dir + '.tmp'`, data and index fsynced, `extra` files, metadata atomically last,
 * rename, parent fsync. Throws AlreadyExists if `dir` exists; removes the `.tmp` on failure.
 */
export async function writeEncodedPart(
  fs: StorageFs,
  dir: string,
  part: EncodedPart,
  extra: readonly ExtraPartFile[] = [],
): Promise<void> {
  if (dir.endsWith(PART_TMP_SUFFIX))
    throw errors.invalidArgument(`part directory ${dir} must not end in ${PART_TMP_SUFFIX}`);
  if (await fs.exists(dir)) throw errors.alreadyExists(`part ${dir} already exists`);
  const tmp = dir + PART_TMP_SUFFIX;
  await fs.rm(tmp); // left by a crashed writer: it never became a part
  await fs.mkdir(tmp);
  try {
    await writeSynced(fs, join(tmp, PART_FILES.data), part.data);
    await writeSynced(fs, join(tmp, PART_FILES.index), part.index);
    for (const f of extra) await fs.writeFileAtomic(join(tmp, f.name), f.bytes);
    // Metadata last: its presence is what makes the directory a part (part.ts's crash rule).
    await fs.writeFileAtomic(join(tmp, PART_FILES.metadata), encodeMetadata(part.metadata));
    await fs.rename(tmp, dir);
    await fs.syncDir(dirname(dir));
  } catch (err) {
    await fs.rm(tmp).catch(() => undefined);
    throw err;
  }
}

async function writeSynced(fs: StorageFs, path: string, bytes: Uint8Array): Promise<void> {
  const h: FileHandle = await fs.open(path, 'w');
  try {
    // writePart always creates the data file, empty parts included.
    if (bytes.length > 0) await h.write(bytes, 0);
    await h.sync();
  } finally {
    await h.close();
  }
}
