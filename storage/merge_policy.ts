/**
 * Which parts of a shard to merge (pure): the policy for one (segment, name), and the choice over
 * a store's segments (shard_store.ts runs it, merge.ts merges).
 *
 * Bound (`pickRun`): a (segment, name) holding more than `maxPartsPerName` parts merges ONE run of
 * parts consecutive in age, at least `minPartsPerMerge` long and long enough to bring the count to
 * the bound; of the runs of that length the one with the fewest rows (ties: the oldest), so small
 * recent flushes merge together and big merged parts are rewritten rarely (size-tiered). A run must
 * not mix column types (the merged part has one type per column), must hold at most
 * `maxRowsPerMerge` rows (a merge holds its inputs' bytes in memory), and the part after it must
 * have a strictly higher last_sequence: the merged part takes a NEW, higher part sequence, so with
 * an equal last_sequence it would wrongly outrank that newer part.
 *
 * Quiet (`pickQuietRun`): a (segment, name) no flush touched for a while merges into one part.
 */
import { errors } from '../transport/errors.js';
import type { BlockSchema } from './block.js';
import { typesAgree } from './series_merge.js';
import type { PartRef, Segment } from './shard_load.js';

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
      const rows = allowedRows(parts, start, end, policy);
      if (rows === null || (best && rows >= best.rows)) continue;
      best = { start, end, rows };
    }
    if (best) return { start: best.start, end: best.end };
  }
  return null;
}

/**
 * The rows of run `[start, end)` when the rules of every merge allow it (a strictly higher
 * last_sequence after it, at most `maxRowsPerMerge` rows, one type per column), else null.
 */
function allowedRows(parts: readonly RunCandidate[], start: number, end: number, policy: MergePolicy): number | null {
  if (end < parts.length && !(parts[end]!.lastSequence > parts[end - 1]!.lastSequence)) return null;
  let rows = 0;
  for (let k = start; k < end; k++) rows += parts[k]!.rows;
  if (rows > policy.maxRowsPerMerge) return null;
  return typesAgree(parts.slice(start, end).map((p) => p.schema)) ? rows : null;
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
    const rows = allowedRows(parts, start, end, policy);
    if (rows === null) return false;
    let largest = 0;
    for (let k = start; k < end; k++) largest = Math.max(largest, parts[k]!.rows);
    return largest <= QUIET_DOMINANT_SHARE * rows;
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

/** A run chosen to merge: its (segment, name), the name's key column and the parts, oldest first. */
export interface MergeChoice {
  seg: Segment;
  name: string;
  keyTag: string | null;
  refs: PartRef[];
}

/**
 * The first (segment, name) over the bound, else, when `quiet(seg)`, the first quiet one with a
 * run to merge. `keyTagOf` names a name's key column (undefined: unknown, never merged).
 */
export function chooseMerge(
  segments: readonly Segment[],
  policy: MergePolicy,
  keyTagOf: (name: string) => string | null | undefined,
  quiet: (seg: Segment) => boolean,
): MergeChoice | null {
  for (const seg of segments) {
    const isQuiet = quiet(seg);
    for (const name of [...new Set(seg.parts.map((r) => r.name))].sort()) {
      const keyTag = keyTagOf(name);
      if (keyTag === undefined) continue;
      if (keyTag !== null && typeof keyTag !== 'string')
        throw errors.invalidArgument(`keyTagOf(${JSON.stringify(name)}) must return a string, null or undefined`);
      const parts = seg.parts.filter((r) => r.name === name);
      const meta = parts.map((r) => ({
        lastSequence: r.part.metadata.last_sequence,
        rows: r.part.metadata.row_count,
        schema: r.part.metadata.schema,
        minTs: r.part.metadata.min_ts,
        maxTs: r.part.metadata.max_ts,
      }));
      const run = pickRun(meta, policy) ?? (isQuiet ? pickQuietRun(meta, policy) : null);
      if (run) return { seg, name, keyTag, refs: parts.slice(run.start, run.end) };
    }
  }
  return null;
}
