/**
 * Aggregating a block while decoding it (issue: aggregate per block while reading): for a block
 * of a series read alone (block_series.ts), an aggregation answered by count, sum, min and max
 * needs only, per bucket of the block's rows in range, their count and each aggregated field's
 * statistics — and the values of the tags it groups by and filters on, when they are the same in
 * every one of those rows. `foldColumns` produces exactly that from the block's bytes: no array of
 * timestamps, of tag values or of field values is made (a packed decimal column is summed from its
 * mantissas, any other through one reused scratch array), and a tag whose dictionary holds one
 * string is read once, not per row.
 *
 * The statistics are those decoding the rows would give (the same values, added in row order, per
 * bucket), so the groups come out as they would from the decoded rows. A block the fold cannot
 * take — a tag differing between its rows, a column its part lacks, a list tag — is decoded
 * instead (null from `foldColumns`).
 */
import { ColumnKind, type BlockSchema, type TimeRange } from '../block.js';
import { rowsInRange, type BlockHeader, type RowsInRange } from '../block_decode.js';
import { runStats } from '../block_stats.js';
import {
  ByteReader,
  FloatCodec,
  readFloats,
  readInts,
  readOnlyString,
  readPackedRunStats,
  readStrings,
} from '../encoding/index.js';
import { statsAnswer } from './block_summary.js';
import { criteriaNames } from './criteria.js';
import { aggregatedFields, bucketStart, type PlannedBucket, type QueryPlan } from './plan.js';

/** What a fold reads from each block. */
export interface BlockFold {
  /** The aggregated fields. */
  fields: readonly string[];
  /** The group-by tags, then the tags only the criteria name. */
  tags: readonly string[];
  bucket: Pick<PlannedBucket, 'every_ms' | 'offset_ms'> | null;
}

/**
 * A block folded: its tag values (in the fold's order) and its runs of rows, one per bucket in
 * time order (one unbucketed), as columns: no object per run. `foldColumns` fills one per thread
 * again for each block: it is read before the next fold, never kept.
 */
export interface FoldedBlock {
  tags: unknown[];
  /** Its runs (0: no row in range); the arrays below hold more room than that. */
  runs: number;
  /** Per run: the bucket's start (NaN unbucketed) and the rows in it. */
  starts: Float64Array;
  rows: Float64Array;
  /** Per aggregated field (the fold's order), per run r: at 4r its count of values that are not NaN, then their sum, min and max. */
  stats: Float64Array[];
}

/** The fold of `plan`, or null when its answer needs the rows themselves. */
export function foldSpec(plan: QueryPlan): BlockFold | null {
  if (!statsAnswer(plan)) return null;
  const tags = [...plan.group_by!];
  for (const t of criteriaNames(plan.criteria).tags) if (!tags.includes(t)) tags.push(t);
  const bucket = plan.bucket && { every_ms: plan.bucket.every_ms, offset_ms: plan.bucket.offset_ms };
  return { fields: aggregatedFields(plan), tags, bucket };
}

/** Values of one field, reused by every fold on this thread (a fold is synchronous). */
let scratch = new Float64Array(1024);

/** Where a part's schema holds the fold's fields and tags (-1: it has none of that name). */
export interface FoldIndexes {
  fields: number[];
  tags: number[];
}

/** The schema indexes of `fold`'s columns in a part of `schema`: looked up once per part, not per block. */
export function foldIndexes(schema: BlockSchema, fold: BlockFold): FoldIndexes {
  return {
    fields: fold.fields.map((f) => schemaIndex(schema, f, 'field')),
    tags: fold.tags.map((t) => schemaIndex(schema, t, 'tag')),
  };
}

/**
 * Folds the rows of a verified block (header `h`, see block_decode.ts's readVerifiedBlock) of a
 * part whose schema holds the fold's columns at `at`, inside `range`; null when the block must be
 * decoded instead (file header). Throws `EncodingError` on damage.
 */
export function foldColumns(
  bytes: Uint8Array,
  h: BlockHeader,
  at: FoldIndexes,
  fold: BlockFold,
  range: TimeRange,
): FoldedBlock | null {
  for (const i of at.fields) if (columnOf(h, i) < 0) return null;
  for (const i of at.tags) if (columnOf(h, i) < 0) return null;
  const rows = rowsInRange(bytes, h, range);
  const { lo, hi } = rows;
  const out = folded;
  out.runs = 0;
  if (hi === lo) return out;
  // Entries are overwritten, not pushed after emptying the arrays (which would drop their room).
  if (out.tags.length !== at.tags.length) out.tags.length = at.tags.length;
  for (let t = 0; t < at.tags.length; t++) {
    const v = onlyValue(bytes, h, columnOf(h, at.tags[t]!), lo, hi);
    if (v === NOT_ONE) return null;
    out.tags[t] = v;
  }
  const runs = bucketRuns(rows, fold.bucket);
  if (scratch.length < hi) scratch = new Float64Array(Math.max(hi, 2 * scratch.length));
  if (out.stats.length !== at.fields.length) out.stats.length = at.fields.length;
  for (let f = 0; f < at.fields.length; f++) {
    const c = columnOf(h, at.fields[f]!);
    const r = new ByteReader(bytes, h.starts[c]!, h.starts[c + 1]!);
    let stats = out.stats[f];
    if (stats === undefined || stats.length < 4 * runs) out.stats[f] = stats = new Float64Array(4 * out.starts.length);
    const packed = h.kinds[c] === ColumnKind.floats && r.remaining > 0 && bytes[r.pos] === FloatCodec.packed;
    if (!(packed && readPackedRunStats(r, hi, hi < h.n, lo, runEnds, stats, runs))) {
      if (h.kinds[c] === ColumnKind.floats) readFloats(r, hi, hi < h.n, lo, scratch);
      else readInts(r, hi, hi < h.n, scratch);
      runStats(scratch, lo, runEnds, stats, runs);
    }
    if (hi === h.n) r.expectEnd('column');
  }
  for (let k = 0; k < runs; k++) out.rows[k] = runEnds[k]! - (k === 0 ? lo : runEnds[k - 1]!);
  out.runs = runs;
  return out;
}

/** The block `foldColumns` fills, one per thread (a fold is synchronous, its result read at once). */
const folded: FoldedBlock = {
  tags: [],
  runs: 0,
  starts: new Float64Array(64),
  rows: new Float64Array(64),
  stats: [],
};

/** Each run's end row (see bucketRuns), reused by every fold on this thread. */
let runEnds = new Int32Array(64);

/** The index of `name` in the schema's columns (fields first, then tags), -1 if absent. */
function schemaIndex(schema: BlockSchema, name: string, kind: 'field' | 'tag'): number {
  if (kind === 'field') return schema.fields.findIndex((f) => f.name === name);
  const i = schema.tags.findIndex((t) => t.name === name);
  return i < 0 ? -1 : schema.fields.length + i;
}

/** The block column holding schema column `i`, -1 if the block has none. */
function columnOf(h: BlockHeader, i: number): number {
  if (i < 0) return -1;
  for (let c = 1; c < h.cols; c++) if (h.index[c] === i) return c;
  return -1;
}

const NOT_ONE = Symbol('not one value');

/** The value every row `[lo, hi)` of tag column `c` holds, or NOT_ONE (rows differ, or a list tag). */
function onlyValue(bytes: Uint8Array, h: BlockHeader, c: number, lo: number, hi: number): unknown {
  const r = new ByteReader(bytes, h.starts[c]!, h.starts[c + 1]!);
  if (h.kinds[c] === ColumnKind.strings) {
    const only = readOnlyString(r);
    if (only !== null) return only;
    const col = readStrings(new ByteReader(bytes, h.starts[c]!, h.starts[c + 1]!), h.n, lo, hi);
    for (let i = 1; i < col.length; i++) if (col[i] !== col[0]) return NOT_ONE;
    return col[0];
  }
  if (h.kinds[c] === ColumnKind.ints) {
    const col = readInts(r, h.n);
    r.expectEnd('column');
    for (let i = lo + 1; i < hi; i++) if (col[i] !== col[lo]) return NOT_ONE;
    return col[lo];
  }
  return NOT_ONE;
}

/** The time of row i (see RowsInRange). */
function timeOf(rows: RowsInRange, i: number): number {
  return rows.all ? rows.all[i]! : rows.first + i * rows.step;
}

/**
 * Rows `[lo, hi)` cut where a bucket ends (one run unbucketed): each run's bucket start and end
 * row, into `folded.starts` and `runEnds` (grown when short); returns how many runs.
 */
function bucketRuns(rows: RowsInRange, bucket: BlockFold['bucket']): number {
  const { lo, hi } = rows;
  if (bucket === null) {
    folded.starts[0] = NaN;
    runEnds[0] = hi;
    return 1;
  }
  let runs = 0;
  for (let i = lo; i < hi; runs++) {
    const start = bucketStart(bucket, timeOf(rows, i));
    const end = start + bucket.every_ms;
    let j = i + 1;
    if (rows.all === null) j = Math.max(j, Math.min(hi, Math.ceil((end - rows.first) / rows.step)));
    else while (j < hi && rows.all[j]! < end) j++;
    if (runs === runEnds.length) growRuns();
    folded.starts[runs] = start;
    runEnds[runs] = j;
    i = j;
  }
  return runs;
}

/** Doubles the room for runs (a block of more buckets than any before on this thread). */
function growRuns(): void {
  const n = 2 * runEnds.length;
  const ends = new Int32Array(n);
  ends.set(runEnds);
  runEnds = ends;
  const starts = new Float64Array(n);
  starts.set(folded.starts);
  folded.starts = starts;
  folded.rows = new Float64Array(n);
}
