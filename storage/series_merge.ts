/**
 * One series' rows from several parts merged (pure): the newest-write-wins rule that
 * `ShardStore.scanMerged` and the query workers apply to a read and that a background merge
 * (merge.ts) applies to whole parts, so both agree by construction.
 *
 * Winner per key — the key being (series, ts), or (series, ts, key tag) for a stream: the row of the
 * highest version (point_version.ts); among equal versions the newest part's, parts being ordered
 * oldest write first by (last_sequence, segment, part sequence). Chunks that do not overlap in time
 * hold no key twice and are concatenated; chunks overlapping at their edges are merged row by row;
 * anything else is sorted.
 */
import { NO_VERSION, VERSION_COLUMN } from './point_version.js';
import { errors } from '../transport/errors.js';
import type { BlockProjection, BlockRows, BlockSchema, FieldType, TagColumn, TagType } from './block.js';

/** Rows of one block of one series, and the age rank of the part they came from (0 = oldest). */
export type Chunk = { rows: BlockRows; age: number };
/** Column names and types of a merged result. */
export type Columns = { fields: Map<string, FieldType>; tags: Map<string, TagType> };

/** The columns of `schemas` (oldest first, so a newer type wins), limited to the projection. */
export function unionColumns(schemas: readonly BlockSchema[], projection?: BlockProjection): Columns {
  const wantF = projection?.fields ? new Set(projection.fields) : null;
  const wantT = projection?.tags ? new Set(projection.tags) : null;
  const cols: Columns = { fields: new Map(), tags: new Map() };
  for (const s of schemas) {
    for (const f of s.fields) if (!wantF || wantF.has(f.name)) cols.fields.set(f.name, f.type);
    for (const t of s.tags) if (!wantT || wantT.has(t.name)) cols.tags.set(t.name, t.type);
  }
  return cols;
}

/** `cols` as a block schema (the merged part's). */
export function columnsSchema(cols: Columns): BlockSchema {
  return {
    fields: [...cols.fields].map(([name, type]) => ({ name, type })),
    tags: [...cols.tags].map(([name, type]) => ({ name, type })),
  };
}

/** True when no column has two types across `schemas`. */
export function typesAgree(schemas: readonly BlockSchema[]): boolean {
  const seen = new Map<string, string>();
  for (const s of schemas) {
    for (const c of [
      ...s.fields.map((f) => ['f:' + f.name, f.type]),
      ...s.tags.map((t) => ['t:' + t.name, t.type]),
    ] as [string, string][]) {
      const had = seen.get(c[0]);
      if (had !== undefined && had !== c[1]) return false;
      seen.set(c[0], c[1]);
    }
  }
  return true;
}

/**
 * One series' chunks merged: sorted by ts (then key), per key the row of the highest version kept
 * (the newest part's among equal versions), columns
 * aligned to `cols` with missing values filled (float NaN, int 0, string '', lists []). `what`
 * names the measure or stream in errors.
 */
export function mergeSeries(chunks: Chunk[], cols: Columns, keyTag: string | undefined, what: string): BlockRows {
  // One chunk with strictly increasing timestamps and every column in the right type is the answer
  // as it is (equal timestamps — stream elements — still need ordering by key below).
  if (chunks.length === 1 && strictlyIncreasing(chunks[0]!.rows.timestamps) && hasColumns(chunks[0]!.rows, cols))
    return pick(chunks[0]!.rows, cols);
  // Chunks one after the other in time concatenate in time order: no key is in two of them, so part
  // age does not matter. (A merged part is newer than parts holding later rows: age order is not time order.)
  if (allHaveColumns(chunks, cols)) {
    const byTime = [...chunks].sort(byFirstTs);
    if (strictlyIncreasingAcross(byTime)) return concat(byTime, cols);
  }
  chunks.sort(byAge); // stable: blocks of one part keep file order
  let n = 0;
  for (const c of chunks) n += c.rows.timestamps.length;
  const ts = new Float64Array(n);
  const src = new Uint32Array(n); // chunk of each row
  const row = new Uint32Array(n); // row inside that chunk
  let sorted = true;
  for (let k = 0, i = 0; k < chunks.length; k++) {
    const t = chunks[k]!.rows.timestamps;
    for (let r = 0; r < t.length; r++, i++) {
      ts[i] = t[r]!;
      src[i] = k;
      row[i] = r;
      if (i > 0 && ts[i]! <= ts[i - 1]!) sorted = false;
    }
  }
  let order: Uint32Array;
  // Chunks each in time order (blocks of parts flushed while writes of one series arrived out of
  // order overlap at their edges): merged in one pass instead of sorted.
  const merged =
    !sorted && keyTag === undefined && chunks.every((c) => strictlyIncreasing(c.rows.timestamps))
      ? mergeOrder(chunks, n)
      : null;
  if (merged) order = merged;
  else {
    order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
  }
  if (!sorted && !merged) {
    // Ties by position, which is (part age, row): the last of each equal-key run is the newest.
    const key =
      keyTag === undefined
        ? null
        : (i: number) => String((chunks[src[i]!]!.rows.tags[keyTag] as unknown[] | undefined)?.[row[i]!] ?? '');
    const cmpKey = (a: number, b: number) => {
      if (key === null) return 0;
      const x = key(a);
      const y = key(b);
      return x < y ? -1 : x > y ? 1 : 0;
    };
    order.sort((a, b) => ts[a]! - ts[b]! || cmpKey(a, b) || a - b);
    // Per run of equal keys the highest version wins (storage/point_version.ts); among equal
    // versions (rows from before versions existed read as 0) the last, the newest part's.
    const vOf = (i: number) => chunks[src[i]!]!.rows.fields[VERSION_COLUMN]?.[row[i]!] ?? NO_VERSION;
    let m = 0;
    let best = -1;
    for (let k = 0; k < n; k++) {
      const x = order[k]!;
      if (best < 0 || vOf(x) >= vOf(best)) best = x;
      if (k === n - 1 || ts[order[k + 1]!] !== ts[x] || cmpKey(order[k + 1]!, x) !== 0) {
        order[m++] = best;
        best = -1;
      }
    }
    order = order.subarray(0, m);
  }
  const m = order.length;
  const gather = <T extends Float64Array | unknown[]>(
    get: (r: BlockRows) => ArrayLike<unknown> | undefined,
    out: T,
    dflt: () => unknown,
  ): T => {
    // Each chunk's column looked up once, not per row (a lookup by name per row is megamorphic).
    const byChunk = chunks.map((c) => get(c.rows));
    for (let k = 0; k < m; k++) {
      const from = byChunk[src[order[k]!]!];
      (out as unknown[])[k] = from ? from[row[order[k]!]!] : dflt();
    }
    return out;
  };
  const out: BlockRows = {
    timestamps: gather(
      (r) => r.timestamps,
      new Float64Array(m),
      () => 0,
    ),
    fields: {},
    tags: {},
  };
  for (const [name, type] of cols.fields)
    out.fields[name] = gather(
      (r) => r.fields[name],
      new Float64Array(m),
      () => (type === 'float' ? NaN : 0),
    );
  for (const [name, type] of cols.tags) {
    const typed = type === 'int';
    const get = (r: BlockRows) => {
      const col = r.tags[name];
      if (col !== undefined && col instanceof Float64Array !== typed)
        throw errors.failedPrecondition(`tag ${JSON.stringify(name)} changed type between parts of ${what}`);
      return col;
    };
    out.tags[name] = typed
      ? gather(get, new Float64Array(m), () => 0)
      : (gather(get, new Array<unknown>(m), () => (type === 'string' ? '' : [])) as TagColumn);
  }
  return out;
}

/** Chunks overlapping in time merged in one pass at most (each of their rows looks at every one). */
const K_WAY_MAX = 8;

/**
 * The rows to keep of `chunks` (sorted by age, each strictly increasing in time), as positions in
 * their concatenation, in time order: per timestamp the highest version, the newest chunk's among
 * equal versions — what the sort below picks. Chunks are taken in order of their first row; those
 * overlapping in time form a cluster merged row by row, a chunk alone is copied as it is. Null
 * when a cluster has more than K_WAY_MAX chunks (the sort handles it).
 */
function mergeOrder(chunks: readonly Chunk[], n: number): Uint32Array | null {
  const k = chunks.length;
  const ts = chunks.map((c) => c.rows.timestamps);
  const vs = chunks.map((c) => c.rows.fields[VERSION_COLUMN]);
  const base = new Uint32Array(k);
  for (let c = 1; c < k; c++) base[c] = base[c - 1]! + ts[c - 1]!.length;
  const byStart = Array.from({ length: k }, (_, c) => c)
    .filter((c) => ts[c]!.length > 0)
    .sort((a, b) => ts[a]![0]! - ts[b]![0]! || a - b);
  const out = new Uint32Array(n);
  let m = 0;
  for (let from = 0; from < byStart.length;) {
    // The cluster: each next chunk that starts before the cluster so far ends.
    let end = ts[byStart[from]!]!.at(-1)!;
    let to = from + 1;
    while (to < byStart.length && ts[byStart[to]!]![0]! <= end) end = Math.max(end, ts[byStart[to++]!]!.at(-1)!);
    const cluster = byStart.slice(from, to).sort((a, b) => a - b); // age order: the newest last
    from = to;
    if (cluster.length === 1) {
      const c = cluster[0]!;
      for (let r = 0; r < ts[c]!.length; r++) out[m++] = base[c]! + r;
      continue;
    }
    if (cluster.length > K_WAY_MAX) return null;
    const at = new Uint32Array(cluster.length);
    let left = 0;
    for (const c of cluster) left += ts[c]!.length;
    while (left > 0) {
      let t = Infinity;
      for (let j = 0; j < cluster.length; j++) {
        const c = cluster[j]!;
        if (at[j]! < ts[c]!.length && ts[c]![at[j]!]! < t) t = ts[c]![at[j]!]!;
      }
      let best = -1;
      let bestV = 0;
      for (let j = 0; j < cluster.length; j++) {
        const c = cluster[j]!;
        if (at[j]! >= ts[c]!.length || ts[c]![at[j]!] !== t) continue;
        const v = vs[c]?.[at[j]!] ?? NO_VERSION;
        if (best < 0 || v >= bestV) {
          best = j;
          bestV = v;
        }
        at[j] = at[j]! + 1;
        left--;
      }
      out[m++] = base[cluster[best]!]! + at[best]! - 1;
    }
  }
  return out.subarray(0, m);
}

function strictlyIncreasing(ts: Float64Array): boolean {
  for (let i = 1; i < ts.length; i++) if (!(ts[i]! > ts[i - 1]!)) return false;
  return true;
}

/** A chunk's first timestamp (an empty chunk sorts last). */
function firstTs(c: Chunk): number {
  return c.rows.timestamps.length > 0 ? c.rows.timestamps[0]! : Infinity;
}

function strictlyIncreasingAcross(chunks: Chunk[]): boolean {
  let prev = -Infinity;
  for (const c of chunks) {
    const ts = c.rows.timestamps;
    if (ts.length === 0) continue;
    if (!(ts[0]! > prev) || !strictlyIncreasing(ts)) return false;
    prev = ts[ts.length - 1]!;
  }
  return true;
}

/** The chunks' rows one after the other, in `cols`' columns. */
function concat(chunks: Chunk[], cols: Columns): BlockRows {
  let n = 0;
  for (const c of chunks) n += c.rows.timestamps.length;
  const out: BlockRows = { timestamps: catFloats(chunks, n, 'ts', ''), fields: {}, tags: {} };
  for (const name of cols.fields.keys()) out.fields[name] = catFloats(chunks, n, 'field', name);
  for (const [name, type] of cols.tags)
    out.tags[name] = type === 'int' ? catFloats(chunks, n, 'tag', name) : catValues(chunks, n, name);
  return out;
}

// Module functions, not closures made per call: V8 keeps their compiled code across queries.

/** Each chunk's timestamps, field `name` or int tag `name` (hasColumns checked: Float64Arrays), one after the other. */
function catFloats(chunks: Chunk[], n: number, what: 'ts' | 'field' | 'tag', name: string): Float64Array {
  const out = new Float64Array(n);
  let at = 0;
  for (const c of chunks) {
    const a = (
      what === 'ts' ? c.rows.timestamps : what === 'field' ? c.rows.fields[name] : c.rows.tags[name]
    ) as Float64Array;
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Each chunk's values of tag `name`, one after the other. */
function catValues(chunks: Chunk[], n: number, name: string): TagColumn {
  const out = new Array<unknown>(n);
  let at = 0;
  for (const c of chunks) {
    const a = c.rows.tags[name] as unknown[];
    for (let i = 0; i < a.length; i++) out[at++] = a[i];
  }
  return out as TagColumn;
}

const byFirstTs = (a: Chunk, b: Chunk) => firstTs(a) - firstTs(b);
const byAge = (a: Chunk, b: Chunk) => a.age - b.age;

function allHaveColumns(chunks: Chunk[], cols: Columns): boolean {
  for (const c of chunks) if (!hasColumns(c.rows, cols)) return false;
  return true;
}

function hasColumns(r: BlockRows, cols: Columns): boolean {
  for (const name of cols.fields.keys()) if (!(r.fields[name] instanceof Float64Array)) return false;
  for (const [name, type] of cols.tags) {
    const c = r.tags[name];
    if (c === undefined || c instanceof Float64Array !== (type === 'int')) return false;
  }
  return true;
}

/** The rows with exactly `cols`' columns (shared, not copied). */
function pick(r: BlockRows, cols: Columns): BlockRows {
  const out: BlockRows = { timestamps: r.timestamps, fields: {}, tags: {} };
  for (const name of cols.fields.keys()) out.fields[name] = r.fields[name]!;
  for (const name of cols.tags.keys()) out.tags[name] = r.tags[name]!;
  return out;
}
