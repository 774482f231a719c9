/**
 * Background merges of parts: the policy that picks which parts of one (segment, name) to merge,
 * and the merge itself as a pure function of the parts' raw bytes (it runs inline or on a worker,
 * see part_tasks.ts), each series merged by the rule a read applies (series_merge.ts).
 *
 * Policy (`pickRun`): a (segment, name) holding more than `maxPartsPerName` parts merges ONE run of
 * parts consecutive in age, at least `minPartsPerMerge` long and long enough to bring the count to
 * the bound; of the runs of that length the one with the fewest rows (ties: the oldest), so small
 * recent flushes merge together and big merged parts are rewritten rarely (size-tiered). A run must
 * not mix column types (the merged part has one type per column), must hold at most
 * `maxRowsPerMerge` rows (a merge holds its inputs' bytes in memory), and the part after it must
 * have a strictly higher last_sequence: the merged part takes a NEW, higher part sequence, so with
 * an equal last_sequence it would wrongly outrank that newer part.
 */
import { errors } from '../transport/errors.js';
import { blockCrc, type BlockRows, type BlockSchema } from './block.js';
import { decodeBlock } from './block.js';
import { crc32, verify } from './checksum.js';
import { CorruptDataError } from './errors.js';
import { PartEncoder, type EncodedPart, type PartStamp } from './part_encode.js';
import { checkVersion, STORAGE_VERSION } from './versions.js';
import { columnsSchema, mergeSeries, typesAgree, unionColumns, type Chunk } from './series_merge.js';

/** Merge policy: see the file header. */
export interface MergePolicy {
  /** A (segment, name) with more parts than this is merged; default 8. */
  maxPartsPerName: number;
  /** Fewest parts one merge takes (amortizes rewriting); default 4. */
  minPartsPerMerge: number;
  /** Most rows one merge reads; bigger runs are not merged; default 4,000,000. */
  maxRowsPerMerge: number;
}

/** The policy's named defaults. */
export const DEFAULT_MERGE_POLICY: MergePolicy = {
  maxPartsPerName: 8,
  minPartsPerMerge: 4,
  maxRowsPerMerge: 4_000_000,
};

/** Checks a merged policy's numbers. */
export function checkPolicy(p: MergePolicy): void {
  if (!Number.isSafeInteger(p.maxPartsPerName) || p.maxPartsPerName < 1)
    throw errors.invalidArgument(`options.maxPartsPerName must be a positive integer, got ${p.maxPartsPerName}`);
  if (!Number.isSafeInteger(p.minPartsPerMerge) || p.minPartsPerMerge < 2)
    throw errors.invalidArgument(`options.minPartsPerMerge must be an integer >= 2, got ${p.minPartsPerMerge}`);
  if (!(p.maxRowsPerMerge > 0))
    throw errors.invalidArgument(`options.maxRowsPerMerge must be positive, got ${p.maxRowsPerMerge}`);
}

/** What `pickRun` needs of a part. */
export interface RunCandidate {
  lastSequence: number;
  rows: number;
  schema: BlockSchema;
}

/**
 * The run `[start, end)` of `parts` (one segment and name, oldest first) to merge under `policy`,
 * or null when none is needed or allowed.
 */
export function pickRun(parts: readonly RunCandidate[], policy: MergePolicy): { start: number; end: number } | null {
  const count = parts.length;
  if (count <= policy.maxPartsPerName) return null;
  const want = Math.max(count - policy.maxPartsPerName + 1, policy.minPartsPerMerge);
  for (let len = Math.min(want, count); len <= count; len++) {
    let best: { start: number; end: number; rows: number } | null = null;
    for (let start = 0; start + len <= count; start++) {
      const end = start + len;
      if (end < count && !(parts[end]!.lastSequence > parts[end - 1]!.lastSequence)) continue;
      let rows = 0;
      for (let k = start; k < end; k++) rows += parts[k]!.rows;
      if (rows > policy.maxRowsPerMerge || (best && rows >= best.rows)) continue;
      if (!typesAgree(parts.slice(start, end).map((p) => p.schema))) continue;
      best = { start, end, rows };
    }
    if (best) return { start: best.start, end: best.end };
  }
  return null;
}

/** What `pickQuietRun` needs of a part: its time range too (null for a part without rows). */
export interface QuietCandidate extends RunCandidate {
  minTs: number | null;
  maxTs: number | null;
}

/** Above this share of a run's rows in one part, a quiet run is not merged (see pickQuietRun). */
export const QUIET_DOMINANT_SHARE = 0.8;

/**
 * The rule for a quiet (segment, name) — no flush into it for a while: merge all its parts into
 * one, or when that is not allowed, the shortest run of parts consecutive in age that holds every
 * part whose time range overlaps another's. A read of the segment then opens one part, and a
 * series' blocks no longer overlap: parts flushed while several writers send the same series out
 * of order overlap at their edges, and overlapping blocks can be neither skipped by time nor
 * answered from their statistics. A run is allowed under pickRun's rules (row limit, column types,
 * a strictly higher last_sequence after it) when no part holds more than QUIET_DOMINANT_SHARE of
 * its rows: rewriting a big part to absorb a few late rows costs more than they do, and each
 * rewrite of a part grows it by a quarter at least, so a row is rewritten a bounded number of times.
 */
export function pickQuietRun(
  parts: readonly QuietCandidate[],
  policy: MergePolicy,
): { start: number; end: number } | null {
  const allowed = (start: number, end: number) => {
    if (end - start < 2) return false;
    if (end < parts.length && !(parts[end]!.lastSequence > parts[end - 1]!.lastSequence)) return false;
    let rows = 0;
    let largest = 0;
    for (let k = start; k < end; k++) {
      rows += parts[k]!.rows;
      largest = Math.max(largest, parts[k]!.rows);
    }
    if (rows > policy.maxRowsPerMerge || largest > QUIET_DOMINANT_SHARE * rows) return false;
    return typesAgree(parts.slice(start, end).map((p) => p.schema));
  };
  if (allowed(0, parts.length)) return { start: 0, end: parts.length };
  let start = Infinity;
  let end = -Infinity;
  for (let i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      const a = parts[i]!;
      const b = parts[j]!;
      if (a.minTs === null || b.minTs === null || a.minTs > b.maxTs! || b.minTs > a.maxTs!) continue;
      start = Math.min(start, i);
      end = Math.max(end, j + 1);
    }
  }
  return start !== Infinity && allowed(start, end) ? { start, end } : null;
}

/** One block of an input part as the merge reads it (a BlockEntry without its ordinal). */
export interface MergeBlock {
  seriesId: string;
  rowCount: number;
  offset: number;
  length: number;
  crc: number;
}

/** One input part of a merge: its whole data file and index entries. */
export interface MergeInput {
  /** The data file's path, for error messages only. */
  path: string;
  data: Uint8Array;
  blocks: MergeBlock[];
  schema: BlockSchema;
}

/** A merge of parts of one (segment, name) into one part. */
export interface MergeJob {
  /** The measure or stream, for error messages. */
  name: string;
  /** Oldest write first. */
  inputs: MergeInput[];
  /** The stream element-id column; null for a measure. */
  keyTag: string | null;
  maxRowsPerBlock: number;
  stamp: PartStamp;
}

/**
 * The inputs' rows as one part: per series (ascending), newest write wins per key, the union of
 * the inputs' columns. Every block is checked as Part.readBlock checks it; damage throws
 * CorruptDataError naming the input's data file.
 */
export function mergeParts(job: MergeJob): EncodedPart {
  const cols = unionColumns(job.inputs.map((i) => i.schema));
  const enc = new PartEncoder(columnsSchema(cols), job.maxRowsPerBlock);
  const next = job.inputs.map(() => 0);
  const keyTag = job.keyTag ?? undefined;
  for (;;) {
    let id: string | null = null;
    for (let p = 0; p < job.inputs.length; p++) {
      const b = job.inputs[p]!.blocks[next[p]!];
      if (b && (id === null || b.seriesId < id)) id = b.seriesId;
    }
    if (id === null) break;
    const chunks: Chunk[] = [];
    for (let p = 0; p < job.inputs.length; p++) {
      const input = job.inputs[p]!;
      for (let b = input.blocks[next[p]!]; b && b.seriesId === id; b = input.blocks[++next[p]!]) {
        chunks.push({ rows: readBlock(input, b, next[p]!), age: p });
      }
    }
    enc.addSeries(id, mergeSeries(chunks, cols, keyTag, job.name));
  }
  return enc.finish(job.stamp);
}

/** Decodes one block of an input with Part.readBlock's checks. */
function readBlock(input: MergeInput, b: MergeBlock, ordinal: number): BlockRows {
  const where = `block ${ordinal} (series ${b.seriesId}, offset ${b.offset}, ${b.length} bytes)`;
  if (b.offset + b.length > input.data.length)
    throw new CorruptDataError(input.path, `${where}: truncated, the file holds ${input.data.length} bytes`);
  const bytes = input.data.subarray(b.offset, b.offset + b.length);
  if (blockCrc(bytes) !== b.crc)
    throw new CorruptDataError(input.path, `${where}: stored checksum differs from the index`);
  const rows = decodeBlock(input.path, bytes, input.schema, undefined, where);
  if (rows.timestamps.length !== b.rowCount)
    throw new CorruptDataError(input.path, `${where}: ${rows.timestamps.length} rows, the index says ${b.rowCount}`);
  return rows;
}

/** The file in a merged part's directory naming the part sequences it replaces (shard_store.ts header). */
export const MERGED_FROM_FILE = 'merged_from';

/** The bytes of a `merged_from` file: JSON {version, replaces, crc32}, crc32 over the JSON without it. */
export function encodeMergedFrom(replaces: readonly number[]): Uint8Array {
  const body = { version: STORAGE_VERSION, replaces: [...replaces] };
  const crc = crc32(new TextEncoder().encode(JSON.stringify(body)));
  return new TextEncoder().encode(`${JSON.stringify({ ...body, crc32: crc })}\n`);
}

/** The part sequences a `merged_from` file (read from `path`) names; damage throws CorruptDataError. */
export function parseMergedFrom(path: string, bytes: Uint8Array): number[] {
  let v: { version?: unknown; replaces?: unknown; crc32?: unknown };
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as typeof v;
  } catch (err) {
    throw new CorruptDataError(path, 'not valid JSON', { cause: err });
  }
  if (!v || typeof v.version !== 'string') throw new CorruptDataError(path, 'no string "version"');
  checkVersion(path, v.version);
  const ok =
    Array.isArray(v.replaces) &&
    v.replaces.every((s) => Number.isSafeInteger(s) && (s as number) > 0) &&
    typeof v.crc32 === 'number';
  if (!ok) throw new CorruptDataError(path, 'no "replaces" list of part sequences or no "crc32"');
  verify(
    path,
    'merged_from',
    new TextEncoder().encode(JSON.stringify({ version: v.version, replaces: v.replaces })),
    v.crc32 as number,
  );
  return v.replaces as number[];
}
