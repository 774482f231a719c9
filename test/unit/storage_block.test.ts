/**
 * Blocks: the rows of one series, column by column, with a trailing crc32.
 * Invariants: every column type round-trips exactly (floats bit for bit); a projection returns
 * only the asked columns; any single flipped byte, or a cut, is a CorruptDataError naming the file.
 */
import assert from 'node:assert/strict';
import { decodeBlock } from '../../storage/block_decode.js';
import {
  BLOCK_MAGIC,
  encodeBlock,
  sliceBlockRows,
  writeU32le,
  type BlockRows,
  type BlockSchema,
} from '../../storage/block.js';
import { crc32, crc32Portable, CRC32_NATIVE, verify } from '../../storage/checksum.js';
import { ByteReader, EncodingError, readUvarint } from '../../storage/encoding/index.js';
import { CorruptDataError } from '../../storage/errors.js';
import { assertSameBits, mulberry32, randInt, SEED } from '../harness/encoding_harness.js';

const PATH = '/data/n1/g/shard-0/seg-0/part-7/data';

const SCHEMA: BlockSchema = {
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
  tags: [
    { name: 'host', type: 'string' },
    { name: 'port', type: 'int' },
    { name: 'labels', type: 'string[]' },
    { name: 'codes', type: 'int[]' },
  ],
};

/** `n` rows with every column type, seeded. */
function makeRows(n: number, rng: () => number): BlockRows {
  const hosts = ['web-1', 'web-2', 'dé-3'];
  return {
    timestamps: Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 10_000 + randInt(rng, 0, 2)),
    fields: {
      value: Float64Array.from({ length: n }, () => (rng() < 0.7 ? randInt(rng, 0, 9999) / 100 : rng() * 1e6)),
      count: Float64Array.from({ length: n }, (_, i) => i * 3 - 7),
    },
    tags: {
      host: Array.from({ length: n }, () => hosts[randInt(rng, 0, 2)]!),
      port: Float64Array.from({ length: n }, () => randInt(rng, 1, 65535)),
      labels: Array.from({ length: n }, () => hosts.slice(0, randInt(rng, 0, 3))),
      codes: Array.from({ length: n }, () => Array.from({ length: randInt(rng, 0, 2) }, () => randInt(rng, -5, 500))),
    },
  };
}

function assertRowsEqual(actual: BlockRows, expected: BlockRows): void {
  assert.deepEqual(Array.from(actual.timestamps), Array.from(expected.timestamps));
  assert.deepEqual(Object.keys(actual.fields).sort(), Object.keys(expected.fields).sort());
  for (const name of Object.keys(expected.fields)) assertSameBits(actual.fields[name]!, expected.fields[name]!, name);
  assert.deepEqual(Object.keys(actual.tags).sort(), Object.keys(expected.tags).sort());
  for (const name of Object.keys(expected.tags)) {
    const a = actual.tags[name]!;
    const e = expected.tags[name]!;
    assert.deepEqual(
      a instanceof Float64Array ? Array.from(a) : a,
      e instanceof Float64Array ? Array.from(e) : e,
      name,
    );
  }
}

function assertCorrupt(fn: () => unknown, path = PATH): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CorruptDataError, `expected CorruptDataError, got ${String(err)}`);
    assert.equal(err.path, path);
    assert.ok(err.message.includes(path), err.message);
    return true;
  });
}

describe('storage - checksum', () => {
  it('checksum - crc32 matches the standard check value, natively and portably', () => {
    const check = new TextEncoder().encode('123456789');
    assert.equal(crc32(check), 0xcbf43926);
    assert.equal(crc32Portable(check), 0xcbf43926);
    assert.equal(typeof CRC32_NATIVE, 'boolean');
    const rng = mulberry32(SEED);
    const data = Uint8Array.from({ length: 5000 }, () => randInt(rng, 0, 255));
    assert.equal(crc32Portable(data), crc32(data));
    assert.equal(crc32(data.subarray(100), crc32(data.subarray(0, 100))), crc32(data), 'running crc continues');
  });

  it('checksum - verify throws CorruptDataError naming the file', () => {
    const data = Uint8Array.of(1, 2, 3);
    verify(PATH, 'thing', data, crc32(data));
    assertCorrupt(() => verify(PATH, 'thing', data, crc32(data) ^ 1));
  });
});

describe('storage - block', () => {
  it(`block - every column type round-trips (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0xb10c);
    for (const n of [0, 1, 2, 17, 1000, 8192]) {
      const rows = makeRows(n, rng);
      const bytes = encodeBlock(rows, SCHEMA);
      assert.deepEqual(bytes.subarray(0, 4), BLOCK_MAGIC);
      assertRowsEqual(decodeBlock(PATH, bytes, SCHEMA), rows);
    }
  });

  it(`block - a time range returns exactly the rows inside it, fields decoded only that far (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0x7a9e);
    let regular = 0;
    for (let round = 0; round < 120; round++) {
      const n = randInt(rng, 1, 400);
      const rows = makeRows(n, rng);
      // Gorilla floats too (not only decimal): random doubles in some rounds; in others 2-decimal
      // readings in [0, 100), whose packed fields are read from the first row in the range.
      if (round % 2 === 1) rows.fields.value = Float64Array.from({ length: n }, () => rng() * 1e9);
      else if (round % 4 === 2) rows.fields.value = Float64Array.from({ length: n }, () => randInt(rng, 0, 9999) / 100);
      // Ints in runs (as row versions are) in some rounds: the range may end inside a run.
      if (round % 3 === 2) rows.fields.count = Float64Array.from({ length: n }, (_, i) => 1000 + Math.floor(i / 7));
      // Evenly spaced timestamps in half the rounds: the range is then found by arithmetic.
      if (round % 4 < 2) {
        rows.timestamps = Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 10_000);
        if (n >= 3) regular++;
      }
      const bytes = encodeBlock(rows, SCHEMA);
      const ts = rows.timestamps;
      // Ranges starting before, inside or after the rows, between two rows or on one.
      const minTs = ts[randInt(rng, 0, n - 1)]! + randInt(rng, -25_000, 25_000);
      const maxTs = minTs + (round % 5 === 0 ? randInt(rng, 0, 9_999) : randInt(rng, 0, 2_000_000));
      let lo = 0;
      while (lo < n && ts[lo]! < minTs) lo++;
      let hi = lo;
      while (hi < n && ts[hi]! <= maxTs) hi++;
      const got = decodeBlock(PATH, bytes, SCHEMA, undefined, 'block', { minTs, maxTs });
      const want = sliceBlockRows(rows, lo, hi);
      assertSameBits(got.timestamps, want.timestamps, 'timestamps');
      for (const f of SCHEMA.fields) assertSameBits(got.fields[f.name]!, want.fields[f.name]!, f.name);
      for (const t of SCHEMA.tags)
        assert.deepEqual(
          Array.from(got.tags[t.name] as ArrayLike<unknown>),
          Array.from(want.tags[t.name] as ArrayLike<unknown>),
          `tag ${t.name}`,
        );
    }
    assert.ok(regular > 40, `${regular} rounds had evenly spaced timestamps`);
  });

  it('block - special floats and large ints round-trip exactly', () => {
    const rows: BlockRows = {
      timestamps: Float64Array.of(-5, 0, 2 ** 50, 2 ** 50 + 1),
      fields: {
        value: Float64Array.of(NaN, -0, Infinity, 5e-324),
        count: Float64Array.of(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0, 1),
      },
      tags: {
        host: ['', '\u{1F600}', '', 'x'],
        port: Float64Array.of(0, 0, 0, 0),
        labels: [[], [''], [], ['a', 'a']],
        codes: [[], [], [2 ** 40], []],
      },
    };
    assertRowsEqual(decodeBlock(PATH, encodeBlock(rows, SCHEMA), SCHEMA), rows);
  });

  it('block - a projection decodes only the asked columns', () => {
    const rows = makeRows(300, mulberry32(SEED ^ 1));
    const bytes = encodeBlock(rows, SCHEMA);
    const got = decodeBlock(PATH, bytes, SCHEMA, { fields: ['count'], tags: ['labels', 'not-in-schema'] });
    assert.deepEqual(Object.keys(got.fields), ['count']);
    assert.deepEqual(Object.keys(got.tags), ['labels']);
    assert.deepEqual(Array.from(got.fields.count!), Array.from(rows.fields.count!));
    assert.deepEqual(got.tags.labels, rows.tags.labels);
    const none = decodeBlock(PATH, bytes, SCHEMA, { fields: [], tags: [] });
    assert.deepEqual([Object.keys(none.fields), Object.keys(none.tags)], [[], []]);
    assert.deepEqual(Array.from(none.timestamps), Array.from(rows.timestamps), 'timestamps are always decoded');
    const onlyTags = decodeBlock(PATH, bytes, SCHEMA, { fields: [] });
    assert.equal(Object.keys(onlyTags.tags).length, 4, 'an omitted list means every column of that kind');
  });

  it('block - a projection skips unwanted columns without decoding them', () => {
    const bytes = encodeBlock(makeRows(50, mulberry32(SEED ^ 7)), SCHEMA);
    // Walk the header to find where the last column (tag "codes") starts.
    const r = new ByteReader(bytes, 4, bytes.length - 4);
    readUvarint(r);
    const cols = readUvarint(r);
    const lens: number[] = [];
    for (let c = 0; c < cols; c++) {
      r.u8();
      readUvarint(r);
      lens.push(readUvarint(r));
    }
    const lastStart = r.pos + lens.slice(0, -1).reduce((a, b) => a + b, 0);
    // Damage that column's first (mode) byte and re-seal the block so the checksum still passes.
    const bad = bytes.slice();
    bad[lastStart] = 0xee;
    writeU32le(bad, bad.length - 4, crc32(bad.subarray(0, bad.length - 4)));
    assertCorrupt(() => decodeBlock(PATH, bad, SCHEMA));
    const got = decodeBlock(PATH, bad, SCHEMA, { tags: ['host', 'port', 'labels'] });
    assert.equal(got.tags.codes, undefined);
    assert.equal(Object.keys(got.fields).length, 2);
  });

  it(`block - a flipped byte anywhere is a CorruptDataError naming the file (seed ${SEED})`, () => {
    const rows = makeRows(40, mulberry32(SEED ^ 2));
    const bytes = encodeBlock(rows, SCHEMA);
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = bytes.slice();
        bad[i]! ^= mask;
        assertCorrupt(() => decodeBlock(PATH, bad, SCHEMA));
      }
    }
  });

  it('block - a cut or empty block is a CorruptDataError naming the file', () => {
    const bytes = encodeBlock(makeRows(40, mulberry32(SEED ^ 3)), SCHEMA);
    for (const len of [0, 3, 12, bytes.length - 5, bytes.length - 1])
      assertCorrupt(() => decodeBlock(PATH, bytes.subarray(0, len), SCHEMA));
  });

  it('block - decoding with a schema of other types is reported as corruption, not garbage', () => {
    const bytes = encodeBlock(makeRows(10, mulberry32(SEED ^ 4)), SCHEMA);
    const other: BlockSchema = { fields: [{ name: 'value', type: 'int' }, SCHEMA.fields[1]!], tags: SCHEMA.tags };
    assertCorrupt(() => decodeBlock(PATH, bytes, other));
    assertCorrupt(() => decodeBlock(PATH, bytes, { fields: SCHEMA.fields, tags: [] }));
  });

  it('block - missing, short or mistyped columns are refused when encoding', () => {
    const rows = makeRows(10, mulberry32(SEED ^ 5));
    const unencodable = (r: BlockRows) =>
      assert.throws(
        () => encodeBlock(r, SCHEMA),
        (e: unknown) => e instanceof EncodingError && e.kind === 'unencodable',
      );
    unencodable({ ...rows, fields: { value: rows.fields.value! } });
    unencodable({ ...rows, fields: { ...rows.fields, count: rows.fields.count!.subarray(1) } });
    unencodable({ ...rows, tags: { ...rows.tags, port: Array.from(rows.tags.port as Float64Array, String) } });
    unencodable({ ...rows, fields: { ...rows.fields, count: rows.fields.count!.map((v) => v + 0.5) } });
  });

  it('block - sliced rows encode the same as copies', () => {
    const rows = makeRows(100, mulberry32(SEED ^ 6));
    const part = sliceBlockRows(rows, 30, 70);
    const copy = decodeBlock(PATH, encodeBlock(part, SCHEMA), SCHEMA);
    assert.equal(copy.timestamps.length, 40);
    assert.deepEqual(Array.from(copy.timestamps), Array.from(rows.timestamps.subarray(30, 70)));
    assert.deepEqual(copy.tags.labels, (rows.tags.labels as string[][]).slice(30, 70));
  });
});
