/**
 * Gorilla XOR compression of float64 columns (Pelkonen et al., "Gorilla: A Fast, Scalable,
 * In-Memory Time Series Database", VLDB 2015, §4.1.2). Each value is XORed with the previous one:
 *   '0'                          same bits as the previous value
 *   '10' + bits                  the XOR's meaningful bits fit the previous window
 *   '11' + 5-bit leading zeros + 6-bit length (0 = 64) + bits   a new window
 * Values are handled as two 32-bit halves of a Uint32Array alias (`HI`/`LO`), because JS bit
 * operators are 32-bit and BigInt would allocate per value.
 */
import { corrupt, HI, LO, type ByteReader, type ByteWriter } from './byte_buffer.js';
import { BitReader, BitWriter } from './bits.js';

/** The float codec tag of a Gorilla column (see floats.ts). */
export const GORILLA_TAG = 2;

/** Trailing zero bits of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Writes `len` bits of the 64-bit value (xh:xl) shifted right by `tz`. */
function writeShifted(bw: BitWriter, xh: number, xl: number, tz: number, len: number): void {
  if (tz >= 32) {
    bw.bits(xh >>> (tz - 32), len);
    return;
  }
  const lo = tz === 0 ? xl : (xl >>> tz) | (xh << (32 - tz));
  if (len > 32) {
    bw.bits(xh >>> tz, len - 32);
    bw.bits(lo, 32);
  } else {
    bw.bits(lo, len);
  }
}

/**
 * Appends the Gorilla codec (tag byte, then the bit stream) for `u`, the 32-bit alias of `n`
 * floats; returns false as soon as the output is known to exceed `limit` bytes.
 */
export function writeGorilla(w: ByteWriter, u: Uint32Array, n: number, limit: number): boolean {
  const start = w.pos;
  w.u8(GORILLA_TAG);
  const bw = new BitWriter(w);
  let prevHi = u[HI]!;
  let prevLo = u[LO]!;
  bw.bits(prevHi, 32);
  bw.bits(prevLo, 32);
  // 65 = no window yet, so the first change always opens one.
  let winLz = 65;
  let winTz = 65;
  for (let i = 1; i < n; i++) {
    const hi = u[2 * i + HI]!;
    const lo = u[2 * i + LO]!;
    const xh = hi ^ prevHi;
    const xl = lo ^ prevLo;
    prevHi = hi;
    prevLo = lo;
    if ((xh | xl) === 0) {
      bw.bit(0);
      continue;
    }
    let lz = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const tz = xl !== 0 ? ctz(xl) : 32 + ctz(xh);
    if (lz > 31) lz = 31;
    const len = 64 - lz - tz;
    const winLen = 64 - winLz - winTz;
    // Reuse the window when the value fits it and reusing is not dearer than the 11-bit header
    // of a fresh, tighter window (the paper always reuses; a wide window then sticks forever).
    if (lz >= winLz && tz >= winTz && winLen <= len + 11) {
      bw.bits(2, 2);
      writeShifted(bw, xh, xl, winTz, winLen);
    } else {
      bw.bits(3, 2);
      bw.bits(lz, 5);
      bw.bits(len & 63, 6);
      writeShifted(bw, xh, xl, tz, len);
      winLz = lz;
      winTz = tz;
    }
    if ((i & 63) === 0 && w.pos - start > limit) return false;
  }
  bw.flush();
  return w.pos - start <= limit;
}

/** Reads the Gorilla body (after the tag) into the 32-bit alias of the output. */
export function readGorilla(r: ByteReader, count: number, out: Uint32Array, partial = false): void {
  const br = new BitReader(r);
  let hi = br.bits(32);
  let lo = br.bits(32);
  out[HI] = hi;
  out[LO] = lo;
  let winTz = -1;
  let winLen = 0;
  for (let i = 1; i < count; i++) {
    if (br.bit() === 1) {
      let tz = winTz;
      let len = winLen;
      if (br.bit() === 1) {
        const lz = br.bits(5);
        len = br.bits(6) || 64;
        tz = 64 - lz - len;
        if (tz < 0) throw corrupt(`gorilla window of ${lz} + ${len} bits exceeds 64`, r.pos);
        winTz = tz;
        winLen = len;
      } else if (tz < 0) {
        throw corrupt('gorilla reuses a window before defining one', r.pos);
      }
      let ph = 0;
      let pl: number;
      if (len > 32) {
        ph = br.bits(len - 32);
        pl = br.bits(32);
      } else {
        pl = br.bits(len);
      }
      if (tz === 0) {
        hi ^= ph;
        lo ^= pl;
      } else if (tz >= 32) {
        hi ^= pl << (tz - 32);
      } else {
        hi ^= (ph << tz) | (pl >>> (32 - tz));
        lo ^= pl << tz;
      }
    }
    out[2 * i + HI] = hi;
    out[2 * i + LO] = lo;
  }
  // A partial read (the first `count` of more values) stops mid-stream: no padding to check.
  if (!partial) br.finish();
}
