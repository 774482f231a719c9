/**
 * The memtable of ONE (group, shard) (DESIGN §7): WAL records are applied in sequence order, then
 * drained into one `FlushBatch` per (measure or stream, segment), each the rows of one part.
 *
 * De-duplication: a measure point is keyed by (series, ts), a stream element by (series, ts,
 * element id); a write of a key REPLACES the earlier row unless the earlier row's version is higher
 * (storage/point_version.ts: a backfilled old value never overwrites a newer write). A row's version
 * is the record's `_v` column when it has one, else the record's own WAL sequence; it is stored as
 * the last field column, `_v`. Series are keyed by the exact entity key, not the hashed id, so this
 * holds even if two ids collide (see series_id.ts). A stream finds the earlier row as it applies;
 * a measure keeps both rows until the series is drained or scanned, which keeps the one that
 * replacing would have (memtable_rows.ts `newestPerTime`): `rowCount` counts each write until then.
 *
 * Missing values. The codecs have no null and a per-part null bitmap is out of scope, so a missing
 * float field reads as NaN, a missing INT field as 0 (a writer that must tell "absent" from 0 has
 * to write its int fields), a missing string tag as '', an int tag as 0, a list tag as [].
 * Fields and tags the resource does not (or no longer) declare are not stored.
 *
 * Rows are copied into columns (one set per resource) as they are applied, while the row objects
 * are hot in cache; `drain`/`drainAll` gather them in (series id, ts) order into batches that stay
 * in flight (not counted in `rowCount`) until the caller wrote them and calls `resetAfterFlush`;
 * after a failed write, retry writing the same batches. A key rewritten while its earlier row is in
 * flight lands in a later part: readers prefer the newer part for an equal key (as for replays).
 *
 * Replays: `apply` skips (returns false) records with `seq ≤ resumeAfter` (already in complete
 * parts) or ≤ a drained batch's `lastSequence`. Re-applying an undrained record is idempotent.
 */
import { systemClock, type Clock } from '../../runtime/clock.js';
import type { BlockRows, BlockSchema, TagType } from '../../storage/block.js';
import type { PartRows } from '../../storage/part.js';
import { errors } from '../../transport/errors.js';
import { segmentIntervalMs, type Group, type Measure, type Stream } from '../../transport/schema_types.js';
import type { MeasurePoint, StreamElement, WalRecord } from '../../transport/wal_record.js';
import { elementIdColumn } from '../../storage/element_id.js';
import { VERSION_COLUMN } from '../../storage/point_version.js';
import {
  buildBatches,
  EMPTY,
  Floats,
  scanRows,
  T_INT,
  T_LIST,
  T_STRING,
  type Bucket,
  type Layout,
  type MemtableScanQuery,
  type Rows,
} from './memtable_rows.js';
import { addRow, addStreamColumns, appendMeasureColumns, columnsOf, seriesOf } from './memtable_apply.js';

export type { MemtableScanQuery } from './memtable_rows.js';

/** One part's worth of rows: one resource, one segment, sorted by series id then time. */
export interface FlushBatch {
  kind: 'measure' | 'stream';
  name: string;
  /** Every row's ts is in `[segmentStartMs, segmentEndMs)`. */
  segmentStartMs: number;
  segmentEndMs: number;
  schema: BlockSchema;
  rows: PartRows;
  /** The part's `last_sequence`: the rows of every record ≤ it are in this or earlier batches. */
  lastSequence: number;
}

/** Options of a Memtable. */
export interface MemtableOptions {
  group: Group;
  /** The node's applied resource (the shard-side gate ensures it is at least the record's revision). */
  resolve: (kind: 'measure' | 'stream', name: string) => Measure | Stream | undefined;
  /** The highest WAL sequence in the shard's complete parts: records up to it are skipped. Default 0. */
  resumeAfter?: number;
  /** Source of `oldestAppliedAtMs` when `apply` gets no `nowMs`; default the system clock. */
  clock?: Pick<Clock, 'now'>;
}

const layouts = new WeakMap<Measure | Stream, Layout>();

/** The columns of a resource's parts: declared fields, then every declared tag, then the element id. */
export function blockSchemaOf(kind: 'measure' | 'stream', resource: Measure | Stream): BlockSchema {
  return layoutOf(kind, resource).schema;
}

function layoutOf(kind: 'measure' | 'stream', r: Measure | Stream): Layout {
  let l = layouts.get(r);
  if (l) return l;
  const fields: { name: string; type: 'int' | 'float' }[] =
    kind === 'measure' ? (r as Measure).fields.map((f) => ({ name: f.name, type: f.type })) : [];
  fields.push({ name: VERSION_COLUMN, type: 'int' }); // last: `versionAt` below
  const tags: { name: string; type: TagType }[] = [];
  for (const fam of r.tag_families) {
    for (const t of fam.tags) if (!tags.some((x) => x.name === t.name)) tags.push({ name: t.name, type: t.type });
  }
  const idCol = kind === 'stream' ? elementIdColumn(r as Stream) : null;
  if (idCol !== null && !tags.some((t) => t.name === idCol)) tags.push({ name: idCol, type: 'string' });
  l = {
    schema: { fields, tags },
    stream: kind === 'stream',
    fieldNames: fields.map((f) => f.name),
    fieldMissing: fields.map((f) => (f.type === 'float' ? NaN : 0)),
    tagNames: tags.map((t) => t.name),
    tagKinds: tags.map((t) => (t.type === 'string' ? T_STRING : t.type === 'int' ? T_INT : T_LIST)),
    idTag: idCol === null ? -1 : tags.findIndex((t) => t.name === idCol),
  };
  layouts.set(r, l);
  return l;
}

function emptyRows(L: Layout): Rows {
  return { n: 0, ts: new Floats(), f: L.fieldNames.map(() => new Floats()), t: L.tagNames.map(() => []), eid: [] };
}

/** The memtable of one (group, shard). Not thread-safe: one shard actor owns it. */
export class Memtable {
  /** Highest WAL sequence applied (or `resumeAfter`). */
  lastSequence: number;
  /** Rows in the active set (a measure's key written twice counts twice until drained). */
  rowCount = 0;
  /** Rough memory of the active set, for flush-by-size. */
  approxBytes = 0;
  private readonly group: Group;
  private readonly intervalMs: number;
  private readonly resolve: MemtableOptions['resolve'];
  private readonly clock: Pick<Clock, 'now'>;
  private readonly buckets = new Map<string, Bucket>();
  private drainedThrough: number;
  private flushing: FlushBatch[] = [];
  /** The layout each in-flight batch was built with (its element-id column, its column types). */
  private readonly batchLayouts = new WeakMap<FlushBatch, Layout>();

  constructor(opts: MemtableOptions) {
    const resume = opts.resumeAfter ?? 0;
    if (!Number.isSafeInteger(resume) || resume < 0) {
      throw errors.invalidArgument(`options.resumeAfter must be a non-negative integer, got ${resume}`);
    }
    this.group = opts.group;
    this.intervalMs = segmentIntervalMs(opts.group);
    this.resolve = opts.resolve;
    this.clock = opts.clock ?? systemClock;
    this.lastSequence = resume;
    this.drainedThrough = resume;
  }

  /** When the oldest row of the active set was applied (epoch ms), or null when it is empty. */
  get oldestAppliedAtMs(): number | null {
    let t = Infinity;
    for (const b of this.buckets.values()) if (b.rows.n > 0 && b.firstAppliedAtMs < t) t = b.firstAppliedAtMs;
    return t === Infinity ? null : t;
  }

  /**
   * Distinct rows in the active set, as a drain would keep them: a measure's key written twice
   * counts once. Sorts the times of each series written out of order: for rare callers (a
   * migration's row count), not per write.
   */
  distinctRowCount(): number {
    let n = 0;
    for (const b of this.buckets.values())
      for (const s of b.series.values()) {
        if (s.sorted || b.layout.stream) {
          n += s.pos.length;
          continue;
        }
        const ts = Float64Array.from(s.pos, (p) => b.rows.ts.a[p]!).sort();
        for (let i = 0; i < ts.length; i++) if (i === 0 || ts[i] !== ts[i - 1]) n++;
      }
    return n;
  }

  /** Highest WAL sequence applied (= `lastSequence`): a read-your-writes token is met once this reaches it. */
  get appliedSequence(): number {
    return this.lastSequence;
  }

  /** Drained batches not yet confirmed by `resetAfterFlush`, oldest first. */
  get inFlight(): readonly FlushBatch[] {
    return this.flushing;
  }

  /** Applies WAL record `seq`; false when skipped as already drained or stored. `nowMs` defaults to the clock. */
  apply(record: WalRecord, seq: number, nowMs?: number): boolean {
    if (!Number.isSafeInteger(seq) || seq < 1)
      throw errors.invalidArgument(`WAL sequence must be a positive integer, got ${seq}`);
    if (record.group !== this.group.name)
      throw errors.invalidArgument(`WAL record ${seq} of group ${record.group} in group ${this.group.name}`);
    if (seq <= this.drainedThrough) return false;
    const b = this.bucketFor(record, seq);
    const cols = record.cols
      ? columnsOf(record.cols, b.layout, this.resolve(record.kind, record.name)!.entity, seq)
      : null;
    if (cols && cols.f[cols.f.length - 1] === null)
      cols.f[cols.f.length - 1] = new Float64Array(cols.ts.length).fill(seq);
    const rows = record.rows as (MeasurePoint | StreamElement)[] | undefined;
    const keys = record.entity_keys;
    if (cols === null && (!Array.isArray(rows) || !Array.isArray(keys) || rows.length !== keys.length)) {
      throw errors.invalidArgument(`WAL record ${seq}: rows and entity_keys must be arrays of equal length`);
    }
    const r = b.rows;
    const before = r.n;
    if (before === 0) b.firstAppliedAtMs = nowMs ?? this.clock.now();
    let bytes = 0;
    if (cols && !b.layout.stream) bytes = appendMeasureColumns(b, cols);
    else if (cols) bytes = addStreamColumns(b, cols);
    else for (let i = 0; i < rows!.length; i++) bytes += addRow(r, seriesOf(b, keys![i]!), rows![i]!, b.layout, seq);
    b.approxBytes += bytes;
    this.rowCount += r.n - before;
    this.approxBytes += bytes;
    if (seq < b.minSeq) b.minSeq = seq;
    if (seq > this.lastSequence) this.lastSequence = seq;
    return true;
  }

  /** Moves the active rows of `name` into in-flight batches, one per segment. */
  drain(name: string): FlushBatch[] {
    const b = this.buckets.get(name);
    if (!b || b.rows.n === 0) return [];
    const detached = this.detach(b);
    // Records that still have rows of other names are not fully drained: stop before the oldest.
    let safe = this.lastSequence;
    for (const o of this.buckets.values()) if (o.rows.n > 0 && o.minSeq - 1 < safe) safe = o.minSeq - 1;
    return this.finish([detached], safe);
  }

  /** Moves every active row into in-flight batches, ordered by name then segment. */
  drainAll(): FlushBatch[] {
    const names = [...this.buckets.keys()].sort();
    const detached = names
      .map((n) => this.buckets.get(n)!)
      .filter((b) => b.rows.n > 0)
      .map((b) => this.detach(b));
    return this.finish(detached, this.lastSequence);
  }

  /** Forgets in-flight batches with `lastSequence ≤ upToSeq` once all are written; flush in drain order. */
  resetAfterFlush(upToSeq: number): void {
    this.flushing = this.flushing.filter((f) => f.lastSequence > upToSeq);
  }

  /**
   * The rows of measure or stream `q.name` held here, both active and in flight (drained, not yet
   * confirmed by `resetAfterFlush`), per series id (ascending): in time order, trimmed to
   * [minTs, maxTs] (inclusive), one row per key — (series, ts), or (series, ts, element id) for a
   * stream, whose equal timestamps come ordered by element id. Between an in-flight row and an
   * active one (or two in-flight batches) of one key the later written wins. Columns are those of
   * the resource's latest applied revision limited to `q.projection` (timestamps always); a column
   * an older batch lacks reads as missing, as in the file header. Empty for a name never applied.
   * Reads only: apply/drain/flush state is untouched; the result's columns are fresh arrays.
   *
   * Merging with `ShardStore.scanMerged` (same range, series and projection, `schemaName` = name):
   * **the memtable wins over parts for an equal (series, ts)** — for a stream, an equal (series,
   * ts, element id); other elements of that ts in parts stay. Every row here comes from a record
   * past the store's committed sequence or from a batch being written, so it is the newest write
   * of its key (an in-flight batch already in a part holds the same row). Take this snapshot before
   * starting `scanMerged`: a batch confirmed meanwhile is then in a committed part the store scan
   * sees; the other order could miss it. Align columns by name as scanMerged does.
   */
  scan(q: MemtableScanQuery): Map<string, BlockRows> {
    if (!(q.minTs <= q.maxTs)) throw errors.invalidArgument(`scan needs minTs <= maxTs, got ${q.minTs}, ${q.maxTs}`);
    const b = this.buckets.get(q.name);
    if (b === undefined) return new Map();
    const inFlight = this.flushing
      .filter((f) => f.name === q.name)
      .map((batch) => ({ batch, layout: this.batchLayouts.get(batch) ?? b.layout }));
    return scanRows(b.layout, inFlight, b, q);
  }

  private bucketFor(record: WalRecord, seq: number): Bucket {
    let b = this.buckets.get(record.name);
    if (b !== undefined && b.kind !== record.kind)
      throw errors.invalidArgument(`WAL record ${seq}: ${record.name} is a ${b.kind}`);
    if (b !== undefined && record.revision <= b.revision) return b;
    const resource = this.resolve(record.kind, record.name);
    if (resource === undefined) {
      throw errors.failedPrecondition(
        `WAL record ${seq}: ${record.kind} ${this.group.name}/${record.name} is not applied on this node`,
      );
    }
    const layout = layoutOf(record.kind, resource);
    if (b === undefined) {
      const { kind, name } = record;
      b = {
        kind,
        name,
        layout,
        revision: 0,
        rows: emptyRows(layout),
        series: new Map(),
        approxBytes: 0,
        minSeq: Infinity,
        firstAppliedAtMs: 0,
      };
      this.buckets.set(record.name, b);
    } else if (layout !== b.layout) {
      relayout(b.rows, b.layout, layout);
      b.layout = layout;
    }
    b.revision = record.revision;
    return b;
  }

  /** Takes the active rows out of `b`; the next record for it starts a fresh set. */
  private detach(b: Bucket): Bucket {
    const copy: Bucket = { ...b };
    this.rowCount -= b.rows.n;
    this.approxBytes -= b.approxBytes;
    Object.assign(b, { rows: emptyRows(b.layout), series: new Map(), approxBytes: 0, minSeq: Infinity });
    return copy;
  }

  private finish(detached: Bucket[], safe: number): FlushBatch[] {
    if (safe > this.drainedThrough) this.drainedThrough = safe;
    const out: FlushBatch[] = [];
    for (const b of detached) {
      for (const batch of buildBatches(b, this.intervalMs, safe)) {
        this.batchLayouts.set(batch, b.layout);
        out.push(batch);
      }
    }
    this.flushing.push(...out);
    return out;
  }
}

/** Re-maps columns by name after the resource changed; new or retyped columns read as missing. */
function relayout(r: Rows, from: Layout, to: Layout): void {
  r.f = to.fieldNames.map((name, j) => {
    const k = from.fieldNames.indexOf(name);
    // The missing value (NaN or 0) tells the field's type.
    return k >= 0 && Object.is(from.fieldMissing[k], to.fieldMissing[j])
      ? r.f[k]!
      : new Floats(r.n, to.fieldMissing[j]);
  });
  r.t = to.tagNames.map((name, j) => {
    const k = from.tagNames.indexOf(name);
    const kind = to.tagKinds[j]!;
    return k >= 0 && from.tagKinds[k] === kind
      ? r.t[k]!
      : new Array<unknown>(r.n).fill(kind === T_STRING ? '' : kind === T_INT ? 0 : EMPTY);
  });
}
