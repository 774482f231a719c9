/**
 * Float columns (storage/encoding/{floats,gorilla,packed_decimal}.ts). Invariants: every array
 * round-trips bit for bit whichever codec is chosen or forced (-0, NaN payloads, ±Infinity,
 * subnormals); the decimal codecs are taken only when exact; the chosen codec is never larger than the others;
 * damaged bytes fail as `corrupt` and nothing else.
 */
import assert from 'node:assert/strict';
import {
  ByteReader,
  decodeFloats,
  encodeFloats,
  encodeFloatsAs,
  FloatCodec,
  floatCodecOf,
  readFloats,
  readPackedRunStats,
} from '../../storage/encoding/index.js';
import {
  assertColumnsFailOnlyAsCorrupt,
  assertSameBits,
  forRandomColumns,
  isCorrupt,
  isUnencodable,
  mulberry32,
  randInt,
  SEED,
} from '../harness/encoding_harness.js';

/** A float64 from its two 32-bit halves (to build exact NaN payloads and subnormals). */
function fromBits(hi: number, lo: number): number {
  const f = new Float64Array(1);
  const u = new Uint32Array(f.buffer);
  u[1] = hi;
  u[0] = lo;
  return f[0]!;
}

/** Builds a Float64Array whose elements carry exactly the given bit patterns. */
function fromBitPairs(pairs: Array<[number, number]>): Float64Array {
  const out = new Float64Array(pairs.length);
  const u = new Uint32Array(out.buffer);
  pairs.forEach(([hi, lo], i) => {
    u[2 * i + 1] = hi;
    u[2 * i] = lo;
  });
  return out;
}

const SPECIALS = [
  ...[0, -0, NaN, Infinity, -Infinity],
  ...[5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308], // subnormal edges
  ...[Number.MAX_VALUE, -Number.MAX_VALUE, Number.EPSILON, 0.1 + 0.2, 1 / 3, 1e300, 1e-300],
  ...[Number.MAX_SAFE_INTEGER, 2 ** 53 + 2],
];
const NAN_PAYLOADS: Array<[number, number]> = [
  [0x7ff80000, 0],
  [0x7ff80000, 1],
  [0xfff80000, 0],
  [0x7fffffff, 0xffffffff],
  [0x7ff00000, 1], // signalling
];

/** The codecs of exact decimals. */
const DECIMALS: FloatCodec[] = [FloatCodec.decimal, FloatCodec.packed];

/** Round-trips with the chosen codec and with each forced codec that applies; returns the chosen bytes. */
function roundTrip(values: Float64Array, what = 'floats'): Uint8Array {
  const buf = encodeFloats(values);
  assertSameBits(decodeFloats(buf, values.length), values, what);
  if (values.length === 0) return buf;
  for (const codec of [FloatCodec.gorilla, FloatCodec.raw, FloatCodec.decimal, FloatCodec.packed]) {
    let forced: Uint8Array;
    try {
      forced = encodeFloatsAs(values, codec);
    } catch (err) {
      assert.ok(DECIMALS.includes(codec) && isUnencodable(err), String(err));
      continue;
    }
    assertSameBits(decodeFloats(forced, values.length), values, `${what} (forced codec ${codec})`);
    assert.ok(buf.length <= forced.length, `${what}: chose ${buf.length} bytes, codec ${codec} takes ${forced.length}`);
  }
  return buf;
}

/** Generators of typical and hostile float arrays. */
const GENERATORS: Array<(rng: () => number, n: number) => Float64Array> = [
  // Full-precision noise: nothing compresses it.
  (rng, n) => Float64Array.from({ length: n }, () => (rng() - 0.5) * 10 ** randInt(rng, -5, 5)),
  // Decimals with a random number of places, some negative.
  (rng, n) => {
    const e = randInt(rng, 0, 6);
    return Float64Array.from({ length: n }, () => randInt(rng, -1e6, 1e6) / 10 ** e);
  },
  // A sensor: float32 readings of a slow wave with repeats.
  (rng, n) => {
    let v = Math.fround(20 + rng() * 5);
    return Float64Array.from({ length: n }, (_, i) =>
      rng() < 0.3 ? v : (v = Math.fround(20 + Math.sin(i / 40) + rng() * 0.01)),
    );
  },
  // Specials and NaN payloads mixed with ordinary values.
  (rng, n) => {
    const out = Float64Array.from({ length: n }, () =>
      rng() < 0.5 ? SPECIALS[randInt(rng, 0, SPECIALS.length - 1)]! : rng() * 100,
    );
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) {
      if (rng() < 0.1) {
        const [hi, lo] = NAN_PAYLOADS[randInt(rng, 0, NAN_PAYLOADS.length - 1)]!;
        u[2 * i + 1] = hi;
        u[2 * i] = lo;
      }
    }
    return out;
  },
  // A walk of 2-decimal steps, and a steady counter (packed deltas, width 0 for the counter).
  (rng, n) => {
    let v = randInt(rng, -5000, 5000);
    const step = rng() < 0.5 ? () => randInt(rng, -100, 99) : () => 25;
    return Float64Array.from({ length: n }, () => (v += step()) / 100);
  },
  // Long constant stretches with rare steps (gauges, flags).
  (rng, n) => {
    let v = randInt(rng, 0, 3);
    return Float64Array.from({ length: n }, () => (rng() < 0.02 ? (v = randInt(rng, 0, 3) + rng()) : v));
  },
  // Random bit patterns: every exponent, subnormals, NaNs, infinities.
  (rng, n) =>
    fromBitPairs(
      Array.from({ length: n }, () => [randInt(rng, 0, 2 ** 32 - 1), randInt(rng, 0, 2 ** 32 - 1)] as [number, number]),
    ),
];

describe('encoding - floats', () => {
  it('floats - special values round-trip bit for bit, alone, together and repeated', () => {
    assert.equal(roundTrip(new Float64Array(0)).length, 0);
    for (const v of SPECIALS) {
      roundTrip(new Float64Array([v]), String(v));
      roundTrip(new Float64Array([v, v, v]), `${v} ×3`);
      roundTrip(new Float64Array([1.5, v, 2.25]), `1.5, ${v}, 2.25`);
    }
    roundTrip(new Float64Array(SPECIALS));
    roundTrip(new Float64Array([...SPECIALS].reverse()));
    const nans = fromBitPairs(NAN_PAYLOADS);
    roundTrip(nans, 'NaN payloads');
    roundTrip(
      fromBitPairs([...NAN_PAYLOADS, ...NAN_PAYLOADS.map(([h, l]) => [h, l] as [number, number])]),
      'repeated NaN payloads',
    );
    assert.ok(Object.is(fromBits(0x80000000, 0), -0));
  });

  it('floats - -0 and 0.1 + 0.2 never take a decimal codec', () => {
    const isDecimal = (buf: Uint8Array) => DECIMALS.includes(floatCodecOf(buf)!);
    const withNegZero = new Float64Array([1.5, 2.5, -0, 3.25]);
    assert.ok(!isDecimal(roundTrip(withNegZero)));
    const inexact = new Float64Array([0.1, 0.2, 0.1 + 0.2, 0.4]);
    assert.ok(!isDecimal(roundTrip(inexact)));
    for (const codec of DECIMALS) {
      assert.throws(() => encodeFloatsAs(withNegZero, codec), isUnencodable);
      assert.throws(() => encodeFloatsAs(inexact, codec), isUnencodable);
    }
    // The same values written as literals are exact decimals.
    assert.ok(isDecimal(roundTrip(new Float64Array([0.1, 0.2, 0.3, 0.4]))));
    // Exponent 12 is the limit: 13 places are not decimal.
    assert.ok(isDecimal(roundTrip(new Float64Array([1.123456789012, 2]))));
    assert.throws(() => encodeFloatsAs(new Float64Array([1.1234567890123, 2]), FloatCodec.decimal), isUnencodable);
    assert.throws(() => encodeFloatsAs(new Float64Array([1e17, 2]), FloatCodec.decimal), isUnencodable);
  });

  it('floats - an all-equal column is the 9-byte constant codec, or 5–6 packed bytes for a decimal', () => {
    for (const v of [-0, NaN, -Infinity, 1e300]) {
      const buf = roundTrip(new Float64Array(1000).fill(v));
      assert.equal(floatCodecOf(buf), FloatCodec.constant);
      assert.equal(buf.length, 9);
    }
    for (const v of [0, 42.5, -7]) {
      const buf = roundTrip(new Float64Array(1000).fill(v));
      assert.equal(floatCodecOf(buf), FloatCodec.packed);
      assert.ok(buf.length <= 6, `${buf.length} bytes`);
    }
  });

  it('floats - 1,000 random 2-decimal values in [0, 100) take 14 bits each (packed values)', () => {
    const rng = mulberry32(11);
    const values = Float64Array.from({ length: 1000 }, () => Math.floor(rng() * 10_000) / 100);
    const buf = roundTrip(values);
    assert.equal(floatCodecOf(buf), FloatCodec.packed);
    assert.ok(buf.length <= 1000 * (14 / 8) + 8, `${buf.length / 1000} bytes per value`);
    assert.ok(buf.length < encodeFloatsAs(values, FloatCodec.decimal).length * 0.9, 'well under varint deltas');
  });

  it(`floats - reading from a row on gives exactly those rows, with any codec and cut (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0x51f);
    const shapes: [string, (n: number) => Float64Array][] = [
      ['packed values', (n) => Float64Array.from({ length: n }, () => Math.floor(rng() * 10_000) / 100)],
      ['packed deltas', (n) => Float64Array.from({ length: n }, (_, i) => 50 + i / 100)],
      ['constant', (n) => new Float64Array(n).fill(3.25)],
      ['gorilla', (n) => Float64Array.from({ length: n }, (_, i) => Math.fround(20 + Math.sin(i / 9)))],
      ['raw', (n) => Float64Array.from({ length: n }, () => (rng() - 0.5) * 1e300)],
    ];
    for (const [shape, make] of shapes) {
      for (let round = 0; round < 40; round++) {
        const n = randInt(rng, 1, 700);
        const values = make(n);
        const buf = encodeFloats(values);
        const upTo = randInt(rng, 1, n);
        const from = randInt(rng, 0, upTo);
        const got = readFloats(new ByteReader(buf), upTo, upTo < n, from);
        assertSameBits(got.subarray(from, upTo), values.subarray(from, upTo), `${shape}: [${from}, ${upTo}) of ${n}`);
      }
    }
  });

  /** Packed shapes: fields of 14 bits, of 25 to 32 bits (left to decode), walk deltas, none (a constant or a steady counter). */
  const packedShapes = (rng: () => number): [string, (n: number) => Float64Array][] => [
    ['values', (n) => Float64Array.from({ length: n }, () => Math.floor(rng() * 10_000) / 100)],
    ['wide values', (n) => Float64Array.from({ length: n }, () => randInt(rng, -(2 ** 29), 2 ** 29) / 100)],
    ['deltas', (n) => Float64Array.from({ length: n }, (_, i) => (5000 + i * randInt(rng, 1, 3)) / 100)],
    ['walk', (n) => Float64Array.from({ length: n }, (_, i) => (i % 7) - (i % 3) + 0.5)],
    ['constant', (n) => new Float64Array(n).fill(3.25)],
    ['counter', (n) => Float64Array.from({ length: n }, (_, i) => 1000 + 25 * i)],
  ];

  it(`floats - packed run statistics equal those of the decoded rows, for any cut and runs (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0x7a5);
    const forms = new Set<number>();
    let left = 0;
    for (const [shape, make] of packedShapes(rng)) {
      for (let round = 0; round < 60; round++) {
        const n = randInt(rng, 1, 700);
        const values = make(n);
        const buf = encodeFloatsAs(values, FloatCodec.packed);
        forms.add(buf[2]!);
        const upTo = randInt(rng, 1, n);
        const from = randInt(rng, 0, upTo);
        const cuts = Array.from({ length: randInt(rng, 0, 5) }, () => randInt(rng, from, upTo));
        const ends = [...cuts.sort((a, b) => a - b), upTo];
        const out = new Float64Array(4 * ends.length);
        const r = new ByteReader(buf);
        if (!readPackedRunStats(r, upTo, upTo < n, from, ends, out)) {
          // Fields wider than 24 bits are left for the caller to decode, the reader where it was.
          assert.equal(shape, 'wide values');
          assert.equal(r.pos, 0);
          left++;
          continue;
        }
        if (upTo === n) r.expectEnd('column');
        const want: number[] = [];
        let i = from;
        for (const end of ends) {
          let sum = 0;
          let min = Infinity;
          let max = -Infinity;
          for (const v of values.subarray(i, Math.max(i, end))) {
            sum += v;
            min = Math.min(min, v);
            max = Math.max(max, v);
          }
          want.push(Math.max(0, end - i), sum, min, max);
          i = Math.max(i, end);
        }
        assert.deepEqual([...out], want, `${shape}: [${from}, ${upTo}) of ${n} in runs ending ${ends.join(', ')}`);
      }
    }
    assert.deepEqual([...forms].sort(), [0, 1], 'both packed forms');
    assert.equal(left, 60, 'every wide column left to decode');
  });

  it(`floats - packed run statistics of truncated or damaged columns fail only as corrupt (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0x7a6);
    const column = {
      encode: (values: Float64Array) => encodeFloatsAs(values, FloatCodec.packed),
      read: (r: ByteReader, count: number) => {
        const out = new Float64Array(8);
        return readPackedRunStats(r, count, false, count >> 2, [count >> 1, count], out) ? out : readFloats(r, count);
      },
      maxLength: 100,
      damageRounds: 10,
    };
    const gens = packedShapes(rng).map(
      ([, make]) =>
        (_: () => number, n: number) =>
          make(n),
    );
    assertColumnsFailOnlyAsCorrupt(rng, gens, column);
    // A partial read (no end to check) of rows past a cut window fails too, not reading beyond it.
    const buf = encodeFloatsAs(packedShapes(rng)[0]![1](100), FloatCodec.packed);
    const cut = new ByteReader(buf, 0, buf.length >> 1);
    assert.throws(() => readPackedRunStats(cut, 90, true, 0, [90], new Float64Array(4)), isCorrupt);
  });

  it('floats - a walk of small steps packs its deltas; a steady counter takes a few bytes in all', () => {
    const rng = mulberry32(12);
    let v = 5000;
    const walk = Float64Array.from({ length: 1000 }, () => (v += randInt(rng, -100, 99)) / 100);
    const w = roundTrip(walk);
    assert.equal(floatCodecOf(w), FloatCodec.packed);
    assert.ok(w.length <= 1000 + 12, `${w.length / 1000} bytes per value (8-bit deltas)`);
    const counter = Float64Array.from({ length: 1000 }, (_, i) => 10 + i * 0.25);
    const c = roundTrip(counter);
    assert.equal(floatCodecOf(c), FloatCodec.packed);
    assert.ok(c.length <= 12, `${c.length} bytes for 1,000 evenly rising values`);
    // Fields wider than 24 bits (read through BitReader), whole and as a prefix.
    const wide = Float64Array.from({ length: 1000 }, () => randInt(rng, 0, 2 ** 30));
    const b = roundTrip(wide);
    assert.equal(floatCodecOf(b), FloatCodec.packed);
    assertSameBits(readFloats(new ByteReader(b), 10, true), wide.subarray(0, 10), 'a prefix of wide fields');
  });

  it('floats - a slowly varying float32 sensor series compresses under Gorilla', () => {
    const rng = mulberry32(12);
    let v = Math.fround(21.5);
    const values = Float64Array.from({ length: 1000 }, (_, i) =>
      i % 4 === 0 ? (v = Math.fround(21.5 + Math.sin(i / 100) + rng() * 0.01)) : v,
    );
    const buf = roundTrip(values);
    assert.equal(floatCodecOf(buf), FloatCodec.gorilla);
    assert.ok(buf.length / 1000 < 2, `${buf.length / 1000} bytes per value`);
  });

  it('floats - full-precision noise of any sign and magnitude falls back to raw: 8 bytes per value plus the tag', () => {
    const rng = mulberry32(13);
    // Two draws, since one mulberry32 draw has only 32 random bits; same-magnitude noise would
    // still save a few bits per value under Gorilla (shared sign and exponent).
    const values = Float64Array.from(
      { length: 1000 },
      () => (rng() - 0.5 + rng() / 2 ** 32) * 10 ** randInt(rng, -20, 20),
    );
    const buf = roundTrip(values);
    assert.equal(floatCodecOf(buf), FloatCodec.raw);
    assert.equal(buf.length, 8001);
  });

  it('floats - Gorilla windows of 64 bits and of only high or low halves round-trip', () => {
    const wide: Array<[number, number]> = [];
    for (let i = 0; i < 200; i++) wide.push(i % 50 < 25 ? [0xbff00000, 1] : [0x40000000, 0]);
    const buf = roundTrip(fromBitPairs(wide), 'xor of all 64 bits');
    assert.equal(floatCodecOf(buf), FloatCodec.gorilla);
    roundTrip(
      fromBitPairs(Array.from({ length: 100 }, (_, i) => [0x40000000 + (i & 3), 0] as [number, number])),
      'high-half xors',
    );
    roundTrip(
      fromBitPairs(Array.from({ length: 100 }, (_, i) => [0x40000000, i * 7] as [number, number])),
      'low-half xors',
    );
    roundTrip(
      fromBitPairs(Array.from({ length: 100 }, (_, i) => [0x40000000 + (i & 1), i & 2] as [number, number])),
      'xors across both halves',
    );
  });

  it(`floats - thousands of random arrays round-trip with every codec (seed ${SEED})`, () => {
    forRandomColumns(mulberry32(SEED), GENERATORS, { short: 40, long: 1000 }, roundTrip);
  });

  it(`floats - truncated or damaged columns fail only as corrupt (seed ${SEED})`, () => {
    const codecs = [FloatCodec.gorilla, FloatCodec.raw, FloatCodec.decimal, FloatCodec.packed];
    // The chosen codec's bytes, and each codec's where it can carry the values.
    const encode = (values: Float64Array): Uint8Array[] => [
      encodeFloats(values),
      ...codecs.flatMap((c) => {
        try {
          return [encodeFloatsAs(values, c)];
        } catch {
          return [];
        }
      }),
    ];
    const column = { encode, read: readFloats, maxLength: 100, damageRounds: 10 };
    assertColumnsFailOnlyAsCorrupt(mulberry32(SEED ^ 0xf10a7), GENERATORS, column);
  });

  it('floats - unknown codec, bad exponent or a Gorilla window past 64 bits is corrupt', () => {
    assert.throws(() => decodeFloats(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 0]), 1), isCorrupt);
    assert.throws(() => decodeFloats(new Uint8Array([FloatCodec.decimal, 13, 2]), 1), isCorrupt);
    // Packed: exponent 13, form 2, width 33.
    assert.throws(() => decodeFloats(new Uint8Array([FloatCodec.packed, 13, 0, 0, 1, 0]), 1), isCorrupt);
    assert.throws(() => decodeFloats(new Uint8Array([FloatCodec.packed, 2, 2, 0, 1, 0]), 1), isCorrupt);
    assert.throws(() => decodeFloats(new Uint8Array([FloatCodec.packed, 2, 0, 0, 33, 0, 0, 0, 0, 0]), 1), isCorrupt);
    assert.deepEqual(Array.from(decodeFloats(new Uint8Array([FloatCodec.packed, 0, 0, 4, 1, 0b10000000]), 1)), [3]);
    // First value 0, then '11' + 31 leading zeros + length 40: 71 bits do not fit in 64.
    const bad = new Uint8Array([FloatCodec.gorilla, 0, 0, 0, 0, 0, 0, 0, 0, 0b11111111, 0b10100000, 0, 0, 0, 0, 0, 0]);
    assert.throws(() => decodeFloats(bad, 2), isCorrupt);
    // '10' (reuse) before any window was opened.
    assert.throws(
      () => decodeFloats(new Uint8Array([FloatCodec.gorilla, 0, 0, 0, 0, 0, 0, 0, 0, 0b10000000]), 2),
      isCorrupt,
    );
    assert.throws(() => decodeFloats(encodeFloats(new Float64Array([1, 2, 3])), 2), isCorrupt);
  });
});
