/**
 * Timestamp columns (integer epoch milliseconds, sorted or not) as delta-of-delta.
 *
 * Layout for n > 0 values (n = 0 encodes to no bytes):
 *   mode u8 = 0 (dod): varint t0, varint (t1 − t0), then tokens until n values are produced:
 *     uvarint 2·zigzag(dod)         one value whose delta changed by `dod`
 *     uvarint 2·(run − 1) + 1       `run` values whose delta did not change
 *   mode u8 = 1 (raw): n varints, for timestamps too large for the dod arithmetic to stay exact.
 * A perfectly regular series is therefore ~10 bytes per block whatever its length, and jitter
 * of up to ±31 ms costs one byte per point. Counting zero runs, rather than spending a byte (or a
 * bit, as in Gorilla) on each, is what makes regular scrapes nearly free.
 */
import { ByteReader, ByteWriter, corrupt, unencodable } from './byte_buffer.js';
import { readUvarint, readVarint, unzigzag, writeUvarint, writeVarint, zigzag } from './varint.js';

const MODE_DOD = 0;
const MODE_RAW = 1;
const TWO31 = 2 ** 31;

/**
 * Largest |timestamp| the dod mode takes (2^49 ms ≈ 17,800 years): deltas then stay ≤ 2^50 and
 * the token 2·zigzag(dod) ≤ 2^53, all exact in doubles. Larger values use the raw mode.
 */
export const TIMESTAMP_DOD_MAX = 2 ** 49;

/** Appends the encoding of `ts` (safe integers) to `w`; throws `unencodable` on any other value. */
export function writeTimestamps(w: ByteWriter, ts: ArrayLike<number>): void {
  const n = ts.length;
  if (n === 0) return;
  let small = true;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    if (!Number.isSafeInteger(t)) throw unencodable(`timestamp ${t} at index ${i} is not a safe integer`);
    if (t > TIMESTAMP_DOD_MAX || t < -TIMESTAMP_DOD_MAX) small = false;
  }
  if (!small) {
    w.u8(MODE_RAW);
    for (let i = 0; i < n; i++) writeVarint(w, ts[i]!);
    return;
  }
  w.u8(MODE_DOD);
  writeVarint(w, ts[0]!);
  if (n === 1) return;
  let prev = ts[1]!;
  let delta = prev - ts[0]!;
  writeVarint(w, delta);
  let run = 0;
  for (let i = 2; i < n; i++) {
    const t = ts[i]!;
    const d = t - prev;
    prev = t;
    if (d === delta) {
      run++;
      continue;
    }
    if (run > 0) {
      writeUvarint(w, 2 * run - 1);
      run = 0;
    }
    writeUvarint(w, 2 * zigzag(d - delta));
    delta = d;
  }
  if (run > 0) writeUvarint(w, 2 * run - 1);
}

/** Encodes `ts` into a new exact-length array. */
export function encodeTimestamps(ts: ArrayLike<number>): Uint8Array {
  const w = new ByteWriter(16 + (ts.length >>> 2));
  writeTimestamps(w, ts);
  return w.finish();
}

/** Reads `count` timestamps written by `writeTimestamps`; throws `corrupt` on damaged input. */
export function readTimestamps(r: ByteReader, count: number): Float64Array {
  const out = new Float64Array(count);
  if (count === 0) return out;
  const mode = r.u8('timestamp mode');
  if (mode === MODE_RAW) {
    for (let i = 0; i < count; i++) out[i] = readVarint(r);
    return out;
  }
  if (mode !== MODE_DOD) throw corrupt(`unknown timestamp mode ${mode}`, r.pos - 1);
  let t = readVarint(r);
  if (t > TIMESTAMP_DOD_MAX || t < -TIMESTAMP_DOD_MAX) throw corrupt('first timestamp out of range', r.pos);
  out[0] = t;
  if (count === 1) return out;
  let delta = readVarint(r);
  t += delta;
  if (t > TIMESTAMP_DOD_MAX || t < -TIMESTAMP_DOD_MAX) throw corrupt('timestamp out of range', r.pos);
  out[1] = t;
  let i = 2;
  while (i < count) {
    const u = readUvarint(r);
    let isRun: number;
    let half: number;
    if (u < TWO31) {
      isRun = u & 1;
      half = u >>> 1;
    } else {
      isRun = u % 2;
      half = (u - isRun) / 2;
    }
    if (isRun) {
      // Bound the run before looping so a damaged count can neither overrun `out` nor spin.
      const run = half + 1;
      if (run > count - i) throw corrupt(`run of ${run} exceeds the ${count - i} values left`, r.pos);
      const stop = i + run;
      while (i < stop) {
        t += delta;
        out[i++] = t;
      }
    } else {
      delta += unzigzag(half);
      t += delta;
      out[i++] = t;
    }
    // A run moves t linearly, so checking its end covers every value in it.
    if (t > TIMESTAMP_DOD_MAX || t < -TIMESTAMP_DOD_MAX) throw corrupt('timestamp out of range', r.pos);
  }
  return out;
}

/**
 * The first value and the step of `count` (≥ 3) timestamps written by `writeTimestamps` when they
 * are evenly spaced with a positive step — the encoding is then t0, the delta and one run — read
 * without producing the values; null for any other column (readTimestamps decodes those). Leaves
 * `r` past the column only when it returns the spacing.
 */
export function regularTimestamps(r: ByteReader, count: number): { first: number; step: number } | null {
  if (count < 3) return null;
  const at = r.pos;
  const done = (v: { first: number; step: number } | null) => {
    if (v === null) r.pos = at;
    return v;
  };
  if (r.u8('timestamp mode') !== MODE_DOD) return done(null);
  const first = readVarint(r);
  const step = readVarint(r);
  const u = readUvarint(r);
  // One run token (odd) of the count − 2 values after the first two, and nothing after it.
  if (u % 2 !== 1 || (u - 1) / 2 + 1 !== count - 2 || r.pos !== r.end || !(step > 0)) return done(null);
  const last = first + (count - 1) * step;
  if (first < -TIMESTAMP_DOD_MAX || last > TIMESTAMP_DOD_MAX) return done(null);
  return done({ first, step });
}

/** Decodes a buffer holding exactly `count` timestamps. */
export function decodeTimestamps(buf: Uint8Array, count: number): Float64Array {
  const r = new ByteReader(buf);
  const out = readTimestamps(r, count);
  r.expectEnd('timestamps');
  return out;
}
