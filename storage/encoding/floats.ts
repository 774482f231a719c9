/**
 * Float columns. One tag byte names the codec, chosen per call as the smallest that round-trips
 * every value bit for bit (-0, NaN payloads, ±Infinity and subnormals included):
 *   0 constant  every value has the same 64 bits: the 8 bytes once.
 *   1 decimal   every value is m / 10^e for one e in 0..12 and integers |m| < 2^52 (prices,
 *               sensor readings typed by people or rounded by devices): u8 e, varint m0, then
 *               varint deltas of m, as VictoriaMetrics does. Chosen only after checking that
 *               m / 10^e reproduces each value exactly, so 0.1 + 0.2 never takes this path.
 *   2 gorilla   XOR with the previous value (Facebook's Gorilla): bit '0' for a repeat; '10' and
 *               the meaningful bits when they fit the previous leading/trailing-zero window;
 *               '11', 5 bits of leading zeros, 6 bits of length (0 = 64) and the bits otherwise.
 *   3 raw       8 bytes per value, little-endian: the bound for data nothing compresses.
 *   4 packed    the decimal codec's mantissas in a fixed number of bits each, as values or as
 *               deltas from a base (packed_decimal.ts; part format 4 on).
 * Decimal values take the smaller of decimal and packed.
 * Bits are handled as two 32-bit halves through a Uint32Array alias: no BigInt, no allocation
 * per value.
 */
import { ByteReader, ByteWriter, corrupt, HI, LITTLE_ENDIAN, LO, unencodable } from './byte_buffer.js';
import { GORILLA_TAG, readGorilla, writeGorilla } from './gorilla.js';
import {
  MANTISSA_LIMIT,
  PACKED_DECIMAL_TAG,
  packedDecimalRunStats,
  planDecimal,
  readPackedDecimal,
  writePackedDecimal,
} from './packed_decimal.js';
import { readVarint, varintLen, writeVarint } from './varint.js';

/** The float codec tags (first byte of a non-empty float column). */
export const FloatCodec = {
  constant: 0,
  decimal: 1,
  gorilla: GORILLA_TAG,
  raw: 3,
  packed: PACKED_DECIMAL_TAG,
} as const;
/** One of the float codec tags. */
export type FloatCodec = (typeof FloatCodec)[keyof typeof FloatCodec];

/** Largest decimal exponent tried: 10^12 is exact, and more digits rarely pay off. */
export const DECIMAL_EXPONENT_MAX = 12;
const POW10: number[] = Array.from({ length: DECIMAL_EXPONENT_MAX + 1 }, (_, e) => 10 ** e);
/**
 * Past this many values a constant column (9 bytes) beats any other codec but packed decimal:
 * decimal needs at least 2 bytes of header and one per value, Gorilla 9 bytes and one bit per value.
 */
const CONSTANT_ALWAYS_WINS = 7;
/** Scratch writers keep their capacity between calls up to this size. */
const SCRATCH_KEEP_BYTES = 1 << 20;

let scratchDecimal = new ByteWriter(4096);
let scratchGorilla = new ByteWriter(4096);

/** The smallest decimal exponent shared by all values, or -1 when some value is not decimal. */
function decimalExponent(values: Float64Array): number {
  let e = 0;
  let p = 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const m = Math.round(v * p);
    // The common case: the value fits the exponent found so far. -0 is excluded because an
    // integer mantissa cannot carry its sign; Infinity fails the magnitude bound, NaN equality.
    if (m / p === v && m < MANTISSA_LIMIT && m > -MANTISSA_LIMIT && (v !== 0 || 1 / v > 0)) continue;
    if (v !== v || v === Infinity || v === -Infinity || (v === 0 && 1 / v < 0)) return -1;
    let found = false;
    while (++e <= DECIMAL_EXPONENT_MAX) {
      p = POW10[e]!;
      const m2 = Math.round(v * p);
      if (m2 / p === v && m2 < MANTISSA_LIMIT && m2 > -MANTISSA_LIMIT) {
        found = true;
        break;
      }
    }
    // Raising e keeps earlier values exact (same rational, both operands exact), as long as
    // their mantissas stay in range; writeDecimal verifies that.
    if (!found) return -1;
  }
  return e;
}

/**
 * The mantissas m = v · 10^e of `values` into `out` (its first values.length); false as soon as
 * one value is not exactly m / 10^e with |m| < 2^52 (or is -0).
 */
function mantissas(values: Float64Array, e: number, out: Float64Array): boolean {
  const p = POW10[e]!;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const m = Math.round(v * p);
    if (m / p !== v || m >= MANTISSA_LIMIT || m <= -MANTISSA_LIMIT || (v === 0 && 1 / v < 0)) return false;
    out[i] = m;
  }
  return true;
}

/** Writes the varint decimal codec of mantissas `m`. */
function writeDecimal(w: ByteWriter, m: Float64Array, e: number): void {
  w.u8(FloatCodec.decimal);
  w.u8(e);
  let prev = 0;
  for (let i = 0; i < m.length; i++) {
    writeVarint(w, m[i]! - prev);
    prev = m[i]!;
  }
}

let scratchMantissas = new Float64Array(1024);

/** The exact mantissas of `values` at their smallest exponent, or null when they are not decimals. */
function decimalsOf(values: Float64Array): { m: Float64Array; e: number } | null {
  const e = decimalExponent(values);
  if (e < 0) return null;
  if (scratchMantissas.length < values.length) scratchMantissas = new Float64Array(values.length);
  const m = scratchMantissas.subarray(0, values.length);
  return mantissas(values, e, m) ? { m, e } : null;
}

/**
 * Writes the smaller decimal codec (varint or packed) of `values` into `w` when it takes fewer
 * than `limit` bytes; false (nothing written) otherwise or when the values are not decimals.
 */
function writeBestDecimal(w: ByteWriter, values: Float64Array, limit: number): boolean {
  const d = decimalsOf(values);
  if (!d) return false;
  const { packed, varintSize } = planDecimal(d.m);
  if (packed && packed.size < varintSize) {
    if (packed.size >= limit) return false;
    writePackedDecimal(w, d.m, d.e, packed);
  } else {
    if (varintSize >= limit) return false;
    writeDecimal(w, d.m, d.e);
  }
  return true;
}

/** Appends the encoding of `values` to `w`, with the smallest codec that is exact. */
export function writeFloats(w: ByteWriter, values: Float64Array): void {
  const n = values.length;
  if (n === 0) return;
  const u = new Uint32Array(values.buffer, values.byteOffset, 2 * n);
  const constant = isConstant(u, n);
  if (constant && n > CONSTANT_ALWAYS_WINS) {
    // A decimal constant packs in 5 or 6 bytes (width 0).
    const d = decimalsOf(values.subarray(0, 1));
    const size = d ? 4 + varintLen(d.m[0]!) : Infinity;
    if (d && size < 9) writePackedDecimal(w, d.m, d.e, { form: 0, base: d.m[0]!, width: 0, size });
    else writeConstant(w, u);
    return;
  }
  let best: ByteWriter | null = null;
  let bestSize = 1 + 8 * n;
  if (constant) {
    // A short column of one short decimal (a few flags) can be smaller as decimal.
    scratchGorilla.reset();
    writeConstant(scratchGorilla, u);
    best = scratchGorilla;
    bestSize = 9;
  }
  scratchDecimal.reset();
  if (writeBestDecimal(scratchDecimal, values, bestSize)) {
    best = scratchDecimal;
    bestSize = scratchDecimal.pos;
  }
  if (!constant) {
    scratchGorilla.reset();
    if (writeGorilla(scratchGorilla, u, n, bestSize - 1)) best = scratchGorilla;
  }
  if (best) w.bytes(best.buf.subarray(0, best.pos));
  else writeRaw(w, values, u);
  if (scratchDecimal.buf.length > SCRATCH_KEEP_BYTES) scratchDecimal = new ByteWriter(4096);
  if (scratchGorilla.buf.length > SCRATCH_KEEP_BYTES) scratchGorilla = new ByteWriter(4096);
  if (scratchMantissas.length > SCRATCH_KEEP_BYTES / 8) scratchMantissas = new Float64Array(1024);
}

/** True when all `n` values of the 32-bit alias `u` have the same 64 bits. */
function isConstant(u: Uint32Array, n: number): boolean {
  const hi0 = u[HI]!;
  const lo0 = u[LO]!;
  for (let i = 1; i < n; i++) if (u[2 * i + HI] !== hi0 || u[2 * i + LO] !== lo0) return false;
  return true;
}

function writeConstant(w: ByteWriter, u: Uint32Array): void {
  w.u8(FloatCodec.constant);
  w.u32le(u[LO]!);
  w.u32le(u[HI]!);
}

function writeRaw(w: ByteWriter, values: Float64Array, u: Uint32Array): void {
  w.u8(FloatCodec.raw);
  if (LITTLE_ENDIAN) {
    w.bytes(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return;
  }
  for (let i = 0; i < values.length; i++) {
    w.u32le(u[2 * i + LO]!);
    w.u32le(u[2 * i + HI]!);
  }
}

/**
 * Encodes non-empty `values` with one given codec, for tests and benchmarks of that codec; throws
 * `unencodable` when the codec cannot represent them exactly (decimal, constant).
 */
export function encodeFloatsAs(values: Float64Array, codec: FloatCodec): Uint8Array {
  const n = values.length;
  if (n === 0) throw unencodable('encodeFloatsAs needs at least one value');
  const w = new ByteWriter(16 + n * 9);
  const u = new Uint32Array(values.buffer, values.byteOffset, 2 * n);
  if (codec === FloatCodec.gorilla) writeGorilla(w, u, n, Infinity);
  else if (codec === FloatCodec.raw) writeRaw(w, values, u);
  else if (codec === FloatCodec.decimal || codec === FloatCodec.packed) {
    const d = decimalsOf(values);
    if (!d) throw unencodable('values are not exact decimals');
    if (codec === FloatCodec.decimal) writeDecimal(w, d.m, d.e);
    else {
      const { packed } = planDecimal(d.m);
      if (!packed) throw unencodable('mantissas span more than 32 bits');
      writePackedDecimal(w, d.m, d.e, packed);
    }
  } else {
    if (!isConstant(u, n)) throw unencodable('values are not constant');
    writeConstant(w, u);
  }
  return w.finish();
}

/** Encodes `values` into a new exact-length array (tag byte first; empty input → no bytes). */
export function encodeFloats(values: Float64Array): Uint8Array {
  const w = new ByteWriter(16 + values.length * 2);
  writeFloats(w, values);
  return w.finish();
}

/** 10^e for a decimal exponent read at `at`; a larger one than written is corrupt. */
function exponent(e: number, at: number): number {
  if (e > DECIMAL_EXPONENT_MAX) throw corrupt(`decimal exponent ${e} exceeds ${DECIMAL_EXPONENT_MAX}`, at);
  return POW10[e]!;
}

/**
 * Reads `count` floats written by `writeFloats`; throws `corrupt` on damaged input. `partial`: the
 * column holds more values (stop after `count`). `from`: the caller reads only `[from, count)`, and
 * a codec that can skip ahead (constant, packed values) leaves the values before it unset. `out`:
 * where to put them (at least `count` long, at byte offset 0), a new array by default.
 */
export function readFloats(
  r: ByteReader,
  count: number,
  partial = false,
  from = 0,
  out = new Float64Array(count),
): Float64Array {
  if (count === 0) return out;
  const u = new Uint32Array(out.buffer);
  const tagAt = r.pos;
  const tag = r.u8('float codec');
  switch (tag) {
    case FloatCodec.constant: {
      const lo = r.u32le('float constant');
      const hi = r.u32le('float constant');
      for (let i = from; i < count; i++) {
        u[2 * i + LO] = lo;
        u[2 * i + HI] = hi;
      }
      return out;
    }
    case FloatCodec.decimal: {
      const p = exponent(r.u8('decimal exponent'), r.pos - 1);
      let m = 0;
      for (let i = 0; i < count; i++) {
        m += readVarint(r);
        if (m >= MANTISSA_LIMIT || m <= -MANTISSA_LIMIT) throw corrupt('decimal mantissa out of range', r.pos);
        out[i] = m / p;
      }
      return out;
    }
    case FloatCodec.packed:
      readPackedDecimal(r, count, out, exponent, partial, from);
      return out;
    case FloatCodec.gorilla:
      readGorilla(r, count, u, partial);
      return out;
    case FloatCodec.raw: {
      const bytes = r.bytes(8 * count, 'raw floats');
      if (LITTLE_ENDIAN) {
        new Uint8Array(out.buffer).set(bytes);
      } else {
        const sub = new ByteReader(bytes);
        for (let i = 0; i < count; i++) {
          u[2 * i + LO] = sub.u32le();
          u[2 * i + HI] = sub.u32le();
        }
      }
      return out;
    }
    default:
      throw corrupt(`unknown float codec ${tag}`, tagAt);
  }
}

/**
 * For a column written with the packed decimal codec (`floatCodecOf` says so): instead of its
 * values, per run of rows (the first `runs` of `ends`) their count, sum, min and max
 * (packed_decimal.ts's packedDecimalRunStats); false, `r` where it was, when its fields are too
 * wide to take that way (the caller reads the values).
 */
export function readPackedRunStats(
  r: ByteReader,
  count: number,
  partial: boolean,
  from: number,
  ends: ArrayLike<number>,
  out: Float64Array,
  runs = ends.length,
): boolean {
  const tagAt = r.pos;
  const tag = r.u8('float codec');
  if (tag !== FloatCodec.packed) throw corrupt(`float codec ${tag} is not the packed decimal codec`, tagAt);
  if (packedDecimalRunStats(r, count, exponent, partial, from, ends, out, runs)) return true;
  r.pos = tagAt;
  return false;
}

/** Decodes a buffer holding exactly `count` floats. */
export function decodeFloats(buf: Uint8Array, count: number): Float64Array {
  const r = new ByteReader(buf);
  const out = readFloats(r, count);
  r.expectEnd('floats');
  return out;
}

/** The codec a non-empty encoded float column uses (for tests and statistics). */
export function floatCodecOf(buf: Uint8Array): FloatCodec | undefined {
  return buf.length === 0 ? undefined : (buf[0] as FloatCodec);
}
