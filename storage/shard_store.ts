/**
 * The storage of one (group, shard): its segments, their parts, flushes, scans, merges and retention.
 *
 * Layout (a departure from DESIGN §8, which has no level between segment and part):
 * ```
 * <nodeDir>/<group>/shard-<n>/flushed                                 # commit marker, see below
 * <nodeDir>/<group>/shard-<n>/seg-<start>/metadata                    # segment.ts
 * <nodeDir>/<group>/shard-<n>/seg-<start>/schema-<name>/part-<seq>/   # part.ts
 * <nodeDir>/<group>/shard-<n>/seg-<start>/schema-<name>/part-<seq>/merged_from   # merged parts only
 * ```
 * A part holds the rows of ONE measure or stream and its metadata does not say which, hence one
 * `schema-<name>` directory per name in each segment (the prefix keeps a measure named `metadata`
 * off the segment's metadata file). The level sits inside the segment, not above the shard,
 * because all else is per (group, shard): the WAL stream and its resume point, the boot-time
 * version check of data_dir.ts (it lists `<group>/shard-<n>/seg-*`), and retention (a group's ttl
 * drops a segment with every name in it). Part sequences are per segment: highest ever seen + 1.
 *
 * Crash rule (flush): one flush may write several parts and a kill -9 can land between two of
 * them, so `max(last_sequence)` over parts could resume past rows that are in no part. A flush
 * therefore writes its parts, then `flushed` ({version, last_sequence}, atomically), and only then
 * returns (the caller acknowledges the WAL after that). At open, `.tmp` and metadata-less part
 * directories (IncompletePartError) are removed, and so are complete parts whose `last_sequence`
 * exceeds `flushed`: their flush never committed and their rows are still in the WAL.
 * `lastSequence` is the committed value, kept even when retention drops every part. A shard
 * without `flushed` (first open) adopts the highest `last_sequence` of its parts and writes the
 * marker before any flush.
 *
 * Crash rule (merge): a merge replaces a run of parts R of one (segment, name) by ONE part M with
 * their rows merged exactly as scanMerged merges them (merge.ts). M takes a new part sequence and
 * `last_sequence` = max over R, and is written like any part (`.tmp`, data, index, then
 * `merged_from` naming R's sequences, metadata last, rename, fsync of the parent): M is complete
 * if and only if it has metadata, and then it has `merged_from` too. Only then are R's directories
 * removed, each renamed to `part-<seq>.dropping` first (atomic), then deleted. At open: `.dropping`
 * leftovers are deleted; an incomplete M (`.tmp`) is deleted and R, untouched, stays; a complete M
 * makes the open delete every remaining part its `merged_from` names. So after a kill -9 at any
 * point the shard holds either R or M for those rows, never both and never neither, and no part
 * directory is ever half deleted. M's rows are all committed (R's were), so the flush rule keeps
 * it. The policy (merge_policy.ts) only merges runs whose age position M keeps, so newest-wins answers
 * are the same before and after; what changes is that M carries the union of R's columns, so a
 * query that read only older-schema parts of R now also gets the newer columns, default-filled.
 *
 * Concurrency: flush, retention, close and a merge's commit run one at a time (`exclusive`).
 * Scans run alongside them and see only committed parts; a scan that started before a merge's
 * commit keeps reading R, which is closed and removed only once such scans finished. The CPU-heavy
 * half of a merge (decoding, merging, encoding) runs outside `exclusive`, on the part pool when
 * the store has one, so flushes go on meanwhile; its reading of R counts as a scan (retention and
 * close wait for it). Merges run one at a time; `close` makes a running one give up.
 *
 * Ownership: one ShardStore per shard directory per process; the caller `close()`s it (and, after
 * that, destroys the pool it passed). Unsupported versions (segment, part, marker) and damage
 * propagate: the node stops.
 */
import { assert } from '../runtime/assert.js';
import { join } from 'node:path';
import type { Clock } from '../runtime/clock.js';
import { errors } from '../transport/errors.js';
import { NAME_PATTERN } from '../transport/schema_types.js';
import { plainSchema, type BlockRows, type BlockSchema } from './block.js';
import { CorruptDataError } from './errors.js';
import type { StorageFs } from './fs.js';
import { runScanPlan, type PartReader, type ScanPlan } from './scan_plan.js';
import { checkScanRange, planShardScan, scanBlocks, type BlockVisitor, type ScanQuery } from './shard_scan.js';
import { encodeMergedFrom, MERGED_FROM_FILE, type MergeInput } from './merge.js';
import { checkPolicy, chooseMerge, DEFAULT_MERGE_POLICY, type MergePolicy } from './merge_policy.js';
import { DEFAULT_MAX_ROWS_PER_BLOCK, openPart, PART_FILES, partDirName, type Part, type PartRows } from './part.js';
import {
  checkMaxRows,
  schemaColumns,
  seriesRuns,
  writeEncodedPart,
  type EncodedPart,
  type PartStamp,
} from './part_encode.js';
import { inlineRunner, type PartRunner } from './part_pool.js';
import { dropExpiredSegments, type RetentionResult } from './retention.js';
import { createSegment, listSegments, removeSegmentLeftovers } from './segment.js';
import {
  byAge,
  dropPartDir,
  loadSegment,
  NAME_DIR_PREFIX,
  readFlushed,
  writeFlushed,
  type PartRef,
  type Segment,
} from './shard_load.js';
import { COMPATIBLE_VERSIONS, STORAGE_VERSION } from './versions.js';

export { FLUSHED_FILE, NAME_DIR_PREFIX, PART_DROPPING_SUFFIX, type PartRef } from './shard_load.js';
export { MERGED_FROM_FILE } from './merge.js';
export { DEFAULT_MERGE_POLICY, type MergePolicy } from './merge_policy.js';
export type { BlockVisitor, ScannedBlock, ScanQuery } from './shard_scan.js';

/** Options of `ShardStore.open`. */
export interface ShardStoreOptions {
  /** Stamps parts and segments; drives retention. */
  clock: Clock;
  /** Rows per block of the parts it writes; default part.ts's DEFAULT_MAX_ROWS_PER_BLOCK. */
  maxRowsPerBlock?: number;
  /** Where flushes and merges encode (a PartPool); inline on the caller's thread when omitted. */
  pool?: PartRunner;
}

/** Rows of one measure or stream for one segment, as one flush writes them. */
export interface FlushBatch {
  /** The measure or stream the rows belong to. */
  name: string;
  segmentStartMs: number;
  segmentEndMs: number;
  /** Sorted by series id, then timestamp; every timestamp inside [segmentStartMs, segmentEndMs). */
  rows: PartRows;
  schema: BlockSchema;
  /** The flush's last WAL sequence; equal in every batch of one flush. */
  lastSequence: number;
}

/** Options of `ShardStore.merge`: the policy's numbers (merge_policy.ts, defaults DEFAULT_MERGE_POLICY) and the key of each name. */
export interface MergeOptions extends Partial<MergePolicy> {
  /**
   * How rows of `name` are keyed: its element-id column for a stream, null for a measure (key
   * (series, ts)). Undefined when unknown (a deleted resource): its parts are then not merged, as
   * merging a stream as a measure would drop elements.
   */
  keyTagOf: (name: string) => string | null | undefined;
  /**
   * Also merge the parts (merge_policy.ts, pickQuietRun) of a (segment, name) once quiet: no flush
   * into the whole shard for `idleMs` (a load is over), or none into the segment for `coldMs` (a
   * segment writers moved past). Unset: only the bound applies. While the shard keeps flushing, a
   * segment merges only when cold, so a long load is not slowed by rewriting what it just wrote.
   */
  quiet?: { idleMs: number; coldMs: number };
}

/** One merge done: which parts of which (segment, name) became which part. */
export interface MergeDone {
  name: string;
  segmentStartMs: number;
  /** The merged part's sequence. */
  seq: number;
  /** The sequences of the parts it replaced, oldest write first. */
  replaced: number[];
  rowsIn: number;
  rowsOut: number;
}

/** A merge chosen by the policy, its part sequence reserved. */
type MergePlan = { seg: Segment; name: string; keyTag: string | null; refs: PartRef[]; seq: number };

const noop = () => undefined;

/** An open shard: see the file header for the layout, crash rules, concurrency and ownership. */
export class ShardStore {
  private segments: Segment[] = [];
  private committed = 0;
  private closed = false;
  /** Set by close() before it waits: a running merge gives up at its next step. */
  private closing = false;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly active = new Set<Promise<void>>();
  /** Replaced parts still open because scans may read them; closed by their merge (or close()). */
  private readonly retired = new Set<PartRef>();
  private mergeTail: Promise<unknown> = Promise.resolve();
  private mergeQueued: Promise<MergeDone[]> | null = null;
  private readonly mergeAbort = new AbortController();
  /** Set when a merge failed with its output possibly on disk and unaccounted for: no more merges until reopened. */
  private mergeBroken: unknown = null;
  /** The clock's monotonic ms at the open: a segment no flush touched since counts as quiet from then. */
  private readonly openedAt: number;
  /** When a flush last added parts (monotonic ms); unset: none since the open. */
  private flushedAt?: number;

  private constructor(
    private readonly fs: StorageFs,
    /** The shard directory `<nodeDir>/<group>/shard-<n>`. */
    readonly shardDir: string,
    private readonly clock: Clock,
    private readonly runner: PartRunner,
    private readonly maxRowsPerBlock?: number,
  ) {
    this.openedAt = clock.monotonic();
  }

  /** Opens (creating if absent) the shard in `shardDir`, cleaning up what a crashed flush or merge left. */
  static async open(fs: StorageFs, shardDir: string, opts: ShardStoreOptions): Promise<ShardStore> {
    if (opts.maxRowsPerBlock !== undefined) checkMaxRows(opts.maxRowsPerBlock);
    await fs.mkdir(shardDir);
    // Safe: the store is not open yet, so no segment of this shard is being created.
    await removeSegmentLeftovers(fs, shardDir);
    const store = new ShardStore(fs, shardDir, opts.clock, opts.pool ?? inlineRunner, opts.maxRowsPerBlock);
    try {
      const committed = await readFlushed(fs, shardDir);
      for (const entry of await listSegments(fs, shardDir)) {
        const seg: Segment = { entry, parts: [], nextSeq: 1 };
        store.segments.push(seg);
        await loadSegment(fs, seg, committed);
      }
      if (committed === null) {
        store.committed = store.listParts().reduce((max, r) => Math.max(max, r.part.metadata.last_sequence), 0);
        await writeFlushed(fs, shardDir, store.committed);
      } else {
        store.committed = committed;
      }
    } catch (err) {
      await store.closeParts();
      throw err;
    }
    return store;
  }

  /** The last WAL sequence whose rows are all in committed parts (0 when none): resume after it. */
  get lastSequence(): number {
    return this.committed;
  }

  /** Every open part, by segment start, then oldest write first (last_sequence, part sequence). */
  listParts(): PartRef[] {
    return this.segments.flatMap((s) => s.parts);
  }

  /**
   * Writes each non-empty batch as a new part of its segment (created if needed), then commits
   * `lastSequence` (default: the batches'). On failure the parts it wrote are removed and nothing
   * is committed. An empty `batches` with a `lastSequence` only moves the resume point. Encoding
   * runs on the store's pool when it has one.
   */
  flush(batches: readonly FlushBatch[], lastSequence?: number): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      const seq = lastSequence ?? batches[0]?.lastSequence ?? this.committed;
      if (!Number.isSafeInteger(seq) || seq < this.committed) {
        throw errors.invalidArgument(
          `flush lastSequence must be an integer >= ${this.committed} (the committed one), got ${seq}`,
        );
      }
      for (const b of batches) checkBatch(b, seq);
      const todo = batches.filter((b) => b.rows.timestamps.length > 0);
      // Checked here, on this thread, before anything is encoded or written.
      const tasks = todo.map((b) => ({
        rows: schemaColumns(b.rows, b.schema),
        runs: seriesRuns(b.rows),
        schema: plainSchema(b.schema),
      }));
      const stamp: PartStamp = {
        formatVersion: STORAGE_VERSION,
        lastSequence: seq,
        createdAt: new Date(this.clock.now()).toISOString(),
      };
      const maxRowsPerBlock = this.maxRowsPerBlock ?? DEFAULT_MAX_ROWS_PER_BLOCK;
      const settled = await Promise.allSettled(
        tasks.map((t) => this.runner.run({ kind: 'encode', ...t, maxRowsPerBlock, stamp })),
      );
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const encoded = settled.map((r) => (r as PromiseFulfilledResult<EncodedPart>).value);
      const added: { seg: Segment; ref: PartRef }[] = [];
      let committing = false;
      try {
        for (let k = 0; k < todo.length; k++) {
          const b = todo[k]!;
          const seg = await this.segmentOf(b.segmentStartMs, b.segmentEndMs);
          const partSeq = seg.nextSeq++;
          const nameDir = join(seg.entry.dir, NAME_DIR_PREFIX + b.name);
          const dir = join(nameDir, partDirName(partSeq));
          await this.fs.mkdir(nameDir);
          await writeEncodedPart(this.fs, dir, encoded[k]!);
          const part = await openPart(this.fs, dir, { supportedVersions: COMPATIBLE_VERSIONS });
          added.push({ seg, ref: { name: b.name, segmentStartMs: seg.entry.startMs, seq: partSeq, part } });
        }
        committing = true;
        if (seq !== this.committed) await writeFlushed(this.fs, this.shardDir, seq);
      } catch (err) {
        for (const { ref } of added) {
          await ref.part.close().catch(noop);
          // A failed commit may still have reached the disk (its rename did, its fsync did not):
          // then the parts are committed, so only the next open, reading the marker, may decide.
          if (!committing) await this.fs.rm(ref.part.dir).catch(noop);
        }
        throw err;
      }
      // Visible to scans only once committed; the newest writes, so last in age order.
      const at = this.clock.monotonic();
      for (const { seg, ref } of added) {
        seg.parts = [...seg.parts, ref];
        seg.flushedAt = at;
      }
      if (added.length > 0) this.flushedAt = at;
      this.committed = seq;
    });
  }

  /**
   * Calls `onBlock` for every block of the matching parts that overlaps the query, each read once,
   * its rows trimmed to [minTs, maxTs]; in segment order, then oldest write first, then file order.
   * Blocks are not merged: the same (series, ts) may come from two parts (see scanMerged).
   */
  async scan(q: ScanQuery, onBlock: BlockVisitor): Promise<void> {
    this.assertOpen();
    checkScanRange(q);
    await this.track(scanBlocks(q, [...this.segments], onBlock));
  }

  /**
   * The query's rows per series, in timestamp order, one row per timestamp (per timestamp and
   * `keyTag` value when given, those ordered by that value): where parts disagree
   * the newest write wins (highest last_sequence, then part sequence). Columns are the union over
   * the parts read (by name, the newest part's type), missing values filled: float NaN, int 0,
   * string '', lists [].
   */
  async scanMerged(q: ScanQuery): Promise<Map<string, BlockRows>> {
    const { plan, read } = this.planRead({ ...q, summarize: undefined });
    return this.track(runScanPlan(plan, read));
  }

  /** The plan of `q`'s reads (planScan) and a reader of its parts on this thread; track the reads with trackScan. */
  planRead(q: ScanQuery): { plan: ScanPlan; read: PartReader } {
    const { plan, refs } = this.planScan(q);
    return { plan, read: (p, i, decode) => refs[i]!.part.readDecoded(p.entries, decode) };
  }

  /**
   * The blocks `scanMerged(q)` would read, as data a worker can run with `runScanPlan` (opening the
   * data files by path), and the parts they belong to. While a worker reads them, pass its promise
   * to `trackScan` so that merges, retention and close keep the files until it is done.
   */
  planScan(q: ScanQuery): { plan: ScanPlan; refs: PartRef[] } {
    this.assertOpen();
    checkScanRange(q);
    return planShardScan(q, this.segments);
  }

  /** Counts a read of planned parts (see planScan) as a running scan until it settles. */
  trackScan<T>(p: Promise<T>): Promise<T> {
    return this.track(p);
  }

  /**
   * Merges parts so that no (segment, name) keeps more than the policy's bound (merge_policy.ts header);
   * resolves with the merges done. Runs alongside flushes and scans (file header). A call while a
   * merge pass runs waits for it, then runs one more pass; calls meanwhile share that pass (and the
   * options of the first of them).
   * Rejects with a storage error when a merge fails (the store stays usable and consistent).
   */
  merge(opts: MergeOptions): Promise<MergeDone[]> {
    const policy: MergePolicy = { ...DEFAULT_MERGE_POLICY };
    try {
      if (this.closing) throw errors.failedPrecondition(`shard store ${this.shardDir} is closed`);
      for (const k of Object.keys(DEFAULT_MERGE_POLICY) as (keyof MergePolicy)[])
        if (opts[k] !== undefined) policy[k] = opts[k]!;
      checkPolicy(policy);
      if (typeof opts.keyTagOf !== 'function') throw errors.invalidArgument('options.keyTagOf must be a function');
      if (opts.quiet !== undefined && !(opts.quiet.idleMs >= 0 && opts.quiet.coldMs >= 0))
        throw errors.invalidArgument(
          `options.quiet must hold idleMs and coldMs >= 0, got ${JSON.stringify(opts.quiet)}`,
        );
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.mergeQueued) return this.mergeQueued;
    const queued = this.mergeTail.then(() => {
      this.mergeQueued = null;
      return this.mergePass(policy, opts.keyTagOf, opts.quiet);
    });
    this.mergeQueued = queued;
    this.mergeTail = queued.catch(noop);
    return queued;
  }

  /** Resolves once no merge pass runs or waits (a pass queued meanwhile is waited for too). */
  async mergesIdle(): Promise<void> {
    for (let tail = this.mergeTail; ; tail = this.mergeTail) {
      await tail;
      if (tail === this.mergeTail) return;
    }
  }

  private async mergePass(
    policy: MergePolicy,
    keyTagOf: MergeOptions['keyTagOf'],
    quiet: MergeOptions['quiet'],
  ): Promise<MergeDone[]> {
    const done: MergeDone[] = [];
    while (!this.closing) {
      if (this.mergeBroken)
        throw errors.failedPrecondition(
          `shard store ${this.shardDir}: an earlier merge failed midway; reopen the store to merge again`,
          { cause: String(this.mergeBroken) },
        );
      const plan = this.planMerge(policy, keyTagOf, quiet);
      if (!plan) break;
      const one = await this.mergeRun(plan);
      if (!one) break;
      done.push(one);
    }
    return done;
  }

  /** The run to merge next (merge_policy.ts), with the merged part's sequence reserved now. */
  private planMerge(
    policy: MergePolicy,
    keyTagOf: MergeOptions['keyTagOf'],
    quiet: MergeOptions['quiet'],
  ): MergePlan | null {
    const now = this.clock.monotonic();
    const idle = quiet !== undefined && now - (this.flushedAt ?? this.openedAt) >= quiet.idleMs;
    const isQuiet = (seg: Segment) => {
      if (quiet === undefined) return false;
      const since = now - (seg.flushedAt ?? this.openedAt);
      return since >= quiet.coldMs || (idle && since >= quiet.idleMs);
    };
    const choice = chooseMerge(this.segments, policy, keyTagOf, isQuiet);
    // Reserved before any later flush takes one: M must sort before parts flushed meanwhile.
    return choice && { ...choice, seq: choice.seg.nextSeq++ };
  }

  /** One merge: read R, merge (pool or inline), commit M, then remove R once its readers finished. Null when given up. */
  private async mergeRun(plan: MergePlan): Promise<MergeDone | null> {
    const { seg, name, refs, seq } = plan;
    // Started in the same tick as planning, so retention and close, which wait for `active`,
    // cannot close R under it.
    const inputs = await this.track(this.readInputs(refs));
    if (this.closing) return null;
    const stamp: PartStamp = {
      formatVersion: STORAGE_VERSION,
      lastSequence: Math.max(...refs.map((r) => r.part.metadata.last_sequence)),
      createdAt: new Date(this.clock.now()).toISOString(),
    };
    let encoded: EncodedPart;
    try {
      encoded = await this.runner.run(
        {
          kind: 'merge',
          name,
          inputs,
          keyTag: plan.keyTag,
          maxRowsPerBlock: this.maxRowsPerBlock ?? DEFAULT_MAX_ROWS_PER_BLOCK,
          stamp,
        },
        this.mergeAbort.signal,
      );
    } catch (err) {
      if (this.closing) return null;
      throw err;
    }
    const committed = await this.exclusive(() => this.commitMerge(plan, encoded));
    if (!committed) return null;
    await Promise.allSettled(committed.readers);
    await this.exclusive(() => this.removeReplaced(seg, refs));
    const rowsIn = refs.reduce((n, r) => n + r.part.metadata.row_count, 0);
    return {
      name,
      segmentStartMs: seg.entry.startMs,
      seq,
      replaced: refs.map((r) => r.seq),
      rowsIn,
      rowsOut: encoded.metadata.row_count,
    };
  }

  /** The inputs' data files and block lists, oldest write first. */
  private async readInputs(refs: PartRef[]): Promise<MergeInput[]> {
    const out: MergeInput[] = [];
    for (const r of refs) {
      const path = join(r.part.dir, PART_FILES.data);
      const data = await this.fs.readFile(path);
      if (data.length !== r.part.metadata.data_bytes)
        throw new CorruptDataError(path, `${data.length} bytes, the metadata says ${r.part.metadata.data_bytes}`);
      const blocks = r.part.entries.map((e) => ({
        seriesId: e.seriesId,
        rowCount: e.rowCount,
        offset: e.offset,
        length: e.length,
        crc: e.crc,
      }));
      out.push({ path, data, blocks, schema: r.part.metadata.schema });
    }
    return out;
  }

  /** Writes M and swaps it for R in memory; the scans that may still read R come back with it. Null when R is gone. */
  private async commitMerge(plan: MergePlan, encoded: EncodedPart): Promise<{ readers: Promise<void>[] } | null> {
    const { seg, name, refs, seq } = plan;
    // Closed, or retention dropped the segment meanwhile: nothing to replace.
    if (this.closed || this.closing || !this.segments.includes(seg) || refs.some((r) => !seg.parts.includes(r)))
      return null;
    const dir = join(seg.entry.dir, NAME_DIR_PREFIX + name, partDirName(seq));
    let part: Part;
    try {
      await writeEncodedPart(this.fs, dir, encoded, [
        { name: MERGED_FROM_FILE, bytes: encodeMergedFrom(refs.map((r) => r.seq)) },
      ]);
      part = await openPart(this.fs, dir, { supportedVersions: COMPATIBLE_VERSIONS });
    } catch (err) {
      // M may be complete on disk (a failed fsync after its rename). R is whole, so M may go; if it
      // cannot, a later merge of R would leave two parts claiming R: stop merging until reopened.
      try {
        if (await this.fs.exists(dir)) await dropPartDir(this.fs, dir);
      } catch (rmErr) {
        this.mergeBroken = rmErr;
      }
      throw err;
    }
    const ref: PartRef = { name, segmentStartMs: seg.entry.startMs, seq, part };
    seg.parts = [...seg.parts.filter((r) => !refs.includes(r)), ref].sort(byAge);
    for (const r of refs) this.retired.add(r);
    return { readers: [...this.active] };
  }

  /** Closes R and removes its directories (M lists them, so a crash here is finished at open). */
  private async removeReplaced(seg: Segment, refs: PartRef[]): Promise<void> {
    for (const r of refs) {
      this.retired.delete(r);
      await r.part.close().catch(noop);
    }
    // Closed meanwhile (the next open removes them), or the segment dropped with them.
    if (this.closed || !this.segments.includes(seg)) return;
    for (const r of refs) await dropPartDir(this.fs, r.part.dir);
    await this.fs.syncDir(join(seg.entry.dir, NAME_DIR_PREFIX + refs[0]!.name));
  }

  /** Drops the segments whose end is at or before now − ttlMs (closing their parts first). */
  dropExpired(ttlMs: number): Promise<RetentionResult> {
    return this.exclusive(async () => {
      this.assertOpen();
      assert(Number.isSafeInteger(ttlMs) && ttlMs > 0, `retention ttlMs is a positive integer, got ${ttlMs}`);
      // One reading of the clock, so the segments closed here are exactly those retention drops.
      const now = this.clock.now();
      const expired = this.segments.filter((s) => s.entry.endMs <= now - ttlMs);
      this.segments = this.segments.filter((s) => !expired.includes(s));
      await Promise.allSettled([...this.active]); // scans that started before still read them
      for (const s of expired) for (const r of s.parts) await r.part.close();
      const c = this.clock;
      const frozen: Clock = {
        now: () => now,
        monotonic: () => c.monotonic(),
        setTimer: (ms, fn) => c.setTimer(ms, fn),
        sleep: (ms, sig) => c.sleep(ms, sig),
      };
      return dropExpiredSegments(this.fs, this.shardDir, ttlMs, frozen);
    });
  }

  /** Makes a running merge give up, waits for it and for running scans, then closes every part; idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    this.mergeAbort.abort();
    await this.mergeTail;
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      await Promise.allSettled([...this.active]);
      await this.closeParts();
    });
  }

  private async closeParts(): Promise<void> {
    for (const r of [...this.listParts(), ...this.retired]) await r.part.close().catch(noop);
    this.retired.clear();
    this.segments = [];
  }

  private assertOpen(): void {
    if (this.closed) throw errors.failedPrecondition(`shard store ${this.shardDir} is closed`);
  }

  /** Runs `fn` after every earlier flush, retention, merge commit or close has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(noop);
    return run;
  }

  /** Counts `p` as a reader of open parts until it settles (retention and close wait for those). */
  private track<T>(p: Promise<T>): Promise<T> {
    const run = p.then(noop, noop);
    this.active.add(run);
    void run.then(() => this.active.delete(run));
    return p;
  }

  /** The segment starting at `startMs`, created on disk and in memory if absent. */
  private async segmentOf(startMs: number, endMs: number): Promise<Segment> {
    const found = this.segments.find((s) => s.entry.startMs === startMs);
    if (found) {
      if (found.entry.endMs !== endMs)
        throw errors.failedPrecondition(
          `segment ${found.entry.dir} ends at ${found.entry.endMs}, the batch says ${endMs}`,
        );
      return found;
    }
    const seg: Segment = {
      entry: await createSegment(this.fs, this.shardDir, startMs, endMs, this.clock),
      parts: [],
      nextSeq: 1,
    };
    this.segments.push(seg);
    this.segments.sort((a, b) => a.entry.startMs - b.entry.startMs);
    return seg;
  }
}

/** Checks a batch before anything is written: its name, sequence and that its rows fit its segment. */
function checkBatch(b: FlushBatch, seq: number): void {
  if (typeof b.name !== 'string' || !NAME_PATTERN.test(b.name))
    throw errors.invalidArgument(`batch name ${JSON.stringify(b.name)} must match ${NAME_PATTERN}`);
  if (b.lastSequence !== seq)
    throw errors.invalidArgument(`every batch of a flush carries its lastSequence ${seq}, got ${b.lastSequence}`);
  const ts = b.rows.timestamps;
  for (let i = 0; i < ts.length; i++) {
    if (!(ts[i]! >= b.segmentStartMs && ts[i]! < b.segmentEndMs)) {
      throw errors.invalidArgument(
        `row ${i} of ${b.name} (ts ${ts[i]}) is outside its segment [${b.segmentStartMs}, ${b.segmentEndMs})`,
      );
    }
  }
}
