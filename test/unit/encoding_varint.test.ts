/**
 * Byte buffers, varints and bit streams (storage/encoding/{byte_buffer,varint,bits}.ts).
 * Invariants: every integer with |v| ≤ 2^53 round-trips exactly through the varints, with the
 * length the size helpers predict; readers never pass their window and fail as `corrupt`.
 */
import assert from 'node:assert/strict';
import {
  BitReader,
  BitWriter,
  ByteReader,
  ByteWriter,
  readUvarint,
  readVarint,
  unzigzag,
  uvarintLen,
  VARINT_MAX,
  varintLen,
  writeUvarint,
  writeVarint,
  zigzag,
} from '../../storage/encoding/index.js';
import { isCorrupt, mulberry32, randInt, SEED } from '../harness/encoding_harness.js';

const UNSIGNED_EDGES = [
  ...[0, 1, 63, 64, 127, 128, 255, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28],
  ...[2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 42 - 1, 2 ** 49],
  ...[2 ** 52 - 1, 2 ** 52, 2 ** 52 + 1, 2 ** 53 - 1, 2 ** 53],
];

/** Random integers across every magnitude from 0 to 53 bits. */
function randomMagnitude(rng: () => number): number {
  const bits = randInt(rng, 0, 53);
  return Math.min(VARINT_MAX, Math.floor(rng() * 2 ** bits));
}

function roundTripUnsigned(values: number[]): void {
  const w = new ByteWriter(16);
  for (const v of values) {
    const before = w.length;
    writeUvarint(w, v);
    assert.equal(w.length - before, uvarintLen(v), `uvarintLen(${v})`);
  }
  const r = new ByteReader(w.finish());
  for (const v of values) assert.equal(readUvarint(r), v);
  r.expectEnd('varints');
}

function roundTripSigned(values: number[]): void {
  const w = new ByteWriter(16);
  for (const v of values) {
    const before = w.length;
    writeVarint(w, v);
    assert.equal(w.length - before, varintLen(v), `varintLen(${v})`);
  }
  const r = new ByteReader(w.finish());
  for (const v of values) assert.ok(Object.is(readVarint(r), v === 0 ? 0 : v), `signed ${v}`);
  r.expectEnd('varints');
}

describe('encoding - byte buffer', () => {
  it('byte buffer - writer grows past its capacity and finish returns exactly what was written', () => {
    const w = new ByteWriter(16);
    for (let i = 0; i < 1000; i++) w.u8(i);
    w.u32le(0xdeadbeef);
    w.bytes(new Uint8Array([7, 8, 9]));
    const out = w.finish();
    assert.equal(out.length, 1007);
    assert.equal(out[999], 999 & 0xff);
    assert.deepEqual([...out.subarray(1000, 1004)], [0xef, 0xbe, 0xad, 0xde]);
    assert.equal(w.length, 0, 'the writer starts over after finish');
    w.u8(1);
    assert.equal(out[0], 0, 'later writes do not alias the returned bytes');
    assert.deepEqual([...w.finish()], [1]);
    assert.equal(new ByteWriter().finish().length, 0);
  });

  it('byte buffer - reader fails as corrupt instead of reading past its window', () => {
    const buf = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const r = new ByteReader(buf, 1, 4);
    assert.equal(r.u8(), 2);
    assert.throws(() => r.u32le(), isCorrupt);
    assert.throws(() => r.bytes(3), isCorrupt);
    assert.deepEqual([...r.bytes(2)], [3, 4]);
    assert.throws(() => r.u8(), isCorrupt);
    assert.equal(r.remaining, 0);
    r.expectEnd('test');
    assert.throws(() => new ByteReader(buf, 0, 2).expectEnd('test'), isCorrupt);
    assert.equal(new ByteReader(new Uint8Array([0x78, 0x56, 0x34, 0x12])).u32le(), 0x12345678);
    assert.throws(() => new ByteReader(buf, 4, 7), { name: 'InvariantError', code: 'Internal' });
  });
});

describe('encoding - varint', () => {
  it('varint - unsigned edges up to 2^53 round-trip with predicted lengths', () => {
    roundTripUnsigned(UNSIGNED_EDGES);
    assert.equal(uvarintLen(127), 1);
    assert.equal(uvarintLen(128), 2);
    assert.equal(uvarintLen(2 ** 53), 8);
  });

  it('varint - signed edges up to ±2^53 round-trip, including zigzag past 2^53', () => {
    const signed = UNSIGNED_EDGES.flatMap((v) => [v, -v]).concat([-64, 63, -65, 64, -(2 ** 52) - 1, 2 ** 52 + 3]);
    roundTripSigned(signed);
    assert.equal(varintLen(-64), 1);
    assert.equal(varintLen(64), 2);
  });

  it('varint - zigzag maps small signed to small unsigned and back', () => {
    assert.deepEqual([0, -1, 1, -2, 2].map(zigzag), [0, 1, 2, 3, 4]);
    for (const v of [0, 1, -1, 2 ** 30, -(2 ** 30), 2 ** 31, -(2 ** 31), 2 ** 51 - 1, -(2 ** 51)])
      assert.equal(unzigzag(zigzag(v)), v);
  });

  it(`varint - random integers of every magnitude round-trip (seed ${SEED})`, () => {
    const rng = mulberry32(SEED);
    for (let k = 0; k < 200; k++) {
      const xs = Array.from({ length: 100 }, () => randomMagnitude(rng));
      roundTripUnsigned(xs);
      roundTripSigned(xs.map((x) => (rng() < 0.5 ? -x : x)));
    }
  });

  it('varint - truncated, over-long or too large varints fail as corrupt', () => {
    const w = new ByteWriter();
    writeUvarint(w, 2 ** 50);
    const buf = w.finish();
    for (let cut = 0; cut < buf.length; cut++) assert.throws(() => readUvarint(new ByteReader(buf, 0, cut)), isCorrupt);
    for (let cut = 0; cut < buf.length; cut++) assert.throws(() => readVarint(new ByteReader(buf, 0, cut)), isCorrupt);
    const nine = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert.throws(() => readUvarint(new ByteReader(nine)), isCorrupt);
    // 8 bytes carrying 2^54 + 1: past the exact range.
    const big = new Uint8Array([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert.throws(() => readUvarint(new ByteReader(big)), isCorrupt);
    const bigSigned = new Uint8Array([0x80, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert.throws(() => readVarint(new ByteReader(bigSigned)), isCorrupt);
  });
});

describe('encoding - bit stream', () => {
  it(`bit stream - random fields of 0..32 bits round-trip (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0x5bd1e995);
    for (let k = 0; k < 200; k++) {
      const fields = Array.from({ length: randInt(rng, 1, 200) }, () => {
        const n = randInt(rng, 0, 32);
        return { n, v: n === 0 ? 0 : Math.floor(rng() * 2 ** n) };
      });
      const w = new ByteWriter(8);
      const bw = new BitWriter(w);
      for (const f of fields) {
        if (f.n === 1 && rng() < 0.5) bw.bit(f.v);
        else bw.bits(f.v, f.n);
      }
      bw.flush();
      const total = fields.reduce((s, f) => s + f.n, 0);
      const buf = w.finish();
      assert.equal(buf.length, Math.ceil(total / 8));
      const r = new ByteReader(buf);
      const br = new BitReader(r);
      for (const f of fields) assert.equal(f.n === 1 ? br.bit() : br.bits(f.n), f.v);
      br.finish();
      r.expectEnd('bits');
    }
  });

  it('bit stream - running out of bits or non-zero padding fails as corrupt', () => {
    const br = new BitReader(new ByteReader(new Uint8Array([0xff])));
    assert.equal(br.bits(7), 0x7f);
    assert.throws(() => br.finish(), isCorrupt);
    assert.throws(() => br.bits(2), isCorrupt);
    assert.throws(() => new BitReader(new ByteReader(new Uint8Array(0))).bit(), isCorrupt);
  });
});
