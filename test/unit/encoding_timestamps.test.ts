/**
 * Timestamp columns (storage/encoding/timestamps.ts). Invariants: every array of safe integers
 * round-trips exactly, sorted or not; regular series cost a few bytes per block and jittered ones
 * about a byte per point; damaged bytes fail as `corrupt` and nothing else.
 */
import assert from 'node:assert/strict';
import {
  ByteReader,
  decodeTimestamps,
  encodeTimestamps,
  readTimestamps,
  regularTimestamps,
  TIMESTAMP_DOD_MAX,
} from '../../storage/encoding/index.js';
import {
  assertColumnsFailOnlyAsCorrupt,
  forRandomColumns,
  isCorrupt,
  isUnencodable,
  mulberry32,
  randInt,
  SEED,
} from '../harness/encoding_harness.js';

const T0 = 1_700_000_000_000;

function roundTrip(ts: number[], what = 'timestamps'): Uint8Array {
  const buf = encodeTimestamps(ts);
  assert.deepEqual(Array.from(decodeTimestamps(buf, ts.length)), ts, what);
  return buf;
}

/** Generators of typical and hostile timestamp arrays. */
const GENERATORS: Array<(rng: () => number, n: number) => number[]> = [
  // Regular scrape with occasional jitter and missed scrapes.
  (rng, n) => {
    let t = T0 + randInt(rng, 0, 1e6);
    return Array.from(
      { length: n },
      () => (t += 10_000 + (rng() < 0.1 ? randInt(rng, -20, 20) : 0) + (rng() < 0.01 ? 10_000 : 0)),
    );
  },
  // Sorted random arrivals (events), with duplicates.
  (rng, n) => {
    let t = T0;
    return Array.from({ length: n }, () => (t += rng() < 0.2 ? 0 : randInt(rng, 1, 5_000)));
  },
  // Unsorted: a part before sorting, or a client that sends out of order.
  (rng, n) => Array.from({ length: n }, () => T0 + randInt(rng, -1e9, 1e9)),
  // Anything in the safe range, including negative and beyond the dod limit.
  (rng, n) => Array.from({ length: n }, () => Math.round((rng() * 2 - 1) * Number.MAX_SAFE_INTEGER)),
  // Near the dod limit, where deltas are largest.
  (rng, n) =>
    Array.from(
      { length: n },
      () => (rng() < 0.5 ? TIMESTAMP_DOD_MAX : -TIMESTAMP_DOD_MAX) - randInt(rng, -3, 0) * Math.sign(rng() - 0.5),
    ),
  // Long constant runs of deltas broken by single changes.
  (rng, n) => {
    let t = 0;
    let d = randInt(rng, 1, 1000);
    return Array.from({ length: n }, () => {
      if (rng() < 0.02) d = randInt(rng, 0, 1000);
      return (t += d);
    });
  },
];

describe('encoding - timestamps', () => {
  it('timestamps - empty, single, pair and edge values round-trip', () => {
    assert.equal(roundTrip([]).length, 0);
    roundTrip([T0]);
    roundTrip([T0, T0 - 1]);
    roundTrip([0, 0, 0, 0]);
    roundTrip([-5, -3, -1, 1, 3]);
    roundTrip([TIMESTAMP_DOD_MAX, -TIMESTAMP_DOD_MAX, TIMESTAMP_DOD_MAX, -TIMESTAMP_DOD_MAX]);
    roundTrip([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER]);
    roundTrip([TIMESTAMP_DOD_MAX + 1, 5]);
    roundTrip([T0, T0 + 10, T0 + 20, T0 + 30, T0 + 25, T0 + 35]);
    assert.deepEqual(Array.from(decodeTimestamps(encodeTimestamps(new Float64Array([-0, 1])), 2)), [0, 1]);
  });

  it('timestamps - values that are not safe integers are refused as unencodable', () => {
    for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53)]) {
      assert.throws(() => encodeTimestamps([T0, bad]), isUnencodable, String(bad));
    }
  });

  it('timestamps - 1,000 points at a regular 10 s interval take under 50 bytes', () => {
    const ts = Array.from({ length: 1000 }, (_, i) => T0 + i * 10_000);
    const buf = roundTrip(ts);
    assert.ok(buf.length < 50, `${buf.length} bytes`);
    const long = Array.from({ length: 100_000 }, (_, i) => T0 + i * 1000);
    assert.ok(roundTrip(long).length < 50, 'a regular block costs the same whatever its length');
  });

  it('timestamps - an evenly spaced column gives its first value and step without decoding; others give null', () => {
    const regular = (ts: number[]) => {
      const r = new ByteReader(encodeTimestamps(ts));
      const got = regularTimestamps(r, ts.length);
      // Past the column when it answers, back at its start when it does not.
      assert.equal(r.pos, got ? r.end : 0);
      return got;
    };
    assert.deepEqual(regular([T0, T0 + 10_000, T0 + 20_000]), { first: T0, step: 10_000 });
    assert.deepEqual(regular(Array.from({ length: 512 }, (_, i) => -5000 + i * 7)), { first: -5000, step: 7 });
    assert.equal(regular([T0, T0 + 10_000]), null, 'two values: no run');
    assert.equal(regular([T0, T0 + 10_000, T0 + 20_001]), null, 'one step off');
    assert.equal(regular([T0, T0 + 10_000, T0 + 20_000, T0 + 30_000, T0 + 30_001]), null, 'the last step differs');
    assert.equal(regular([T0, T0, T0, T0]), null, 'a zero step');
    assert.equal(regular([T0 + 20, T0 + 10, T0]), null, 'descending');
    assert.equal(regular([2 ** 52, 2 ** 52 + 1, 2 ** 52 + 2]), null, 'the raw mode');
  });

  it('timestamps - jitter of a few ms costs about one byte per point', () => {
    const rng = mulberry32(7);
    const ts = Array.from({ length: 1000 }, (_, i) => T0 + i * 10_000 + randInt(rng, -5, 5));
    const buf = roundTrip(ts);
    assert.ok(buf.length <= 1010, `${buf.length} bytes for 1000 jittered points`);
  });

  it(`timestamps - thousands of random arrays round-trip (seed ${SEED})`, () => {
    forRandomColumns(mulberry32(SEED), GENERATORS, { short: 60, long: 2000 }, roundTrip);
  });

  it(`timestamps - truncated or damaged columns fail only as corrupt (seed ${SEED})`, () => {
    const column = { encode: encodeTimestamps, read: readTimestamps, maxLength: 200, damageRounds: 20 };
    assertColumnsFailOnlyAsCorrupt(mulberry32(SEED ^ 0x1234), GENERATORS, column);
  });

  it('timestamps - a run longer than the values left, or an unknown mode, is corrupt', () => {
    const buf = encodeTimestamps(Array.from({ length: 100 }, (_, i) => i * 10));
    assert.throws(() => decodeTimestamps(buf, 50), isCorrupt);
    assert.throws(() => decodeTimestamps(new Uint8Array([9, 0]), 1), isCorrupt);
    assert.throws(() => decodeTimestamps(buf, 101), isCorrupt);
  });
});
