/**
 * Integer columns (storage/encoding/ints.ts). Invariants: every array of safe integers round-trips
 * exactly (-0 comes back as 0), including deltas that leave the safe range; counters cost about a
 * byte per value, constants a few bytes per block and row versions (runs) well under a byte per
 * value; damaged bytes fail as `corrupt` only.
 */
import assert from 'node:assert/strict';
import { ByteReader, decodeInts, encodeInts, IntCodec, readInts } from '../../storage/encoding/index.js';
import {
  assertColumnsFailOnlyAsCorrupt,
  forRandomColumns,
  isCorrupt,
  isUnencodable,
  mulberry32,
  randInt,
  SEED,
} from '../harness/encoding_harness.js';

const MAX = Number.MAX_SAFE_INTEGER;

function roundTrip(values: number[], what = 'ints'): Uint8Array {
  const buf = encodeInts(values);
  assert.deepEqual(
    Array.from(decodeInts(buf, values.length)),
    values.map((v) => (v === 0 ? 0 : v)),
    what,
  );
  return buf;
}

const GENERATORS: Array<(rng: () => number, n: number) => number[]> = [
  // A counter with a steady rate and occasional resets.
  (rng, n) => {
    let c = randInt(rng, 0, 1e9);
    return Array.from({ length: n }, () => (rng() < 0.01 ? (c = 0) : (c += randInt(rng, 0, 100))));
  },
  // A small gauge (cores, status codes).
  (rng, n) => Array.from({ length: n }, () => randInt(rng, -3, 300)),
  // Ids anywhere in the safe range, including both ends.
  (rng, n) =>
    Array.from({ length: n }, () => (rng() < 0.1 ? (rng() < 0.5 ? MAX : -MAX) : Math.round((rng() * 2 - 1) * MAX))),
  // Row versions: WAL sequences, rising, shared by the rows of one record.
  (rng, n) => {
    let v = randInt(rng, 1, 1e12);
    return Array.from({ length: n }, () => (rng() < 0.2 ? (v += randInt(rng, 1, 40)) : v));
  },
  // Constant stretches.
  (rng, n) => {
    let v = randInt(rng, -5, 5);
    return Array.from({ length: n }, () => (rng() < 0.05 ? (v = randInt(rng, -1e6, 1e6)) : v));
  },
];

describe('encoding - ints', () => {
  it('ints - empty, edges of the safe range and -0 round-trip', () => {
    assert.equal(roundTrip([]).length, 0);
    roundTrip([0]);
    roundTrip([-0, 0, -0]);
    roundTrip([MAX, -MAX, MAX, -MAX], 'alternating extremes (deltas past the safe range)');
    roundTrip([MAX, MAX - 1, MAX - 2]);
    roundTrip([-MAX, 0, MAX]);
    roundTrip([2 ** 52, -(2 ** 52), 2 ** 31, -(2 ** 31), 2 ** 31 - 1]);
    roundTrip([1, 2, 3, 1000, -1000, 7]);
  });

  it('ints - values that are not safe integers are refused as unencodable', () => {
    for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 1e300]) {
      assert.throws(() => encodeInts([1, bad]), isUnencodable, String(bad));
      assert.throws(() => encodeInts([bad]), isUnencodable, String(bad));
    }
  });

  it('ints - a constant column takes a few bytes; a counter about one byte per value; ids go plain', () => {
    const c = roundTrip(new Array<number>(1000).fill(123_456_789));
    assert.equal(c[0], IntCodec.constant);
    assert.ok(c.length <= 6, `${c.length} bytes`);
    const counter = roundTrip(Array.from({ length: 1000 }, (_, i) => 5_000_000 + i * 17));
    assert.equal(counter[0], IntCodec.delta);
    assert.ok(counter.length <= 1010, `${counter.length} bytes`);
    const rng = mulberry32(5);
    const ids = roundTrip(Array.from({ length: 1000 }, () => randInt(rng, -63, 63)));
    assert.equal(ids[0], IntCodec.plain, 'small random values are cheaper without deltas');
    assert.ok(ids.length <= 1001, `${ids.length} bytes`);
  });

  it('ints - row versions (runs of equal values) cost well under a byte per value; single runs stay deltas', () => {
    // A block of one series: 5 rows per WAL record, records 1–9 sequences apart.
    const rng = mulberry32(11);
    let seq = 7_000_000_000;
    const versions = Array.from({ length: 512 }, (_, i) => (i % 5 === 0 ? (seq += randInt(rng, 1, 9)) : seq));
    const runs = roundTrip(versions, 'versions');
    assert.equal(runs[0], IntCodec.runs);
    assert.ok(runs.length <= 0.45 * 512, `${runs.length} bytes for 512 versions`);
    // One row per record: every value a run of one, cheaper as deltas.
    const single = roundTrip(Array.from({ length: 512 }, (_, i) => 1000 + 3 * i));
    assert.equal(single[0], IntCodec.delta);
    // Long runs that step far: negative and large steps round-trip.
    roundTrip([5, 5, 5, -(2 ** 40), -(2 ** 40), 2 ** 50, 2 ** 50, 2 ** 50, 0, 0], 'far steps');
  });

  it(`ints - thousands of random arrays round-trip (seed ${SEED})`, () => {
    forRandomColumns(mulberry32(SEED), GENERATORS, { short: 50, long: 1000 }, roundTrip);
  });

  it(`ints - truncated or damaged columns fail only as corrupt (seed ${SEED})`, () => {
    const column = { encode: encodeInts, read: readInts, maxLength: 100, damageRounds: 20 };
    assertColumnsFailOnlyAsCorrupt(mulberry32(SEED ^ 0x1f7), GENERATORS, column);
  });

  it('ints - an unknown mode or a value leaving the safe range is corrupt', () => {
    assert.throws(() => decodeInts(new Uint8Array([7, 0]), 1), isCorrupt);
    // Delta mode: 2^53 − 2 (zigzag varint), then +3 passes 2^53 − 1.
    const w = [IntCodec.delta, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x06];
    assert.throws(() => decodeInts(new Uint8Array(w), 2), isCorrupt);
    assert.deepEqual(Array.from(decodeInts(new Uint8Array(w.slice(0, 9)), 1)), [2 ** 53 - 2]);
    // Runs mode: a run of 3 (length − 1 = 2) in a column of 2 values.
    assert.throws(() => decodeInts(new Uint8Array([IntCodec.runs, 0x02, 0x02]), 2), isCorrupt);
    assert.deepEqual(Array.from(decodeInts(new Uint8Array([IntCodec.runs, 0x02, 0x01]), 2)), [1, 1]);
    // A block read of the first values only (storage/block.ts) stops inside a run.
    const r = new ByteReader(new Uint8Array([IntCodec.runs, 0x02, 0x02]));
    assert.deepEqual(Array.from(readInts(r, 2, true)), [1, 1]);
  });
});
