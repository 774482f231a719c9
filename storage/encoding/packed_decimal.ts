/**
 * The packed decimal float codec (storage/encoding/floats.ts, tag 4; part format 4 on): the
 * decimal codec's integer mantissas m = v · 10^e, stored in a fixed number of bits each instead of
 * a varint each, as frame-of-reference:
 *   u8 e, u8 form, then
 *   form 0 (values)  varint min(m), u8 width, each m − min(m) in `width` bits;
 *   form 1 (deltas)  varint m0, varint min(d), u8 width, each d − min(d) in `width` bits, where
 *                    d = m[i] − m[i−1] for i ≥ 1;
 * the bits MSB-first (bits.ts), padded to a byte. Random readings in a fixed range (2 decimals in
 * [0, 100): 14 bits) take values; a slow walk or a steady counter (width 0 when every step is the
 * same) takes deltas. Chosen only when smaller than the varint decimal codec, and only for widths
 * up to 32.
 */
import { BitReader, BitWriter } from './bits.js';
import { corrupt, type ByteReader, type ByteWriter } from './byte_buffer.js';
import { readVarint, varintLen, writeVarint } from './varint.js';

/** The codec's tag byte. */
export const PACKED_DECIMAL_TAG = 4;
/** Widest field stored. */
const MAX_WIDTH = 32;
/** Mantissas, here and in the varint decimal codec, and their deltas stay below 2^52 in magnitude. */
export const MANTISSA_LIMIT = 2 ** 52;

/** Bits needed for 0..span (span ≥ 0). */
function widthOf(span: number): number {
  let w = 0;
  while (w <= MAX_WIDTH && 2 ** w <= span) w++;
  return w;
}

/** How to pack a column of mantissas: form, the base of its fields, their width, the bytes in all. */
export interface PackedPlan {
  form: 0 | 1;
  /** Form 0: the smallest mantissa; form 1: the smallest delta. */
  base: number;
  width: number;
  size: number;
}

/** The smaller packing of mantissas `m` (null if neither fits), and the varint decimal codec's size. */
export function planDecimal(m: Float64Array): { packed: PackedPlan | null; varintSize: number } {
  const n = m.length;
  let min = m[0]!;
  let max = min;
  let minD = Infinity;
  let maxD = -Infinity;
  let varintSize = 2 + varintLen(min);
  for (let i = 1; i < n; i++) {
    const v = m[i]!;
    if (v < min) min = v;
    else if (v > max) max = v;
    const d = v - m[i - 1]!;
    if (d < minD) minD = d;
    if (d > maxD) maxD = d;
    varintSize += varintLen(d);
  }
  const wv = widthOf(max - min);
  const sizeV = 4 + varintLen(min) + Math.ceil((n * wv) / 8);
  const wd = n > 1 ? widthOf(maxD - minD) : MAX_WIDTH + 1;
  const sizeD = n > 1 ? 4 + varintLen(m[0]!) + varintLen(minD) + Math.ceil(((n - 1) * wd) / 8) : Infinity;
  // The reader checks min + 2^width against the mantissa limit once, not every value.
  const okV = wv <= MAX_WIDTH && min + 2 ** wv <= MANTISSA_LIMIT;
  const okD = wd <= MAX_WIDTH && minD > -MANTISSA_LIMIT && maxD < MANTISSA_LIMIT;
  let packed: PackedPlan | null = null;
  if (okD && (!okV || sizeD < sizeV)) packed = { form: 1, base: minD, width: wd, size: sizeD };
  else if (okV) packed = { form: 0, base: min, width: wv, size: sizeV };
  return { packed, varintSize };
}

/** Appends mantissas `m` of exponent `e` packed as `plan` says. */
export function writePackedDecimal(w: ByteWriter, m: Float64Array, e: number, plan: PackedPlan): void {
  w.u8(PACKED_DECIMAL_TAG);
  w.u8(e);
  w.u8(plan.form);
  const { base, width } = plan;
  const bw = new BitWriter(w);
  if (plan.form === 0) {
    writeVarint(w, base);
    w.u8(width);
    if (width > 0) for (let i = 0; i < m.length; i++) bw.bits(m[i]! - base, width);
  } else {
    writeVarint(w, m[0]!);
    writeVarint(w, base);
    w.u8(width);
    if (width > 0) for (let i = 1; i < m.length; i++) bw.bits(m[i]! - m[i - 1]! - base, width);
  }
  bw.flush();
}

/** A packed column's header: 10^e, form, base (form 0: min mantissa; form 1: first mantissa), min delta, width. */
interface PackedHeader {
  p: number;
  form: number;
  base: number;
  minD: number;
  width: number;
}

function readHeader(r: ByteReader, pow10: (e: number, at: number) => number): PackedHeader {
  const p = pow10(r.u8('decimal exponent'), r.pos - 1);
  const formAt = r.pos;
  const form = r.u8('packed form');
  if (form > 1) throw corrupt(`unknown packed decimal form ${form}`, formAt);
  const base = readVarint(r);
  const minD = form === 1 ? readVarint(r) : 0;
  const widthAt = r.pos;
  const width = r.u8('packed width');
  if (width > MAX_WIDTH) throw corrupt(`packed width ${width} exceeds ${MAX_WIDTH}`, widthAt);
  if (base >= MANTISSA_LIMIT || base <= -MANTISSA_LIMIT || minD >= MANTISSA_LIMIT || minD <= -MANTISSA_LIMIT)
    throw corrupt('decimal mantissa out of range', r.pos);
  return { p, form, base, minD, width };
}

/**
 * Reads `count` values after the tag into `out`; `pow10` gives 10^e for the exponent read (and
 * refuses one the decimal codecs never write). `partial`: the column holds more values; stop after
 * `count`. `from`: only `[from, count)` are wanted; the values form skips to them (fixed-width
 * fields), the deltas form reads from the start.
 */
export function readPackedDecimal(
  r: ByteReader,
  count: number,
  out: Float64Array,
  pow10: (e: number, at: number) => number,
  partial: boolean,
  from = 0,
): void {
  const { p, form, base, minD, width } = readHeader(r, pow10);
  const fields = form === 0 ? count : count - 1;
  const x = scratchFields(fields);
  if (form === 0) {
    const skip = Math.min(from, count);
    unpack(r, x, fields, width, partial, skip);
    if (base + 2 ** width > MANTISSA_LIMIT) throw corrupt('decimal mantissa out of range', r.pos);
    for (let i = skip; i < count; i++) out[i] = (base + x[i]!) / p;
    return;
  }
  unpack(r, x, fields, width, partial);
  let m = base;
  out[0] = m / p;
  for (let i = 1; i < count; i++) {
    m += minD + x[i - 1]!;
    if (m >= MANTISSA_LIMIT || m <= -MANTISSA_LIMIT) throw corrupt('decimal mantissa out of range', r.pos);
    out[i] = m / p;
  }
}

/**
 * Like readPackedDecimal, but instead of the values, per run of rows — from `from` to `ends[0]`,
 * then to each next of the first `runs` ends (the last is `count`) — their count, sum, min and max
 * at `out[4k ... 4k + 3]`: the values read are added in row order, as summing readPackedDecimal's
 * would. (A decimal codec has no NaN; and dividing by 10^e keeps the order of mantissas, so min and
 * max are taken on them.) The fields are taken from the stream as they are added, in one pass (an
 * aggregation over a packed column spends most of its time here). Fields wider than 24 bits are
 * not: false then, `r` where it was, and the caller decodes the values instead.
 */
export function packedDecimalRunStats(
  r: ByteReader,
  count: number,
  pow10: (e: number, at: number) => number,
  partial: boolean,
  from: number,
  ends: ArrayLike<number>,
  out: Float64Array,
  runs = ends.length,
): boolean {
  const at = r.pos;
  const h = readHeader(r, pow10);
  if (h.width > 24) {
    r.pos = at;
    return false;
  }
  if (h.form === 0) valueRunStats(r, h, count, partial, from, ends, runs, out);
  else deltaRunStats(r, h, count, partial, from, ends, runs, out);
  return true;
}

/**
 * The bit stream of `fields` fields of `width` ≤ 24 bits at `r.pos`: checked to hold them all once
 * here, so the one-pass readers below take bytes without a test each.
 */
function checkFields(r: ByteReader, fields: number, width: number): void {
  if (Math.ceil((fields * width) / 8) > r.end - r.pos) throw corrupt('truncated bit stream', r.end);
}

/** packedDecimalRunStats of form 0 (each mantissa base + its field), fields of up to 24 bits. */
function valueRunStats(
  r: ByteReader,
  { p, base, width }: PackedHeader,
  count: number,
  partial: boolean,
  from: number,
  ends: ArrayLike<number>,
  runs: number,
  out: Float64Array,
): void {
  checkFields(r, count, width);
  if (base + (1 << width) > MANTISSA_LIMIT) throw corrupt('decimal mantissa out of range', r.pos); // width ≤ 24
  const buf = r.buf;
  // `avail` unread bits, right-aligned in `acc`; fewer than 8 remain after each field.
  let acc = 0;
  let avail = 0;
  const skip = Math.min(from, count) * width;
  let pos = r.pos + (skip >>> 3);
  if ((skip & 7) > 0) {
    avail = 8 - (skip & 7);
    acc = buf[pos++]! & ((1 << avail) - 1);
  }
  let i = from;
  for (let k = 0; k < runs; k++) {
    const to = ends[k]!;
    let sum = 0;
    // Small integers, so V8 compares them as such (fields are below 2^24; an empty run's are unused).
    let lo = 0x7fffffff;
    let hi = -1;
    for (; i < to; i++) {
      while (avail < width) {
        acc = (acc << 8) | buf[pos++]!; // at most 7 + 24 bits: no sign or overflow
        avail += 8;
      }
      avail -= width;
      const d = acc >>> avail;
      acc &= (1 << avail) - 1;
      sum += (base + d) / p;
      lo = d < lo ? d : lo;
      hi = d > hi ? d : hi;
    }
    putRun(out, k, to - (k === 0 ? from : ends[k - 1]!), sum, base + lo, base + hi, p);
  }
  endFields(r, buf, pos, acc, avail, count - i, width, partial);
}

/** packedDecimalRunStats of form 1 (each mantissa the last plus min delta plus its field), fields of up to 24 bits. */
function deltaRunStats(
  r: ByteReader,
  { p, base, minD, width }: PackedHeader,
  count: number,
  partial: boolean,
  from: number,
  ends: ArrayLike<number>,
  runs: number,
  out: Float64Array,
): void {
  checkFields(r, count - 1, width);
  const buf = r.buf;
  let pos = r.pos;
  let acc = 0;
  let avail = 0;
  // Row 0's mantissa is the base; each next one adds a field. Rows before `from` are summed up, not used.
  let m = base;
  let i = 0;
  for (let k = -1; k < runs; k++) {
    const to = k < 0 ? from : ends[k]!;
    let sum = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (; i < to; i++) {
      if (i > 0) {
        while (avail < width) {
          acc = (acc << 8) | buf[pos++]!;
          avail += 8;
        }
        avail -= width;
        m += minD + (acc >>> avail);
        acc &= (1 << avail) - 1;
        if (m >= MANTISSA_LIMIT || m <= -MANTISSA_LIMIT) throw corrupt('decimal mantissa out of range', pos);
      }
      sum += m / p;
      if (m < lo) lo = m;
      if (m > hi) hi = m;
    }
    if (k >= 0) putRun(out, k, to - (k === 0 ? from : ends[k - 1]!), sum, lo, hi, p);
  }
  endFields(r, buf, pos, acc, avail, count - Math.max(i, 1), width, partial);
}

/**
 * Leaves `r` past the fields read (and `left` more not read, when the runs stopped short of
 * `count`), checking the padding unless `partial`.
 */
function endFields(
  r: ByteReader,
  buf: Uint8Array,
  pos: number,
  acc: number,
  avail: number,
  left: number,
  width: number,
  partial: boolean,
): void {
  if (left > 0) {
    const bits = left * width - avail;
    pos += Math.ceil(bits / 8);
    avail = (8 - (bits & 7)) & 7;
    acc = avail > 0 ? buf[pos - 1]! & ((1 << avail) - 1) : 0;
  }
  if (!partial && acc !== 0) throw corrupt('non-zero padding bits', pos - 1);
  r.pos = pos;
}

/** Run k's count, sum, min and max at `out[4k ...]`; `lo` and `hi` are mantissas (divided here). */
function putRun(out: Float64Array, k: number, n: number, sum: number, lo: number, hi: number, p: number): void {
  out[4 * k] = n;
  out[4 * k + 1] = sum;
  out[4 * k + 2] = n > 0 ? lo / p : Infinity;
  out[4 * k + 3] = n > 0 ? hi / p : -Infinity;
}

let scratch = new Float64Array(1024);
function scratchFields(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  return scratch;
}

/**
 * Reads `n` fields of `width` bits into `x` and leaves `r` past the stream (checking its padding
 * unless `partial`). Up to 24 bits a field, a local accumulator a byte at a time; wider, BitReader.
 * `skip`: fields `[0, skip)` are jumped over, unread (up to 24 bits a field).
 */
function unpack(r: ByteReader, x: Float64Array, n: number, width: number, partial: boolean, skip = 0): void {
  if (width === 0) {
    x.fill(0, 0, n);
    return;
  }
  if (width > 24) {
    const br = new BitReader(r);
    for (let i = 0; i < n; i++) x[i] = br.bits(width);
    if (!partial) br.finish();
    return;
  }
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  // `avail` unread bits, right-aligned in `acc`; fewer than 8 remain after each field.
  let acc = 0;
  let avail = 0;
  const bit = skip * width;
  if (bit > 0) {
    pos += Math.floor(bit / 8);
    const used = bit % 8;
    if (used > 0) {
      if (pos >= end) throw corrupt('truncated bit stream', pos);
      avail = 8 - used;
      acc = buf[pos++]! & ((1 << avail) - 1);
    }
  }
  for (let i = skip; i < n; i++) {
    while (avail < width) {
      if (pos >= end) throw corrupt('truncated bit stream', pos);
      acc = (acc << 8) | buf[pos++]!; // at most 7 + 24 bits: no sign or overflow
      avail += 8;
    }
    avail -= width;
    x[i] = acc >>> avail;
    acc &= (1 << avail) - 1;
  }
  if (!partial && acc !== 0) throw corrupt('non-zero padding bits', pos - 1);
  r.pos = pos;
}
