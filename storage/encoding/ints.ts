/**
 * Integer columns (int fields, int tags, list lengths, row versions): safe integers, |v| ≤ 2^53 − 1.
 * One mode byte, then:
 *   0 constant  varint v: every value is v.
 *   1 delta     varint v0, then varint (v[i] − v[i−1]): counters and slowly moving gauges.
 *   2 plain     varint of each value: for data whose deltas are larger than the values (ids,
 *               random codes), or whose deltas would leave the safe-integer range.
 *   3 runs      per run of equal values: varint (its value − the previous run's; the first's
 *               from 0), then uvarint (its length − 1): row versions (storage/point_version.ts),
 *               where the rows of one WAL record share one, and slowly changing states.
 *               (Part format 4 on; storage/versions.json.)
 * The encoder sizes every mode in one pass and writes the smallest; -0 is stored as 0.
 */
import { ByteReader, ByteWriter, corrupt, unencodable } from './byte_buffer.js';
import { readUvarint, readVarint, uvarintLen, varintLen, writeUvarint, writeVarint } from './varint.js';

/** The integer column modes (first byte of a non-empty int column). */
export const IntCodec = { constant: 0, delta: 1, plain: 2, runs: 3 } as const;
/** One of the integer column modes. */
export type IntCodec = (typeof IntCodec)[keyof typeof IntCodec];

const SAFE = Number.MAX_SAFE_INTEGER;

/** Appends the encoding of `values` (safe integers) to `w`; throws `unencodable` otherwise. */
export function writeInts(w: ByteWriter, values: ArrayLike<number>): void {
  const n = values.length;
  if (n === 0) return;
  const v0 = values[0]!;
  if (!Number.isSafeInteger(v0)) throw unencodable(`int value ${v0} at index 0 is not a safe integer`);
  let plainSize = varintLen(v0);
  let deltaSize = plainSize;
  // Runs: the size of the runs closed so far; the open one starts at `runStart`.
  let runsSize = varintLen(v0);
  let runStart = 0;
  let deltaOk = true;
  let prev = v0;
  for (let i = 1; i < n; i++) {
    const v = values[i]!;
    if (!Number.isSafeInteger(v)) throw unencodable(`int value ${v} at index ${i} is not a safe integer`);
    const d = v - prev;
    prev = v;
    plainSize += varintLen(v);
    // A delta past the safe range may have been rounded; such a column is written plain.
    if (d > SAFE || d < -SAFE) deltaOk = false;
    else deltaSize += varintLen(d);
    if (d !== 0) {
      runsSize += uvarintLen(i - 1 - runStart) + varintLen(d);
      runStart = i;
    }
  }
  if (runStart === 0) {
    w.u8(IntCodec.constant);
    writeVarint(w, v0);
    return;
  }
  runsSize += uvarintLen(n - 1 - runStart);
  // Runs store deltas too: only where those are safe.
  if (deltaOk && runsSize < Math.min(deltaSize, plainSize)) {
    w.u8(IntCodec.runs);
    let last = 0;
    for (let i = 0; i < n;) {
      const v = values[i]!;
      let j = i + 1;
      while (j < n && values[j] === v) j++;
      writeVarint(w, v - last);
      writeUvarint(w, j - i - 1);
      last = v;
      i = j;
    }
    return;
  }
  if (deltaOk && deltaSize <= plainSize) {
    w.u8(IntCodec.delta);
    writeVarint(w, v0);
    for (let i = 1; i < n; i++) writeVarint(w, values[i]! - values[i - 1]!);
    return;
  }
  w.u8(IntCodec.plain);
  for (let i = 0; i < n; i++) writeVarint(w, values[i]!);
}

/** Encodes `values` into a new exact-length array (mode byte first; empty input → no bytes). */
export function encodeInts(values: ArrayLike<number>): Uint8Array {
  const w = new ByteWriter(16 + values.length * 2);
  writeInts(w, values);
  return w.finish();
}

/**
 * Reads `count` integers written by `writeInts`; throws `corrupt` on damaged input. `partial`: the
 * column holds more values and only its first `count` are wanted (a run may go past them).
 */
export function readInts(r: ByteReader, count: number, partial = false, out = new Float64Array(count)): Float64Array {
  if (count === 0) return out;
  const modeAt = r.pos;
  const mode = r.u8('int mode');
  switch (mode) {
    case IntCodec.constant: {
      const v = readVarint(r);
      if (v > SAFE || v < -SAFE) throw corrupt('int value out of the safe range', r.pos);
      out.fill(v, 0, count);
      return out;
    }
    case IntCodec.delta: {
      let v = 0;
      for (let i = 0; i < count; i++) {
        v += readVarint(r);
        if (v > SAFE || v < -SAFE) throw corrupt('int value out of the safe range', r.pos);
        out[i] = v;
      }
      return out;
    }
    case IntCodec.runs: {
      let v = 0;
      for (let i = 0; i < count;) {
        v += readVarint(r);
        if (v > SAFE || v < -SAFE) throw corrupt('int value out of the safe range', r.pos);
        let end = i + readUvarint(r) + 1;
        if (end > count) {
          if (!partial) throw corrupt(`an int run passes the column's ${count} values`, r.pos);
          end = count;
        }
        out.fill(v, i, end);
        i = end;
      }
      return out;
    }
    case IntCodec.plain:
      for (let i = 0; i < count; i++) {
        const v = readVarint(r);
        if (v > SAFE || v < -SAFE) throw corrupt('int value out of the safe range', r.pos);
        out[i] = v;
      }
      return out;
    default:
      throw corrupt(`unknown int mode ${mode}`, modeAt);
  }
}

/** Decodes a buffer holding exactly `count` integers. */
export function decodeInts(buf: Uint8Array, count: number): Float64Array {
  const r = new ByteReader(buf);
  const out = readInts(r, count);
  r.expectEnd('ints');
  return out;
}
