/**
 * A shard's raw rows as they travel (pure): parallel columns, compact on the wire. Times and field
 * values are Float64Arrays (copied whole by a worker message and by msgpack); each row names its
 * series by an index into the distinct series ids, and a tag column is a dictionary — the values
 * it holds once each and a code per row. Rows of one series repeat the same tag values, so an
 * answer of 8,640 rows of one series carries each tag value once instead of 8,640 times.
 */

/** Per row, an index into distinct values: the narrowest array that holds them (fewer bytes on the wire). */
export type Codes = Uint8Array | Uint16Array | Uint32Array;

/** A tag column as a dictionary: row i's value is `values[codes[i]]`. */
export interface TagDict {
  values: unknown[];
  codes: Codes;
}

/** `codes` (each below `distinct`) in the narrowest array that holds them. */
export function narrowCodes(codes: ArrayLike<number>, distinct: number): Codes {
  if (distinct <= 0x100) return Uint8Array.from(codes);
  if (distinct <= 0x10000) return Uint16Array.from(codes);
  return Uint32Array.from(codes);
}

/** Rows of one shard in plan order: parallel columns. */
export interface ShardRows {
  /** True when the shard left out rows after these to keep its reply within the message limit. */
  truncated?: boolean;
  ts: Float64Array;
  /** The distinct series ids of the rows; row i's is `series[si[i]]`. */
  series: string[];
  si: Codes;
  /** Element ids (streams), else null. */
  eid: string[] | null;
  tags: Record<string, TagDict>;
  /** NaN is a missing float. */
  fields: Record<string, Float64Array>;
}

/**
 * Where the first `n` of `rows` start when they are one run of consecutive rows, else -1. Rows
 * picked in order are strictly monotonic, so a span of n - 1 from the first to the last means that.
 */
export function runStart(rows: ArrayLike<number>, n: number): number {
  return n > 0 && rows[n - 1]! - rows[0]! === n - 1 ? rows[0]! : -1;
}

/** Row i's series id. */
export const sidAt = (r: ShardRows, i: number): string => r.series[r.si[i]!]!;

/** Row i's value of tag `t`. */
export const tagAt = (r: ShardRows, t: string, i: number): unknown => {
  const d = r.tags[t]!;
  return d.values[d.codes[i]!];
};

/** The dictionary key of a tag value: list values by their JSON, apart from any string. */
const dictKey = (v: unknown): unknown => (typeof v === 'object' && v !== null ? `\u0000${JSON.stringify(v)}` : v);

/** A growing dictionary column. */
export class DictBuilder {
  readonly values: unknown[] = [];
  readonly codes: number[] = [];
  private readonly index = new Map<unknown, number>();
  // Rows of one series come in runs with the same value: the last one skips the map.
  private last: unknown = undefined;
  private lastCode = -1;

  add(v: unknown): void {
    if (v === this.last && this.lastCode >= 0) {
      this.codes.push(this.lastCode);
      return;
    }
    const c = this.codeOf(v);
    this.last = v;
    this.lastCode = c;
    this.codes.push(c);
  }

  /** The code of value `v`, which joins the values when new (no row is added). */
  codeOf(v: unknown): number {
    const k = dictKey(v);
    let c = this.index.get(k);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(v);
      this.index.set(k, c);
    }
    return c;
  }

  finish(): TagDict {
    return { values: this.values, codes: narrowCodes(this.codes, this.values.length) };
  }
}

/** Builds ShardRows one row at a time: `row(...)`, then `tag` and `field` for each of its columns. */
export class ShardRowsBuilder {
  private readonly ts: number[] = [];
  private readonly si: number[] = [];
  private readonly series: string[] = [];
  private readonly seriesIndex = new Map<string, number>();
  private readonly eid: string[] | null;
  private readonly tags: DictBuilder[];
  private readonly fields: number[][];

  constructor(
    private readonly tagNames: readonly string[],
    private readonly fieldNames: readonly string[],
    withElementIds: boolean,
  ) {
    this.eid = withElementIds ? [] : null;
    this.tags = tagNames.map(() => new DictBuilder());
    this.fields = fieldNames.map(() => []);
  }

  get length(): number {
    return this.ts.length;
  }

  row(ts: number, sid: string, eid: string | null): void {
    let s =
      this.si.length > 0 && this.series[this.si[this.si.length - 1]!] === sid ? this.si[this.si.length - 1] : undefined;
    s ??= this.seriesIndex.get(sid);
    if (s === undefined) {
      s = this.series.length;
      this.series.push(sid);
      this.seriesIndex.set(sid, s);
    }
    this.ts.push(ts);
    this.si.push(s);
    if (this.eid) this.eid.push(eid ?? '');
  }

  /** The row's value of the j-th tag of the constructor's names (by position: no lookup by name per row). */
  tag(j: number, v: unknown): void {
    this.tags[j]!.add(v);
  }

  /** The row's value of the j-th field of the constructor's names. */
  field(j: number, v: number): void {
    this.fields[j]!.push(v);
  }

  finish(): ShardRows {
    const out: ShardRows = {
      ts: Float64Array.from(this.ts),
      series: this.series,
      si: narrowCodes(this.si, this.series.length),
      eid: this.eid,
      tags: {},
      fields: {},
    };
    this.tagNames.forEach((t, j) => (out.tags[t] = this.tags[j]!.finish()));
    this.fieldNames.forEach((f, j) => (out.fields[f] = Float64Array.from(this.fields[j]!)));
    return out;
  }
}

/**
 * `col`'s values at `rows`, copied as one run when they are one (all of a series' rows in
 * ascending order, a raw day). A module function, not a closure per call: V8 keeps its code.
 */
function gatherRows(col: Float64Array, rows: ArrayLike<number>): Float64Array {
  const n = rows.length;
  const start = runStart(rows, n);
  if (start >= 0) return col.slice(start, start + n);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = col[rows[k]!]!;
  return out;
}

/**
 * Rows `rows` (indexes, in answer order) of one series as ShardRows, built column by column: the
 * answer of a query pinned to one series, without a per-row builder call.
 */
export function oneSeriesRows(
  sid: string,
  rows: ArrayLike<number>,
  ts: Float64Array,
  tagNames: readonly string[],
  tagCols: readonly ArrayLike<unknown>[],
  fieldNames: readonly string[],
  fieldCols: readonly Float64Array[],
  eids: ArrayLike<unknown> | null,
): ShardRows {
  const n = rows.length;
  const out: ShardRows = {
    ts: gatherRows(ts, rows),
    series: [sid],
    si: new Uint8Array(n),
    eid: eids ? Array.from(rows, (i) => String(eids[i] ?? '')) : null,
    tags: {},
    fields: {},
  };
  tagNames.forEach((t, j) => (out.tags[t] = tagDict(tagCols[j]!, rows)));
  fieldNames.forEach((f, j) => (out.fields[f] = gatherRows(fieldCols[j]!, rows)));
  return out;
}

/** The first `n` rows of `r`, marked `truncated` when cut (its series and dictionaries cut to what they use). */
export function sliceRows(r: ShardRows, n: number): ShardRows {
  if (n >= r.ts.length) return r;
  const series = compact(r.series, r.si, n);
  const out: ShardRows = {
    truncated: true,
    ts: r.ts.slice(0, n),
    series: series.values,
    si: series.codes,
    eid: r.eid ? r.eid.slice(0, n) : null,
    tags: {},
    fields: {},
  };
  for (const t in r.tags) out.tags[t] = compact(r.tags[t]!.values, r.tags[t]!.codes, n);
  for (const f in r.fields) out.fields[f] = r.fields[f]!.slice(0, n);
  return out;
}

/** The values the first `n` codes use, in first-use order, and those codes renumbered. */
function compact<T>(values: readonly T[], codes: Codes, n: number): { values: T[]; codes: Codes } {
  const at = new Int32Array(values.length).fill(-1);
  const kept: T[] = [];
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const c = codes[i]!;
    if (at[c]! < 0) {
      at[c] = kept.length;
      kept.push(values[c]!);
    }
    out[i] = at[c]!;
  }
  return { values: kept, codes: narrowCodes(out, kept.length) };
}

/** `a` followed by `b` (rows of a later window): same columns. */
export function appendRows(a: ShardRows, b: ShardRows): ShardRows {
  const out: ShardRows = {
    ts: concat(a.ts, b.ts),
    series: [...a.series],
    si: a.si,
    eid: a.eid && b.eid ? a.eid.concat(b.eid) : a.eid,
    tags: {},
    fields: {},
  };
  const si = new Uint32Array(a.si.length + b.si.length);
  si.set(a.si);
  const seriesAt = remap(out.series, b.series, (v) => v);
  for (let i = 0; i < b.si.length; i++) si[a.si.length + i] = seriesAt[b.si[i]!]!;
  out.si = narrowCodes(si, out.series.length);
  for (const t in a.tags) {
    const x = a.tags[t]!;
    const y = b.tags[t]!;
    const values = [...x.values];
    const at = remap(values, y.values, dictKey);
    const codes = new Uint32Array(x.codes.length + y.codes.length);
    codes.set(x.codes);
    for (let i = 0; i < y.codes.length; i++) codes[x.codes.length + i] = at[y.codes[i]!]!;
    out.tags[t] = { values, codes: narrowCodes(codes, values.length) };
  }
  for (const f in a.fields) out.fields[f] = concat(a.fields[f]!, b.fields[f]!);
  return out;
}

/** Adds `more` to `into` (each distinct value once, by `key`); where each of `more` sits in `into`. */
function remap<T>(into: T[], more: readonly T[], key: (v: T) => unknown): number[] {
  const index = new Map<unknown, number>(into.map((v, i) => [key(v), i]));
  return more.map((v) => {
    const k = key(v);
    let i = index.get(k);
    if (i === undefined) {
      i = into.length;
      into.push(v);
      index.set(k, i);
    }
    return i;
  });
}

function concat(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Rows `rows` of a tag column as a dictionary; a value every row shares (a series' tag, mostly) is found without one lookup per row. */
function tagDict(col: ArrayLike<unknown>, rows: ArrayLike<number>): TagDict {
  const n = rows.length;
  const first = col[rows[0]!];
  let k = 1;
  while (k < n && col[rows[k]!] === first) k++;
  if (n > 0 && k === n) return { values: [first], codes: new Uint8Array(n) };
  const dict = new DictBuilder();
  for (let k = 0; k < n; k++) dict.add(col[rows[k]!]);
  return dict.finish();
}
