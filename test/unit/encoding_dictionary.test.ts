/**
 * String and list columns (storage/encoding/dictionary.ts). Invariants: every array of well-formed
 * strings round-trips exactly (empty strings, BOM, astral characters); a few distinct tag values
 * cost well under a byte per row, and sorted rows a few bytes per run; string[] and int[] rows
 * round-trip with empty lists; damaged bytes fail as `corrupt` only.
 */
import assert from 'node:assert/strict';
import {
  ByteReader,
  decodeIntLists,
  decodeStringLists,
  decodeStrings,
  encodeIntLists,
  encodeStringLists,
  encodeStrings,
  MAX_LIST_VALUES,
  readIntLists,
  readOnlyString,
  readStringLists,
  readStrings,
  StringIndexCodec,
} from '../../storage/encoding/index.js';
import {
  assertColumnsFailOnlyAsCorrupt,
  assertDamageSafe,
  assertTruncationsCorrupt,
  forRandomColumns,
  isCorrupt,
  isUnencodable,
  mulberry32,
  randInt,
  SEED,
} from '../harness/encoding_harness.js';

const HOSTS = ['web-1', 'web-2', 'db-primary', 'db-replica', 'cache-eu-west-1'];
const ODD = ['', '\uFEFFbom', 'π≈3.14', '😀 emoji', '中文标签', 'a\u0000b', 'x'.repeat(300), ' ', 'ASCII'];

function roundTrip(values: string[], what = 'strings'): Uint8Array {
  const buf = encodeStrings(values);
  assert.deepEqual(decodeStrings(buf, values.length), values, what);
  return buf;
}

/** The index mode byte of an encoded string column (after the dictionary). */
function indexModeOf(buf: Uint8Array): number {
  const r = new ByteReader(buf);
  let d = 0;
  for (let shift = 1, b = 0x80; b & 0x80; shift *= 128) d += ((b = r.u8()) & 0x7f) * shift;
  for (let k = 0; k < d; k++) {
    let len = 0;
    for (let shift = 1, b = 0x80; b & 0x80; shift *= 128) len += ((b = r.u8()) & 0x7f) * shift;
    r.bytes(len);
  }
  return r.u8();
}

/** Up to 8 random code points, some astral, none a surrogate. */
function randomString(rng: () => number): string {
  const points = Array.from({ length: randInt(rng, 0, 8) }, () =>
    rng() < 0.2 ? randInt(rng, 0x10000, 0x10ffff) : randInt(rng, 0, 0xd7ff),
  );
  return String.fromCodePoint(...points);
}

const GENERATORS: Array<(rng: () => number, n: number) => string[]> = [
  // A few hosts in random order.
  (rng, n) => Array.from({ length: n }, () => HOSTS[randInt(rng, 0, HOSTS.length - 1)]!),
  // Sorted by series: long runs.
  (rng, n) => {
    let h = HOSTS[0]!;
    return Array.from({ length: n }, () => (rng() < 0.02 ? (h = HOSTS[randInt(rng, 0, HOSTS.length - 1)]!) : h));
  },
  // Mostly distinct ids (stream element ids).
  (rng, n) => Array.from({ length: n }, (_, i) => `req-${randInt(rng, 0, 1e9).toString(36)}-${i % 7}`),
  // Odd strings, random lengths and characters, astral planes.
  (rng, n) =>
    Array.from({ length: n }, () => (rng() < 0.5 ? ODD[randInt(rng, 0, ODD.length - 1)]! : randomString(rng))),
];

describe('encoding - strings', () => {
  it('strings - empty column, empty strings, BOM and astral characters round-trip', () => {
    assert.equal(roundTrip([]).length, 0);
    roundTrip(['']);
    roundTrip(['', '', '']);
    roundTrip(ODD);
    roundTrip([...ODD, ...[...ODD].reverse()]);
  });

  it('strings - dictionary sizes at bit-width boundaries round-trip', () => {
    for (const d of [1, 2, 3, 4, 5, 127, 128, 129, 255, 256, 257, 1000]) {
      const rng = mulberry32(d);
      roundTrip(
        Array.from({ length: 2000 }, (_, i) => `v${i < d ? i : randInt(rng, 0, d - 1)}`),
        `${d} distinct`,
      );
    }
  });

  it('strings - lone surrogates and non-strings are refused as unencodable', () => {
    assert.throws(() => encodeStrings(['ok', '\uD800']), isUnencodable);
    assert.throws(() => encodeStrings(['a\uDC00b']), isUnencodable);
    assert.throws(() => encodeStrings(['ok', 5 as unknown as string]), isUnencodable);
    assert.throws(() => encodeStrings([undefined as unknown as string]), isUnencodable);
  });

  it('strings - 1,000 rows of 5 host names cost at most 1.2 bytes per row; sorted rows far less', () => {
    const rng = mulberry32(21);
    const shuffled = roundTrip(Array.from({ length: 1000 }, () => HOSTS[randInt(rng, 0, 4)]!));
    assert.ok(shuffled.length / 1000 <= 1.2, `${shuffled.length / 1000} bytes per row`);
    assert.equal(indexModeOf(shuffled), StringIndexCodec.packed);
    const sorted = roundTrip(HOSTS.flatMap((h) => new Array<string>(200).fill(h)));
    assert.equal(indexModeOf(sorted), StringIndexCodec.runs);
    assert.ok(sorted.length < 70, `${sorted.length} bytes for 5 runs`);
    assert.ok(roundTrip(new Array<string>(1000).fill('only')).length <= 7, 'one distinct value needs no indexes');
  });

  it(`strings - reading rows [from, to) gives exactly those, in either index mode (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0x3d1);
    const names = ['web-1', 'web-2', 'db', 'cache', 'é'];
    for (let round = 0; round < 200; round++) {
      const n = randInt(rng, 1, 300);
      // Sorted rows (long runs) in some rounds, shuffled (packed indexes) or one value in others.
      const kinds = round % 3;
      const values = Array.from({ length: n }, (_, i) =>
        kinds === 0 ? names[Math.floor((i * 5) / n)]! : kinds === 1 ? names[randInt(rng, 0, 4)]! : 'only',
      );
      const buf = encodeStrings(values);
      const from = randInt(rng, 0, n);
      const to = randInt(rng, from, n);
      const r = new ByteReader(buf);
      assert.deepEqual(readStrings(r, n, from, to), values.slice(from, to), `[${from}, ${to}) of ${n}`);
      assert.equal(r.pos, buf.length, 'the whole column is read');
    }
  });

  it(`strings - thousands of random arrays round-trip (seed ${SEED})`, () => {
    forRandomColumns(mulberry32(SEED), GENERATORS, { short: 40, long: 1000 }, roundTrip);
  });

  it(`strings - truncated or damaged columns fail only as corrupt (seed ${SEED})`, () => {
    const column = { encode: encodeStrings, read: readStrings, maxLength: 80, damageRounds: 20 };
    assertColumnsFailOnlyAsCorrupt(mulberry32(SEED ^ 0xd1c7), GENERATORS, column);
  });

  it('strings - invalid UTF-8, an index past the dictionary or a dictionary larger than the rows is corrupt', () => {
    // d = 1, entry of 2 bytes 0xc3 0x28 (invalid), packed mode.
    assert.throws(() => decodeStrings(new Uint8Array([1, 2, 0xc3, 0x28, 0]), 1), isCorrupt);
    // d = 3 ('a', 'b', 'c'), packed 2-bit indexes: 0b11 = 3 is past the dictionary.
    assert.throws(() => decodeStrings(new Uint8Array([3, 1, 97, 1, 98, 1, 99, 0, 0b11000000]), 3), isCorrupt);
    assert.throws(() => decodeStrings(new Uint8Array([3, 1, 97, 1, 98, 1, 99, 0, 0]), 2), isCorrupt);
    // Runs mode: a run of 5 for 3 rows.
    assert.throws(() => decodeStrings(new Uint8Array([1, 1, 97, 1, 0, 4]), 3), isCorrupt);
    assert.throws(() => decodeStrings(new Uint8Array([1, 1, 97, 9]), 3), isCorrupt);
  });
});

describe('encoding - a column of one string', () => {
  it('reads its value, block after block, whichever value came before; null for more than one', () => {
    const only = (values: string[]) => readOnlyString(new ByteReader(encodeStrings(values)));
    // The same value again, another of the same length, a prefix, longer, empty, astral: each exactly.
    for (const v of ['r1', 'r1', 'r2', 'r', 'r10', '', 'é', '😀', 'r2', 'r2'])
      assert.equal(only([v, v, v]), v, JSON.stringify(v));
    // More values than it keeps, in turn, twice; and one longer than any it keeps.
    const many = Array.from({ length: 40 }, (_, i) => `region-${i % 20}`).concat('x'.repeat(100), 'x'.repeat(100));
    for (const v of many) assert.equal(only([v, v]), v);
    assert.equal(only(['r1', 'r2']), null);
    // d = 1, entry of 2 bytes: valid 'é' (0xc3 0xa9) read first, then invalid 0xc3 0x28 of the same length.
    assert.equal(readOnlyString(new ByteReader(new Uint8Array([1, 2, 0xc3, 0xa9]))), 'é');
    assert.throws(() => readOnlyString(new ByteReader(new Uint8Array([1, 2, 0xc3, 0x28]))), isCorrupt);
    assert.throws(() => readOnlyString(new ByteReader(new Uint8Array([1, 2, 0xc3]))), isCorrupt);
  });
});

describe('encoding - lists', () => {
  it(`lists - string[] and int[] rows round-trip, empty lists included (seed ${SEED})`, () => {
    assert.equal(encodeStringLists([]).length, 0);
    assert.deepEqual(decodeStringLists(encodeStringLists([[], [], []]), 3), [[], [], []]);
    assert.deepEqual(decodeIntLists(encodeIntLists([[], [-0], [2 ** 53 - 1, -(2 ** 53 - 1)]]), 3), [
      [],
      [0],
      [2 ** 53 - 1, -(2 ** 53 - 1)],
    ]);
    const rng = mulberry32(SEED ^ 0x115);
    for (let k = 0; k < 1000; k++) {
      const n = randInt(rng, 1, 30);
      const strs = Array.from({ length: n }, () =>
        Array.from({ length: randInt(rng, 0, 4) }, () => HOSTS[randInt(rng, 0, 4)]!),
      );
      assert.deepEqual(decodeStringLists(encodeStringLists(strs), n), strs);
      const ints = Array.from({ length: n }, () =>
        Array.from({ length: randInt(rng, 0, 4) }, () => randInt(rng, -1e6, 1e6)),
      );
      assert.deepEqual(decodeIntLists(encodeIntLists(ints), n), ints);
    }
  });

  it(`lists - truncated or damaged list columns fail only as corrupt (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0x116);
    for (let k = 0; k < 200; k++) {
      const n = randInt(rng, 1, 20);
      const strs = Array.from({ length: n }, () =>
        Array.from({ length: randInt(rng, 0, 3) }, () => ODD[randInt(rng, 0, ODD.length - 1)]!),
      );
      const sbuf = encodeStringLists(strs);
      assertTruncationsCorrupt(sbuf, n, readStringLists, rng);
      assertDamageSafe(sbuf, n, readStringLists, rng, 20);
      const ints = Array.from({ length: n }, () =>
        Array.from({ length: randInt(rng, 0, 3) }, () => randInt(rng, -1e9, 1e9)),
      );
      const ibuf = encodeIntLists(ints);
      assertTruncationsCorrupt(ibuf, n, readIntLists, rng);
      assertDamageSafe(ibuf, n, readIntLists, rng, 20);
    }
  });

  it('lists - negative or huge lengths are corrupt before anything is allocated', () => {
    // Int column of lengths in plain mode: one length of −1.
    assert.throws(() => decodeIntLists(new Uint8Array([2, 1]), 1), isCorrupt);
    // Constant lengths (zigzag 2^25 = length 2^24) for 2 rows: more than MAX_LIST_VALUES in total.
    assert.throws(() => decodeIntLists(new Uint8Array([0, ...varint(2 * MAX_LIST_VALUES)]), 2), isCorrupt);
    const tooLong = { length: MAX_LIST_VALUES + 1 } as unknown as string[];
    assert.throws(() => encodeStringLists([tooLong]), isUnencodable);
  });
});

/** Unsigned LEB128 bytes of a small non-negative integer (for hand-built inputs). */
function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}
