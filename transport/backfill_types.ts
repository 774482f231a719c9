/**
 * The backfill of a rewrite migration (DESIGN §9), asked by the claimer driving it of one owner of
 * each shard of the group's `current` layout generation, on `P.shard.<group>[.g<gen>].<shard>.backfill`
 * (queue group `shard_owners`). The owner first applies and flushes its WAL up to `until_seq` (where
 * dual writes began), then copies its stored rows, one segment per request, into the `next`
 * generation's WAL subjects in large records, each row with its version (storage/point_version.ts),
 * so copying a segment again is harmless and an interrupted copy resumes at a segment.
 */

/** One backfill request. */
export interface BackfillRequest {
  /** The migration and target index driving the copy (names the WAL de-duplication ids). */
  migration: string;
  index: number;
  /** The generation being built. */
  to: { generation: number; shards: number };
  /** The shard's WAL sequence when dual writes began: everything up to it is copied. */
  until_seq: number;
  /** Copy the first segment starting after this one (epoch ms); null: from the first segment. */
  after_segment: number | null;
  /** How long the owner may take (ms). */
  timeout_ms: number;
}

/**
 * Asks one owner how many rows a copy of its shard would read (a migration's `rows_total`, and the
 * rows a plan names): the rows in its parts plus those in its memtable, once it applied the WAL up
 * to `until_seq` (0: at once). Nothing is flushed or written. An upper bound: a row stored in two
 * parts (overwritten before they merged) counts twice.
 */
export interface BackfillCountRequest {
  count_only: true;
  until_seq: number;
  timeout_ms: number;
}

/** One backfill reply. */
export interface BackfillReply {
  /** Rows copied by this request (to a count request: rows the whole shard holds). */
  rows: number;
  /** The segment copied (its start, epoch ms); null when none was left after `after_segment`. */
  segment: number | null;
}

/**
 * Asked of every owner of a `next` generation's shard on `P.shard.<group>.g<gen>.<shard>.applied.<node>`
 * (no queue group: the claimer asks each owner by name) before the copy is called complete and
 * before the cutover: the owner answers once it applied its WAL up to `seq` (everything the
 * backfill appended), or when `timeout_ms` passed. Reads switch to the generation only when every
 * owner caught up, so no query after a cutover misses a copied row.
 */
export interface CaughtUpRequest {
  seq: number;
  timeout_ms: number;
  /** Once caught up, flush the memtable to parts before answering (the end of a copy). */
  flush?: boolean;
  /**
   * After the flush, wait up to this long (ms) for the shard's merges to finish: the copy's many
   * parts are merged before the cutover instead of competing with live writes during it.
   */
  settle_ms?: number;
}

/** The owner's answer: the sequence it applied, and whether that reaches the one asked. */
export interface CaughtUpReply {
  node: string;
  applied: number;
  caught_up: boolean;
  /** With `settle_ms`: whether the merges finished within it (false: still merging, which is harmless). */
  settled?: boolean;
}
