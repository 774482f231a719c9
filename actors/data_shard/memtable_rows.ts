/**
 * The memtable's row storage (see memtable.ts): per-resource columns as rows are applied, and the
 * gathering of a drained bucket into per-segment flush batches sorted by series id, then time.
 */
import type { BlockSchema, TagColumn } from '../../storage/block.js';
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
  constructor(public n = 0, fill = 0) {
    this.a = new Float64Array(Math.max(64, n)).fill(fill);
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.n * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
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

/** One series: its row slots; `sorted` while its timestamps never decreased. */
export interface Series {
  id: string;
  entityKey: string;
  pos: number[];
  maxTs: number;
  sorted: boolean;
  /** De-duplication key → slot, built on the first row that is not past `maxTs`. */
  index: Map<number | string, number> | null;
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
  const list = [...b.series.values()].sort((x, y) => (x.id !== y.id ? (x.id < y.id ? -1 : 1) : x.entityKey < y.entityKey ? -1 : 1));
  const ts = b.rows.ts.a;
  const segs = new Map<number, { endMs: number; n: number; pieces: Piece[] }>();
  for (let k = 0; k < list.length; ) {
    // Series sharing an id (a hash collision) form one run, merged in time order.
    let e = k + 1;
    while (e < list.length && list[e]!.id === list[k]!.id) e++;
    let pos: ArrayLike<number> = list[k]!.pos;
    if (e - k > 1 || !list[k]!.sorted) {
      // Slots grow in apply order, so (ts, slot) order keeps equal timestamps in apply order.
      pos = Int32Array.from(list.slice(k, e).flatMap((s) => s.pos)).sort((x, y) => ts[x]! - ts[y]! || x - y);
    }
    // Rows are in time order, so the segment changes rarely: look it up only when it does.
    for (let i = 0; i < pos.length; ) {
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
      return { kind: b.kind, name: b.name, segmentStartMs: startMs, segmentEndMs: seg.endMs, schema: b.layout.schema, rows, lastSequence };
    });
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
