/**
 * LEB128 varints over JS numbers, exact for every integer of magnitude ≤ 2^53 without BigInt.
 * Bitwise operators truncate to 32 bits, so values past 2^31 take an arithmetic path (division by
 * 128 and `%` are exact on integral doubles); small values, the common case, stay on bit ops.
 * Signed values use zigzag (0, -1, 1, -2, … → 0, 1, 2, 3, …). Zigzag doubles the magnitude, and
 * 2·|v| is not exactly representable past 2^53, so `writeVarint` emits the first 7 zigzag bits by
 * hand for |v| ≥ 2^52 and carries the rest as an unsigned varint.
 */
import { corrupt, type ByteReader, type ByteWriter } from './byte_buffer.js';

/** Largest magnitude the varint codecs carry exactly (2^53). */
export const VARINT_MAX = 2 ** 53;
/** Most bytes one varint takes (8 × 7 bits ≥ 54 bits). */
export const VARINT_MAX_BYTES = 8;

const TWO31 = 2 ** 31;
const TWO52 = 2 ** 52;
/** 2^(7k) for the arithmetic path of the decoder. */
const POW128 = [1, 2 ** 7, 2 ** 14, 2 ** 21, 2 ** 28, 2 ** 35, 2 ** 42, 2 ** 49];

/** Zigzag of an integer with |n| < 2^52 (exact in that range). */
export function zigzag(n: number): number {
  return n < 0 ? -2 * n - 1 : 2 * n;
}

/** Inverse of `zigzag` for 0 ≤ z ≤ 2^53. */
export function unzigzag(z: number): number {
  if (z < TWO31) return z & 1 ? -((z >>> 1) + 1) : z >>> 1;
  return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
}

/** Bytes `writeUvarint` uses for `v` (0 ≤ v ≤ 2^53). */
export function uvarintLen(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v < 2 ** 35) return 5;
  if (v < 2 ** 42) return 6;
  if (v < 2 ** 49) return 7;
  return 8;
}

/** Bytes `writeVarint` uses for `v` (|v| ≤ 2^53). */
export function varintLen(v: number): number {
  // Rounding of 2·|v| past 2^53 cannot cross a length boundary (the next is 2^56).
  return uvarintLen(v < 0 ? -2 * v - 1 : 2 * v);
}

/** Appends `v` (an integer, 0 ≤ v ≤ 2^53; the caller guarantees it) as an unsigned LEB128 varint. */
export function writeUvarint(w: ByteWriter, v: number): void {
  if (w.pos + VARINT_MAX_BYTES > w.buf.length) w.ensure(VARINT_MAX_BYTES);
  const buf = w.buf;
  let p = w.pos;
  if (v >= TWO31) {
    do {
      buf[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    } while (v >= TWO31);
  }
  while (v >= 0x80) {
    buf[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[p++] = v;
  w.pos = p;
}

/** Appends a signed integer (|v| ≤ 2^53; the caller guarantees it) as a zigzag varint. */
export function writeVarint(w: ByteWriter, v: number): void {
  if (v >= 0) {
    if (v < TWO52) return writeUvarint(w, 2 * v);
  } else if (v > -TWO52) {
    return writeUvarint(w, -2 * v - 1);
  }
  // |v| ≥ 2^52: split zigzag(v) = 128·q + low7 without forming it.
  const neg = v < 0;
  const m = neg ? -v : v;
  const r = m % 64;
  let q = (m - r) / 64;
  let low7: number;
  if (neg && r === 0) {
    low7 = 127;
    q -= 1;
  } else {
    low7 = 2 * r - (neg ? 1 : 0);
  }
  w.u8(low7 | 0x80);
  writeUvarint(w, q);
}

/** Reads an unsigned varint; throws `corrupt` on truncation, more than 8 bytes, or a value > 2^53. */
export function readUvarint(r: ByteReader): number {
  const buf = r.buf;
  const end = r.end;
  let p = r.pos;
  if (p >= end) throw corrupt('truncated varint', p);
  let b = buf[p++]!;
  if (b < 0x80) {
    r.pos = p;
    return b;
  }
  let v = b & 0x7f;
  for (let k = 1; ; k++) {
    if (p >= end) throw corrupt('truncated varint', p);
    b = buf[p++]!;
    // Four bytes (28 bits) fit a positive int32; past that, accumulate arithmetically.
    if (k < 4) v |= (b & 0x7f) << (7 * k);
    else v += (b & 0x7f) * POW128[k]!;
    if (b < 0x80) break;
    if (k === VARINT_MAX_BYTES - 1) throw corrupt('varint longer than 8 bytes', p);
  }
  if (v > VARINT_MAX) throw corrupt(`varint ${v} exceeds 2^53`, p);
  r.pos = p;
  return v;
}

/** Reads a zigzag varint written by `writeVarint`; throws `corrupt` if |value| > 2^53. */
export function readVarint(r: ByteReader): number {
  const p = r.pos;
  if (p < r.end) {
    const b = r.buf[p]!;
    if (b < 0x80) {
      r.pos = p + 1;
      return b & 1 ? -((b >>> 1) + 1) : b >>> 1;
    }
    // zigzag(v) = 128·q + low7; reading q apart keeps values whose zigzag passes 2^53 exact.
    r.pos = p + 1;
    const low7 = b & 0x7f;
    const q = readUvarint(r);
    const neg = low7 & 1;
    const m = q * 64 + ((low7 + neg) >>> 1);
    if (m > VARINT_MAX) throw corrupt(`signed varint exceeds 2^53`, r.pos);
    return neg ? -m : m;
  }
  throw corrupt('truncated varint', p);
}
