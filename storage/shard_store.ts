/**
 * The storage of one (group, shard): its segments, their parts, flushes, scans and retention.
 *
 * Layout (a departure from DESIGN §8, which has no level between segment and part):
 * ```
 * <nodeDir>/<group>/shard-<n>/flushed                                 # commit marker, see below
 * <nodeDir>/<group>/shard-<n>/seg-<start>/metadata                    # segment.ts
 * <nodeDir>/<group>/shard-<n>/seg-<start>/schema-<name>/part-<seq>/   # part.ts
 * ```
 * A part holds the rows of ONE measure or stream and its metadata does not say which, hence one
 * `schema-<name>` directory per name in each segment (the prefix keeps a measure named `metadata`
 * off the segment's metadata file). The level sits inside the segment, not above the shard,
 * because all else is per (group, shard): the WAL stream and its resume point, the boot-time
 * version check of data_dir.ts (it lists `<group>/shard-<n>/seg-*`), and retention (a group's ttl
 * drops a segment with every name in it). Part sequences are per segment: highest ever seen + 1.
 *
 * Crash rule: one flush may write several parts and a kill -9 can land between two of them, so
 * `max(last_sequence)` over parts could resume past rows that are in no part. A flush therefore
 * writes its parts, then `flushed` ({version, last_sequence}, atomically), and only then returns
 * (the caller acknowledges the WAL after that). At open, `.tmp` and metadata-less part directories
 * (IncompletePartError) are removed, and so are complete parts whose `last_sequence` exceeds
 * `flushed`: their flush never committed and their rows are still in the WAL. `lastSequence` is
 * the committed value, kept even when retention drops every part. A shard without `flushed` (first
 * open) adopts the highest `last_sequence` of its parts and writes the marker before any flush.
 *
 * Ownership: one ShardStore per shard directory per process; the caller `close()`s it. Flush,
 * retention and close run one at a time; scans run alongside them and see only committed parts.
 * Unsupported versions (segment, part, marker) and damage propagate: the node stops.
 */
import { join } from 'node:path';
import type { Clock } from '../runtime/clock.js';
import { errors } from '../transport/errors.js';
import { NAME_PATTERN } from '../transport/schema_types.js';
import { sliceBlockRows, type BlockProjection, type BlockRows, type BlockSchema, type FieldType, type TagColumn, type TagType } from './block.js';
import { CorruptDataError } from './errors.js';
import type { StorageFs } from './fs.js';
import { IncompletePartError, openPart, parsePartDirName, partDirName, writePart, type Part, type PartRows } from './part.js';
import { dropExpiredSegments, type RetentionResult } from './retention.js';
import { createSegment, listSegments, removeSegmentLeftovers, type SegmentEntry } from './segment.js';
import { checkVersion, COMPATIBLE_VERSIONS, STORAGE_VERSION } from './versions.js';

/** The shard's commit marker: the last WAL sequence whose flush completed. */
export const FLUSHED_FILE = 'flushed';
/** Prefix of the per-name directory inside a segment: `schema-<measure or stream name>`. */
export const NAME_DIR_PREFIX = 'schema-';

/** Options of `ShardStore.open`. */
export interface ShardStoreOptions {
  /** Stamps parts and segments; drives retention. */
  clock: Clock;
  /** Rows per block of the parts it writes; default part.ts's DEFAULT_MAX_ROWS_PER_BLOCK. */
  maxRowsPerBlock?: number;
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

/** What a scan reads; the time range is inclusive on both ends. */
export interface ScanQuery {
  minTs: number;
  maxTs: number;
  seriesIds?: ReadonlySet<string>;
  projection?: BlockProjection;
  /** Only parts of this measure or stream; all names when omitted. */
  schemaName?: string;
  /**
   * scanMerged only: a string tag that, with the timestamp, keys a row (a stream's element-id
   * column). Without it a series has one row per timestamp.
   */
  keyTag?: string;
}

/** One open part of the store and where it sits. */
export interface PartRef {
  readonly name: string;
  readonly segmentStartMs: number;
  readonly seq: number;
  readonly part: Part;
}

/** The rows of one block (trimmed to the query's range) and the series they belong to. */
export type ScannedBlock = BlockRows & { seriesId: string };

/** A segment in memory: its committed parts by sequence, and the sequence its next part takes. */
type Segment = { entry: SegmentEntry; parts: PartRef[]; nextSeq: number };

const noop = () => undefined;

/** An open shard: see the file header for the layout, crash rule and ownership. */
export class ShardStore {
  private segments: Segment[] = [];
  private committed = 0;
  private closed = false;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly active = new Set<Promise<void>>();

  private constructor(
    private readonly fs: StorageFs,
    /** The shard directory `<nodeDir>/<group>/shard-<n>`. */
    readonly shardDir: string,
    private readonly clock: Clock,
    private readonly maxRowsPerBlock?: number,
  ) {}

  /** Opens (creating if absent) the shard in `shardDir`, cleaning up what a crashed flush left. */
  static async open(fs: StorageFs, shardDir: string, opts: ShardStoreOptions): Promise<ShardStore> {
    await fs.mkdir(shardDir);
    // Safe: the store is not open yet, so no segment of this shard is being created.
    await removeSegmentLeftovers(fs, shardDir);
    const store = new ShardStore(fs, shardDir, opts.clock, opts.maxRowsPerBlock);
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

  /** Every open part, by segment start then part sequence. */
  listParts(): PartRef[] {
    return this.segments.flatMap((s) => s.parts);
  }

  /**
   * Writes each non-empty batch as a new part of its segment (created if needed), then commits
   * `lastSequence` (default: the batches'). On failure the parts it wrote are removed and nothing
   * is committed. An empty `batches` with a `lastSequence` only moves the resume point.
   */
  flush(batches: readonly FlushBatch[], lastSequence?: number): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      const seq = lastSequence ?? batches[0]?.lastSequence ?? this.committed;
      if (!Number.isSafeInteger(seq) || seq < this.committed) {
        throw errors.invalidArgument(`flush lastSequence must be an integer >= ${this.committed} (the committed one), got ${seq}`);
      }
      for (const b of batches) checkBatch(b, seq);
      const added: { seg: Segment; ref: PartRef }[] = [];
      let committing = false;
      try {
        for (const b of batches) {
          if (b.rows.timestamps.length === 0) continue;
          const seg = await this.segmentOf(b.segmentStartMs, b.segmentEndMs);
          const partSeq = seg.nextSeq++;
          const nameDir = join(seg.entry.dir, NAME_DIR_PREFIX + b.name);
          const dir = join(nameDir, partDirName(partSeq));
          await this.fs.mkdir(nameDir);
          const { schema, rows } = b;
          await writePart(this.fs, dir, rows, { schema, formatVersion: STORAGE_VERSION, lastSequence: seq, maxRowsPerBlock: this.maxRowsPerBlock, clock: this.clock });
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
      // Visible to scans only once committed.
      for (const { seg, ref } of added) seg.parts.push(ref);
      this.committed = seq;
    });
  }

  /**
   * Calls `onBlock` for every block of the matching parts that overlaps the query, each read once,
   * its rows trimmed to [minTs, maxTs]; in segment, part, then file order. Blocks are not merged:
   * the same (series, ts) may come from two parts (see scanMerged).
   */
  async scan(q: ScanQuery, onBlock: (rows: ScannedBlock, part: Part, ref: PartRef) => void | Promise<void>): Promise<void> {
    this.assertOpen();
    if (!(q.minTs <= q.maxTs)) throw errors.invalidArgument(`scan needs minTs <= maxTs, got ${q.minTs}, ${q.maxTs}`);
    const run = this.scanParts(q, [...this.segments], onBlock);
    this.active.add(run);
    await run.finally(() => this.active.delete(run));
  }

  private async scanParts(q: ScanQuery, segments: Segment[], onBlock: (rows: ScannedBlock, part: Part, ref: PartRef) => void | Promise<void>) {
    const { minTs, maxTs } = q;
    for (const seg of segments) {
      if (seg.entry.startMs > maxTs || seg.entry.endMs <= minTs) continue;
      for (const ref of [...seg.parts]) {
        if (q.schemaName !== undefined && ref.name !== q.schemaName) continue;
        const m = ref.part.metadata;
        if (m.min_ts === null || m.max_ts === null || m.min_ts > maxTs || m.max_ts < minTs) continue;
        for (const e of ref.part.blocksFor({ seriesIds: q.seriesIds, minTs, maxTs })) {
          const rows = trimRows(await ref.part.readBlock(e, q.projection), minTs, maxTs);
          if (rows.timestamps.length > 0) await onBlock({ ...rows, seriesId: e.seriesId }, ref.part, ref);
        }
      }
    }
  }

  /**
   * The query's rows per series, in timestamp order, one row per timestamp (per timestamp and
   * `keyTag` value when given, those ordered by that value): where parts disagree
   * the newest write wins (highest last_sequence, then part sequence). Columns are the union over
   * the parts read (by name, the newest part's type), missing values filled: float NaN, int 0,
   * string '', lists [].
   */
  async scanMerged(q: ScanQuery): Promise<Map<string, BlockRows>> {
    const chunks = new Map<string, Chunk[]>();
    const refs = new Set<PartRef>();
    await this.scan(q, (rows, _part, ref) => {
      refs.add(ref);
      const list = chunks.get(rows.seriesId);
      if (list) list.push({ rows, ref });
      else chunks.set(rows.seriesId, [{ rows, ref }]);
    });
    const cols = unionSchema([...refs].sort(newerLast), q.projection);
    const out = new Map<string, BlockRows>();
    for (const id of [...chunks.keys()].sort()) out.set(id, mergeSeries(chunks.get(id)!, cols, q.keyTag));
    return out;
  }

  /** Drops the segments whose end is at or before now − ttlMs (closing their parts first). */
  dropExpired(ttlMs: number): Promise<RetentionResult> {
    return this.exclusive(async () => {
      this.assertOpen();
      if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
      // One reading of the clock, so the segments closed here are exactly those retention drops.
      const now = this.clock.now();
      const expired = this.segments.filter((s) => s.entry.endMs <= now - ttlMs);
      this.segments = this.segments.filter((s) => !expired.includes(s));
      await Promise.allSettled([...this.active]); // scans that started before still read them
      for (const s of expired) for (const r of s.parts) await r.part.close();
      const c = this.clock;
      const frozen: Clock = { now: () => now, monotonic: () => c.monotonic(), setTimer: (ms, fn) => c.setTimer(ms, fn), sleep: (ms, sig) => c.sleep(ms, sig) };
      return dropExpiredSegments(this.fs, this.shardDir, ttlMs, frozen);
    });
  }

  /** Waits for running scans, then closes every part; idempotent. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      await Promise.allSettled([...this.active]);
      await this.closeParts();
    });
  }

  private async closeParts(): Promise<void> {
    for (const r of this.listParts()) await r.part.close().catch(noop);
    this.segments = [];
  }

  private assertOpen(): void {
    if (this.closed) throw errors.failedPrecondition(`shard store ${this.shardDir} is closed`);
  }

  /** Runs `fn` after every earlier flush, retention or close has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(noop);
    return run;
  }

  /** The segment starting at `startMs`, created on disk and in memory if absent. */
  private async segmentOf(startMs: number, endMs: number): Promise<Segment> {
    const found = this.segments.find((s) => s.entry.startMs === startMs);
    if (found) {
      if (found.entry.endMs !== endMs) throw errors.failedPrecondition(`segment ${found.entry.dir} ends at ${found.entry.endMs}, the batch says ${endMs}`);
      return found;
    }
    const seg: Segment = { entry: await createSegment(this.fs, this.shardDir, startMs, endMs, this.clock), parts: [], nextSeq: 1 };
    this.segments.push(seg);
    this.segments.sort((a, b) => a.entry.startMs - b.entry.startMs);
    return seg;
  }
}

/** Checks a batch before anything is written: its name, sequence and that its rows fit its segment. */
function checkBatch(b: FlushBatch, seq: number): void {
  if (typeof b.name !== 'string' || !NAME_PATTERN.test(b.name)) throw errors.invalidArgument(`batch name ${JSON.stringify(b.name)} must match ${NAME_PATTERN}`);
  if (b.lastSequence !== seq) throw errors.invalidArgument(`every batch of a flush carries its lastSequence ${seq}, got ${b.lastSequence}`);
  const ts = b.rows.timestamps;
  for (let i = 0; i < ts.length; i++) {
    if (!(ts[i]! >= b.segmentStartMs && ts[i]! < b.segmentEndMs)) {
      throw errors.invalidArgument(`row ${i} of ${b.name} (ts ${ts[i]}) is outside its segment [${b.segmentStartMs}, ${b.segmentEndMs})`);
    }
  }
}

/** Opens the parts of one segment; removes incomplete ones and those of an uncommitted flush. */
async function loadSegment(fs: StorageFs, seg: Segment, committed: number | null): Promise<void> {
  for (const dirName of (await fs.readdir(seg.entry.dir)).sort()) {
    if (!dirName.startsWith(NAME_DIR_PREFIX)) continue; // the metadata file (and its temp files)
    const name = dirName.slice(NAME_DIR_PREFIX.length);
    const nameDir = join(seg.entry.dir, dirName);
    if (!NAME_PATTERN.test(name)) throw new CorruptDataError(nameDir, `not a valid ${NAME_DIR_PREFIX}<name> directory`);
    let removed = false;
    for (const partName of await fs.readdir(nameDir)) {
      const parsed = parsePartDirName(partName);
      if (!parsed) continue;
      seg.nextSeq = Math.max(seg.nextSeq, parsed.seq + 1);
      const dir = join(nameDir, partName);
      let part: Part;
      try {
        part = await openPart(fs, dir, { supportedVersions: COMPATIBLE_VERSIONS });
      } catch (err) {
        if (!(err instanceof IncompletePartError)) throw err;
        await fs.rm(dir); // a flush crashed while writing it; its rows are still in the WAL
        removed = true;
        continue;
      }
      if (committed !== null && part.metadata.last_sequence > committed) {
        await part.close();
        await fs.rm(dir); // complete, but its flush never committed: the WAL replays its rows
        removed = true;
        continue;
      }
      seg.parts.push({ name, segmentStartMs: seg.entry.startMs, seq: parsed.seq, part });
    }
    if (removed) await fs.syncDir(nameDir);
  }
  seg.parts.sort((a, b) => a.seq - b.seq);
}

/** The committed sequence in `<shardDir>/flushed`, or null when the file does not exist. */
async function readFlushed(fs: StorageFs, shardDir: string): Promise<number | null> {
  const path = join(shardDir, FLUSHED_FILE);
  if (!(await fs.exists(path))) return null;
  let v: { version?: unknown; last_sequence?: unknown };
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await fs.readFile(path))) as typeof v;
  } catch (err) {
    throw new CorruptDataError(path, 'not valid JSON', { cause: err });
  }
  if (!v || typeof v.version !== 'string') throw new CorruptDataError(path, 'no string "version"');
  checkVersion(path, v.version);
  if (!Number.isSafeInteger(v.last_sequence) || (v.last_sequence as number) < 0) throw new CorruptDataError(path, 'no non-negative integer "last_sequence"');
  return v.last_sequence as number;
}

async function writeFlushed(fs: StorageFs, shardDir: string, seq: number): Promise<void> {
  const text = `${JSON.stringify({ version: STORAGE_VERSION, last_sequence: seq })}\n`;
  await fs.writeFileAtomic(join(shardDir, FLUSHED_FILE), new TextEncoder().encode(text));
}

/** The rows of `rows` with lo <= ts <= hi (timestamps are sorted). */
function trimRows(rows: BlockRows, lo: number, hi: number): BlockRows {
  const ts = rows.timestamps;
  const n = ts.length;
  if (n === 0 || (ts[0]! >= lo && ts[n - 1]! <= hi)) return rows;
  let s = 0;
  let e = n;
  while (s < n && ts[s]! < lo) s++;
  while (e > s && ts[e - 1]! > hi) e--;
  return sliceBlockRows(rows, s, e);
}

/** Rows of one block of one series, and the part they came from. */
type Chunk = { rows: BlockRows; ref: PartRef };
/** Column names and types of a merged result. */
type Columns = { fields: Map<string, FieldType>; tags: Map<string, TagType> };

/** Orders parts oldest write first: last_sequence, then segment, then part sequence. */
function newerLast(a: PartRef, b: PartRef): number {
  return a.part.metadata.last_sequence - b.part.metadata.last_sequence || a.segmentStartMs - b.segmentStartMs || a.seq - b.seq;
}

/** The columns of `refs` (oldest first, so a newer type wins), limited to the projection. */
function unionSchema(refs: PartRef[], projection?: BlockProjection): Columns {
  const wantF = projection?.fields ? new Set(projection.fields) : null;
  const wantT = projection?.tags ? new Set(projection.tags) : null;
  const cols: Columns = { fields: new Map(), tags: new Map() };
  for (const r of refs) {
    for (const f of r.part.metadata.schema.fields) if (!wantF || wantF.has(f.name)) cols.fields.set(f.name, f.type);
    for (const t of r.part.metadata.schema.tags) if (!wantT || wantT.has(t.name)) cols.tags.set(t.name, t.type);
  }
  return cols;
}

/** One series' chunks merged: sorted by ts (then key), the newest part's row kept per key, columns aligned. */
function mergeSeries(chunks: Chunk[], cols: Columns, keyTag?: string): BlockRows {
  chunks.sort((a, b) => newerLast(a.ref, b.ref)); // stable: blocks of one part keep file order
  let n = 0;
  for (const c of chunks) n += c.rows.timestamps.length;
  const ts = new Float64Array(n);
  const src = new Uint32Array(n); // chunk of each row
  const row = new Uint32Array(n); // row inside that chunk
  let sorted = true;
  for (let k = 0, i = 0; k < chunks.length; k++) {
    const t = chunks[k]!.rows.timestamps;
    for (let r = 0; r < t.length; r++, i++) {
      [ts[i], src[i], row[i]] = [t[r]!, k, r];
      if (i > 0 && ts[i]! <= ts[i - 1]!) sorted = false;
    }
  }
  let order = Uint32Array.from({ length: n }, (_, i) => i);
  if (!sorted) {
    // Ties by position, which is (part age, row): the last of each equal-key run is the newest.
    const key = keyTag === undefined ? null : (i: number) => String((chunks[src[i]!]!.rows.tags[keyTag] as unknown[] | undefined)?.[row[i]!] ?? '');
    const cmpKey = (a: number, b: number) => {
      if (key === null) return 0;
      const x = key(a);
      const y = key(b);
      return x < y ? -1 : x > y ? 1 : 0;
    };
    order.sort((a, b) => ts[a]! - ts[b]! || cmpKey(a, b) || a - b);
    let m = 0;
    for (let k = 0; k < n; k++) if (k === n - 1 || ts[order[k + 1]!] !== ts[order[k]!] || cmpKey(order[k + 1]!, order[k]!) !== 0) order[m++] = order[k]!;
    order = order.subarray(0, m);
  }
  const m = order.length;
  const gather = <T extends Float64Array | unknown[]>(get: (r: BlockRows) => ArrayLike<unknown> | undefined, out: T, dflt: () => unknown): T => {
    for (let k = 0; k < m; k++) {
      const from = get(chunks[src[order[k]!]!]!.rows);
      (out as unknown[])[k] = from ? from[row[order[k]!]!] : dflt();
    }
    return out;
  };
  const out: BlockRows = { timestamps: gather((r) => r.timestamps, new Float64Array(m), () => 0), fields: {}, tags: {} };
  for (const [name, type] of cols.fields) out.fields[name] = gather((r) => r.fields[name], new Float64Array(m), () => (type === 'float' ? NaN : 0));
  for (const [name, type] of cols.tags) {
    const typed = type === 'int';
    const get = (r: BlockRows) => {
      const col = r.tags[name];
      if (col !== undefined && col instanceof Float64Array !== typed) throw errors.failedPrecondition(`tag ${JSON.stringify(name)} changed type between parts of ${chunks[0]!.ref.name}`);
      return col;
    };
    out.tags[name] = typed ? gather(get, new Float64Array(m), () => 0) : gather(get, new Array<unknown>(m), () => (type === 'string' ? '' : [])) as TagColumn;
  }
  return out;
}
