/**
 * The memtable's row storage (see memtable.ts): per-resource columns as rows are applied, the
 * gathering of a drained bucket into per-segment flush batches sorted by series id, then time, and
 * the read of one resource's rows (active and in flight) for a query.
 */
import { VERSION_COLUMN } from '../../storage/point_version.js';
import type { BlockProjection, BlockRows, BlockSchema, TagColumn } from '../../storage/block.js';
import type { PartRows } from '../../storage/part.js';
import { segmentFor } from '../../storage/segment.js';
import type { FlushBatch } from './memtable.js';

export const T_STRING = 0;
export const T_INT = 1;
export const T_LIST = 2;
export const EMPTY = Object.freeze([]) as never[];

/** A resource's part schema plus what `apply` needs per column; `idTag` also takes element ids (or -1). */
export interface Layout {
  schema: BlockSchema;
  stream: boolean;
  fieldNames: string[];
  fieldMissing: number[];
  tagNames: string[];
  tagKinds: number[];
  idTag: number;
}

/** A growable Float64Array: numbers stay unboxed and the GC never scans them. */
export class Floats {
  a: Float64Array;
  constructor(
    public n = 0,
    fill = 0,
  ) {
    this.a = new Float64Array(Math.max(64, n)).fill(fill);
  }
  push(v: number): void {
    if (this.n === this.a.length) this.grow(this.n + 1);
    this.a[this.n++] = v;
  }
  /** Appends every value of `src`. */
  append(src: Float64Array): void {
    if (this.n + src.length > this.a.length) this.grow(this.n + src.length);
    this.a.set(src, this.n);
    this.n += src.length;
  }
  /** Appends `count` copies of `v`. */
  appendFill(count: number, v: number): void {
    if (this.n + count > this.a.length) this.grow(this.n + count);
    this.a.fill(v, this.n, this.n + count);
    this.n += count;
  }
  private grow(atLeast: number): void {
    const b = new Float64Array(Math.max(atLeast, this.a.length * 2));
    b.set(this.a.subarray(0, this.n));
    this.a = b;
  }
}

/**
 * The active rows of one resource as columns, in apply order; a replaced row keeps its slot. One
 * set of columns per resource, not per series: thousands of small growing arrays cost more.
 */
export interface Rows {
  n: number;
  ts: Floats;
  f: Floats[];
  t: unknown[][];
  /** Element ids (streams only), for the de-duplication key. */
  eid: string[];
}

/**
 * One series: its row slots; `sorted` while every row came later than the one before (no sort and,
 * for a measure, no repeated key to resolve at drain).
 */
export interface Series {
  id: string;
  entityKey: string;
  pos: number[];
  maxTs: number;
  sorted: boolean;
  /** A stream's de-duplication key (ts, element id) → slot, built on the first row not past `maxTs`. */
  index: Map<string, number> | null;
}

/** The active rows of one measure or stream. */
export interface Bucket {
  kind: 'measure' | 'stream';
  name: string;
  layout: Layout;
  revision: number;
  rows: Rows;
  series: Map<string, Series>;
  approxBytes: number;
  minSeq: number;
  firstAppliedAtMs: number;
}

/** Rows `[from, to)` of `pos` (row slots in time order), all of series `id` and one segment. */
export interface Piece {
  id: string;
  pos: ArrayLike<number>;
  from: number;
  to: number;
}

/** Splits a detached bucket into per-segment batches sorted by series id, then time. */
export function buildBatches(b: Bucket, intervalMs: number, lastSequence: number): FlushBatch[] {
  const list = [...b.series.values()].sort((x, y) =>
    x.id !== y.id ? (x.id < y.id ? -1 : 1) : x.entityKey < y.entityKey ? -1 : 1,
  );
  const ts = b.rows.ts.a;
  const versions = b.rows.f[b.rows.f.length - 1]!.a;
  // A series' slots in time order, one per key (a stream's keys are unique as applied).
  const slotsOf = (s: Series): ArrayLike<number> => {
    if (s.sorted) return s.pos;
    const pos = sortSlots(Int32Array.from(s.pos), ts);
    return b.layout.stream ? pos : newestPerTime(pos, ts, versions);
  };
  const segs = new Map<number, { endMs: number; n: number; pieces: Piece[] }>();
  for (let k = 0; k < list.length;) {
    // Series sharing an id (a hash collision) form one run, merged in time order.
    let e = k + 1;
    while (e < list.length && list[e]!.id === list[k]!.id) e++;
    const pos =
      e - k > 1
        ? sortSlots(Int32Array.from(list.slice(k, e).flatMap((s) => Array.from(slotsOf(s)))), ts)
        : slotsOf(list[k]!);
    // Rows are in time order, so the segment changes rarely: look it up only when it does.
    for (let i = 0; i < pos.length;) {
      const { startMs, endMs } = segmentFor(ts[pos[i]!]!, intervalMs);
      let to = i + 1;
      while (to < pos.length && ts[pos[to]!]! < endMs) to++;
      let seg = segs.get(startMs);
      if (seg === undefined) segs.set(startMs, (seg = { endMs, n: 0, pieces: [] }));
      seg.pieces.push({ id: list[k]!.id, pos, from: i, to });
      seg.n += to - i;
      i = to;
    }
    k = e;
  }
  return [...segs.keys()]
    .sort((x, y) => x - y)
    .map((startMs) => {
      const seg = segs.get(startMs)!;
      const rows = columns(seg.n, seg.pieces, b.rows, b.layout);
      return {
        kind: b.kind,
        name: b.name,
        segmentStartMs: startMs,
        segmentEndMs: seg.endMs,
        schema: b.layout.schema,
        rows,
        lastSequence,
      };
    });
}

/**
 * Sorts row slots `pos` in place by (time, slot): slots grow in apply order, so rows of equal time
 * stay in apply order. A series written out of order by a few writers is a few interleaved sorted
 * runs, which an insertion sort puts in order in a few moves per row, without a comparator call
 * per comparison; past 16 moves per row on average it hands over to the general sort.
 */
export function sortSlots(pos: Int32Array, ts: ArrayLike<number>): Int32Array {
  let moves = 0;
  const budget = 16 * pos.length;
  for (let i = 1; i < pos.length; i++) {
    const p = pos[i]!;
    const t = ts[p]!;
    let j = i - 1;
    while (j >= 0) {
      const q = pos[j]!;
      const u = ts[q]!;
      if (u < t || (u === t && q < p)) break;
      pos[j + 1] = q;
      j--;
      if (++moves > budget) {
        pos[j + 1] = p;
        return pos.sort((x, y) => ts[x]! - ts[y]! || x - y);
      }
    }
    pos[j + 1] = p;
  }
  return pos;
}

/**
 * Slots `pos` of one measure series, sorted by (time, slot), cut to one per time: the row of the
 * highest version (storage/point_version.ts), and among equal versions the last applied — what
 * replacing rows one by one as they came would have kept. Works in place; returns the kept prefix.
 */
export function newestPerTime(pos: Int32Array, ts: ArrayLike<number>, versions: ArrayLike<number>): Int32Array {
  let m = 0;
  for (let i = 0; i < pos.length;) {
    let best = pos[i]!;
    const t = ts[best]!;
    let j = i + 1;
    for (; j < pos.length && ts[pos[j]!] === t; j++) if (versions[pos[j]!]! >= versions[best]!) best = pos[j]!;
    pos[m++] = best;
    i = j;
  }
  return pos.subarray(0, m);
}

/** Gathers the pieces' rows into one struct-of-arrays, column by column. */
export function columns(n: number, pieces: Piece[], r: Rows, L: Layout): PartRows {
  const seriesIds = new Array<string>(n);
  const timestamps = new Float64Array(n);
  const fields: Record<string, Float64Array> = {};
  const tags: Record<string, TagColumn> = {};
  let at = 0;
  for (const { id, from, to } of pieces) for (let i = from; i < to; i++) seriesIds[at++] = id;
  gather(r.ts.a, timestamps, pieces);
  L.fieldNames.forEach((name, j) => gather(r.f[j]!.a, (fields[name] = new Float64Array(n)), pieces));
  L.tagNames.forEach((name, j) => {
    const col = L.tagKinds[j] === T_INT ? new Float64Array(n) : new Array<unknown>(n);
    gather(r.t[j]!, col, pieces);
    tags[name] = col as TagColumn;
  });
  return { seriesIds, timestamps, fields, tags };
}

/** Copies the pieces' rows of `src` into `dst`, in piece order. */
export function gather(src: ArrayLike<unknown>, dst: { [i: number]: unknown }, pieces: Piece[]): void {
  let at = 0;
  for (const { pos, from, to } of pieces) for (let i = from; i < to; i++) dst[at++] = src[pos[i]!];
}

/** What `Memtable.scan` reads: one measure or stream; the time range is inclusive on both ends. */
export interface MemtableScanQuery {
  name: string;
  minTs: number;
  maxTs: number;
  seriesIds?: ReadonlySet<string>;
  projection?: BlockProjection;
}

/** One set of rows a scan reads: an in-flight batch or the active bucket; cols follow the output columns. */
interface Source {
  ts: ArrayLike<number>;
  /** Element ids (streams), for the de-duplication key. */
  eid: ArrayLike<unknown> | null;
  /** Row versions (storage/point_version.ts): the highest wins a key. */
  v: ArrayLike<number> | null;
  /** Per output column the source's column, or null when it has none of that name and type. */
  cols: (ArrayLike<unknown> | null)[];
}

/** Candidate rows of one series: parallel source indices and row indices, in source order. */
type Candidates = { src: number[]; row: number[] };

/**
 * The rows of one resource in `[minTs, maxTs]` per series id (ids ascending), in time order, one
 * row per key: `inFlight` (oldest first) then `active`, the row of the highest version winning a
 * key, and among equal versions the later source. Columns are `L`'s (the resource's current layout) limited to the projection; a
 * column a batch lacks (or holds with another type) reads as missing. Reads only: copies, never
 * sorts or indexes, the sources' rows.
 */
export function scanRows(
  L: Layout,
  inFlight: { batch: FlushBatch; layout: Layout }[],
  active: Bucket | undefined,
  q: MemtableScanQuery,
): Map<string, BlockRows> {
  const { minTs, maxTs, seriesIds: only } = q;
  const wantF = q.projection?.fields ? new Set(q.projection.fields) : null;
  const wantT = q.projection?.tags ? new Set(q.projection.tags) : null;
  const fi = L.fieldNames.flatMap((n, j) => (!wantF || wantF.has(n) ? [j] : []));
  const ti = L.tagNames.flatMap((n, j) => (!wantT || wantT.has(n) ? [j] : []));
  const sources: Source[] = [];
  const bySeries = new Map<string, Candidates>();
  const add = (id: string, src: number, row: number) => {
    let c = bySeries.get(id);
    if (c === undefined) bySeries.set(id, (c = { src: [], row: [] }));
    c.src.push(src);
    c.row.push(row);
  };
  for (const { batch, layout: B } of inFlight) {
    if (batch.segmentStartMs > maxTs || batch.segmentEndMs <= minTs) continue;
    const { seriesIds: ids, timestamps: ts, fields, tags } = batch.rows;
    const src = sources.length;
    sources.push({
      ts,
      eid: L.stream && B.idTag >= 0 ? (tags[B.tagNames[B.idTag]!] ?? null) : null,
      v: fields[VERSION_COLUMN] ?? null,
      cols: [
        ...fi.map((j) => {
          const k = B.fieldNames.indexOf(L.fieldNames[j]!);
          return k >= 0 && Object.is(B.fieldMissing[k], L.fieldMissing[j]) ? (fields[L.fieldNames[j]!] ?? null) : null;
        }),
        ...ti.map((j) => {
          const k = B.tagNames.indexOf(L.tagNames[j]!);
          return k >= 0 && B.tagKinds[k] === L.tagKinds[j] ? (tags[L.tagNames[j]!] ?? null) : null;
        }),
      ],
    });
    // Rows are sorted by series id, then time: walk the runs, skipping to minTs inside each.
    for (let s = 0; s < ids.length;) {
      const id = ids[s]!;
      let e = s + 1;
      while (e < ids.length && ids[e] === id) e++;
      if (only === undefined || only.has(id)) {
        let lo = s;
        let hi = e;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (ts[mid]! < minTs) lo = mid + 1;
          else hi = mid;
        }
        for (let i = lo; i < e && ts[i]! <= maxTs; i++) add(id, src, i);
      }
      s = e;
    }
  }
  if (active !== undefined && active.rows.n > 0) {
    const r = active.rows;
    const src = sources.length;
    sources.push({
      ts: r.ts.a,
      eid: L.stream ? r.eid : null,
      v: r.f[L.fieldNames.indexOf(VERSION_COLUMN)]?.a ?? null,
      cols: [...fi.map((j) => r.f[j]!.a), ...ti.map((j) => r.t[j]!)],
    });
    for (const s of active.series.values()) {
      if (only !== undefined && !only.has(s.id)) continue;
      for (const p of s.pos) {
        const t = r.ts.a[p]!;
        if (t >= minTs && t <= maxTs) add(s.id, src, p);
      }
    }
  }
  const out = new Map<string, BlockRows>();
  for (const id of [...bySeries.keys()].sort()) out.set(id, mergeCandidates(bySeries.get(id)!, sources, L, fi, ti));
  return out;
}

/** One series' candidates sorted by time and de-duplicated (the highest version, then the last, wins a key), then gathered. */
function mergeCandidates(c: Candidates, sources: Source[], L: Layout, fi: number[], ti: number[]): BlockRows {
  const n = c.src.length;
  const tsOf = (k: number) => sources[c.src[k]!]!.ts[c.row[k]!]!;
  const eidOf = (k: number) => String(sources[c.src[k]!]!.eid?.[c.row[k]!] ?? '');
  // A loop, not Int32Array.from with a map function (~30x slower, and this runs per series per flush).
  let order = new Int32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  let increasing = true;
  for (let k = 1; k < n && increasing; k++) increasing = tsOf(k) > tsOf(k - 1);
  if (!increasing) {
    // Candidates are in source order (oldest first), so among equal keys the last is the newest.
    const cmp = L.stream
      ? (a: number, b: number) => tsOf(a) - tsOf(b) || (eidOf(a) < eidOf(b) ? -1 : eidOf(a) > eidOf(b) ? 1 : a - b)
      : (a: number, b: number) => tsOf(a) - tsOf(b) || a - b;
    order.sort(cmp);
    // Per run of equal keys, the highest version; among equal versions the last (newest source).
    const vOf = (k: number) => sources[c.src[k]!]!.v?.[c.row[k]!] ?? 0;
    let m = 0;
    let best = -1;
    for (let k = 0; k < n; k++) {
      const x = order[k]!;
      if (best < 0 || vOf(x) >= vOf(best)) best = x;
      const y = order[k + 1];
      if (y === undefined || tsOf(y) !== tsOf(x) || (L.stream && eidOf(y) !== eidOf(x))) {
        order[m++] = best;
        best = -1;
      }
    }
    order = order.subarray(0, m);
  }
  const m = order.length;
  const gather = <T extends { [i: number]: unknown }>(col: number, dst: T, missing: unknown): T => {
    for (let k = 0; k < m; k++) {
      const at = order[k]!;
      const from = sources[c.src[at]!]!.cols[col];
      dst[k] = from ? from[c.row[at]!] : missing;
    }
    return dst;
  };
  const timestamps = new Float64Array(m);
  for (let k = 0; k < m; k++) timestamps[k] = tsOf(order[k]!);
  const fields: Record<string, Float64Array> = {};
  const tags: Record<string, TagColumn> = {};
  fi.forEach((j, col) => (fields[L.fieldNames[j]!] = gather(col, new Float64Array(m), L.fieldMissing[j])));
  ti.forEach((j, t) => {
    const kind = L.tagKinds[j];
    const dst = kind === T_INT ? new Float64Array(m) : new Array<unknown>(m);
    tags[L.tagNames[j]!] = gather(fi.length + t, dst, kind === T_STRING ? '' : kind === T_INT ? 0 : EMPTY) as TagColumn;
  });
  return { timestamps, fields, tags };
}
