/**
 * Block statistics (storage version 3): per block of a part, per numeric field of the part's
 * schema, the count of values that are not NaN (a missing float) and their sum, min and max. An
 * aggregation over blocks lying wholly inside its range reads these from the index instead of
 * decoding the blocks (storage/query/block_summary.ts decides which blocks may).
 *
 * Each block also records its timestamp step when its rows are evenly spaced (the usual scrape:
 * one point every 10 s), so that a range falling between two of its rows skips the block unread.
 *
 * On disk they follow the index entries as one section (part_format.ts): per entry, uvarint step
 * (0: not evenly spaced, or one row), then per schema field in schema order uvarint n, then when
 * n > 0 the sum, min and max as float64 little-endian.
 */
import { readUvarint, writeUvarint, type ByteReader, type ByteWriter } from './encoding/index.js';

/** The statistics of one field over one block's rows. */
export interface FieldStats {
  /** Values that are not NaN. */
  readonly n: number;
  /** Sum, min and max of those values; 0, Infinity and -Infinity when n is 0. */
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

/** The storage versions whose parts carry block statistics (3 onwards). */
export function versionHasBlockStats(formatVersion: string): boolean {
  return Number(formatVersion) >= 3;
}

/** One run's end and statistics, for fieldStats (calls are synchronous). */
const ONE_END = new Int32Array(1);
const ONE_RUN = new Float64Array(4);

/** Statistics of `col[from, to)`, NaN skipped; the sum adds in row order, as a decoding read does. */
export function fieldStats(col: Float64Array, from: number, to: number): FieldStats {
  ONE_END[0] = to;
  runStats(col, from, ONE_END, ONE_RUN);
  return { n: ONE_RUN[0]!, sum: ONE_RUN[1]!, min: ONE_RUN[2]!, max: ONE_RUN[3]! };
}

/**
 * Statistics of each of `runs` runs of `v` (NaN skipped, summed in row order): from `from` to
 * `ends[0]`, then to each next end; run k's n, sum, min and max go to `out[4k ... 4k + 3]`.
 */
export function runStats(
  v: Float64Array,
  from: number,
  ends: ArrayLike<number>,
  out: Float64Array,
  runs = ends.length,
): void {
  let i = from;
  for (let k = 0; k < runs; k++) {
    const to = ends[k]!;
    let n = 0;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (; i < to; i++) {
      const x = v[i]!;
      if (x !== x) continue;
      n++;
      sum += x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    out[4 * k] = n;
    out[4 * k + 1] = sum;
    out[4 * k + 2] = min;
    out[4 * k + 3] = max;
  }
}

const scratch = new DataView(new ArrayBuffer(8));

function writeF64(w: ByteWriter, v: number): void {
  scratch.setFloat64(0, v, true);
  w.ensure(8);
  for (let i = 0; i < 8; i++) w.buf[w.pos++] = scratch.getUint8(i);
}

function readF64(r: ByteReader): number {
  const b = r.bytes(8, 'block statistic');
  for (let i = 0; i < 8; i++) scratch.setUint8(i, b[i]!);
  return scratch.getFloat64(0, true);
}

/** The step between `ts[from, to)` when every two neighbours are that far apart (> 0), else 0. */
export function timestampStep(ts: Float64Array, from: number, to: number): number {
  if (to - from < 2) return 0;
  const step = ts[from + 1]! - ts[from]!;
  if (!(step > 0)) return 0;
  for (let i = from + 2; i < to; i++) if (ts[i]! - ts[i - 1]! !== step) return 0;
  return step;
}

/** Whether a block from `minTs` with rows every `step` ms up to `maxTs` has a row in [lo, hi]. */
export function stepHasRowIn(minTs: number, maxTs: number, step: number, lo: number, hi: number): boolean {
  const k = lo <= minTs ? 0 : Math.ceil((lo - minTs) / step);
  const ts = minTs + k * step;
  return ts <= hi && ts <= maxTs;
}

/** Appends one block's step and statistics (one per schema field, in schema order). */
export function writeBlockStats(w: ByteWriter, step: number, stats: readonly FieldStats[]): void {
  writeUvarint(w, step);
  for (const s of stats) {
    writeUvarint(w, s.n);
    if (s.n === 0) continue;
    writeF64(w, s.sum);
    writeF64(w, s.min);
    writeF64(w, s.max);
  }
}

/**
 * Reads the step and statistics of a block of `rows` rows over [minTs, maxTs] with `fields`
 * fields; returns null when they are inconsistent (the caller names the damage).
 */
export function readBlockStats(
  r: ByteReader,
  fields: number,
  rows: number,
  minTs: number,
  maxTs: number,
): { step: number; stats: FieldStats[] } | null {
  const step = readUvarint(r);
  let ok = step === 0 || maxTs - minTs === step * (rows - 1);
  const out: FieldStats[] = new Array<FieldStats>(fields);
  for (let f = 0; f < fields; f++) {
    const n = readUvarint(r);
    if (n > rows) ok = false;
    if (n === 0) {
      out[f] = EMPTY;
      continue;
    }
    const sum = readF64(r);
    const min = readF64(r);
    const max = readF64(r);
    if (!(min <= max) || sum !== sum) ok = false;
    out[f] = { n, sum, min, max };
  }
  return ok ? { step, stats: out } : null;
}

const EMPTY: FieldStats = Object.freeze({ n: 0, sum: 0, min: Infinity, max: -Infinity });
