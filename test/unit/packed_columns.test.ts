/**
 * Packed columns (`columns: "packed"`): what goes on the wire is smaller where it can be, and what
 * a client unpacks is bit for bit what was packed — on random columns of every kind a reply holds.
 * WAL records pack their times and fields the same way.
 */
import assert from 'node:assert/strict';
import { decode, encode } from '../../transport/codec.js';
import { packTimes, packValues, plainColumns, plainTimes, plainValues } from '../../transport/packed_columns.js';
import type { DeltaTimes, PackedTimes, PackedValues } from '../../transport/query_types.js';
import { decodeWalRecord, encodeWalRecord } from '../../transport/wal_record.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';

const rnd = mulberry32(SEED ^ 0x9acc);

/** The bits of each value (so -0 differs from 0 and NaNs compare equal). */
const bits = (a: Float64Array): bigint[] => Array.from(new BigInt64Array(a.buffer, a.byteOffset, a.length));

/** A random column of `n` values of one kind a field holds. */
function randomValues(n: number): { kind: string; col: Float64Array } {
  const kinds: [string, () => number][] = [
    ['2 decimals', () => Math.round((rnd() - 0.3) * 1e6) / 100],
    ['small ints', () => Math.floor(rnd() * 200) - 100],
    ['large ints', () => Math.floor(rnd() * 2 ** 40)],
    ['6 decimals', () => Math.round(rnd() * 1e7) / 1e6],
    ['any double', () => rnd() * 1e3],
    ['tiny', () => rnd() * 1e-12],
    ['huge', () => 1e300 * rnd()],
  ];
  const [kind, gen] = kinds[Math.floor(rnd() * kinds.length)]!;
  const col = Float64Array.from({ length: n }, gen);
  const extra = rnd();
  if (extra < 0.1 && n > 0) col[Math.floor(rnd() * n)] = Number.NaN;
  else if (extra < 0.15 && n > 0) col[Math.floor(rnd() * n)] = -0;
  else if (extra < 0.2 && n > 0) col[Math.floor(rnd() * n)] = Number.POSITIVE_INFINITY;
  return { kind, col };
}

/** Random times of `n` rows: ascending or descending steps, sometimes past Int32 or fractional. */
function randomTimes(n: number): Float64Array {
  const step = [1, 10_000, 60_000, 3_600_000, 40 * 86_400_000][Math.floor(rnd() * 5)]!;
  const sign = rnd() < 0.5 ? 1 : -1;
  let t = 1_700_000_000_000;
  const regular = rnd() < 0.3; // evenly spaced: one step
  const ts = Float64Array.from({ length: n }, () => (t += sign * (regular ? 1 : Math.floor(rnd() * 3)) * step));
  if (rnd() < 0.1 && n > 0) ts[Math.floor(rnd() * n)]! += 0.5;
  return ts;
}

describe('packed columns', () => {
  it('unpack to the very values packed, through msgpack, on random columns', () => {
    const packed = { times: 0, values: 0 };
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(rnd() * 300);
      const { kind, col } = randomValues(n);
      const ts = randomTimes(n);
      const wire = decode(encode({ ts: packTimes(ts), fields: { v: packValues(col) }, tags: {} })) as {
        ts: Float64Array | PackedTimes;
        fields: { v: Float64Array | PackedValues };
      };
      const plain = plainColumns({ ...wire, tags: {} });
      assert.deepEqual(bits(plain.ts as Float64Array), bits(ts), `times of column ${i}`);
      assert.deepEqual(bits(plain.fields.v as Float64Array), bits(col), `values of column ${i} (${kind})`);
      if (!(wire.ts instanceof Float64Array)) packed.times++;
      if (!(wire.fields.v instanceof Float64Array)) packed.values++;
    }
    // Both forms occur: the check above covers packed and plain columns alike.
    assert.ok(packed.times > 500 && packed.times < 1900, `packed times: ${packed.times}`);
    assert.ok(packed.values > 500 && packed.values < 1900, `packed values: ${packed.values}`);
  });

  it('a day of one series every 10 s with 2-decimal values takes a quarter of the bytes', () => {
    const n = 8640;
    const ts = Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 10_000);
    const col = Float64Array.from({ length: n }, () => Math.round(rnd() * 10_000) / 100);
    assert.deepEqual(packTimes(ts), { base: ts[0], step: 10_000, count: n }, 'evenly spaced: one step');
    ts[100]! += 1; // one late point
    const t = packTimes(ts) as DeltaTimes;
    const v = packValues(col) as PackedValues;
    assert.equal(t.base, ts[0]);
    assert.ok(t.deltas instanceof Int16Array, 'steps of 10 s fit 16 bits');
    assert.equal(v.scale, 2);
    assert.ok(v.ints instanceof Int16Array, 'hundredths up to 100.00 fit 16 bits');
    const plainBytes = encode({ ts, col }).length;
    const packedBytes = encode({ ts: t, col: v }).length;
    assert.ok(packedBytes * 4 < plainBytes * 1.01, `${packedBytes} B packed against ${plainBytes} B plain`);
    assert.deepEqual(bits(plainTimes(t)), bits(ts));
    assert.deepEqual(bits(plainValues(v)), bits(col));
  });

  it('keeps a column plain when packing would change a value', () => {
    for (const col of [[1.5, Number.NaN], [0, -0], [0.1 + 0.2], [2 ** 31], [1e-10], [Number.NEGATIVE_INFINITY]])
      assert.ok(packValues(Float64Array.from(col)) instanceof Float64Array, `[${col.join(', ')}] stays plain`);
    for (const ts of [
      [0, 2 ** 32],
      [0, 0.5],
    ])
      assert.ok(packTimes(Float64Array.from(ts)) instanceof Float64Array, `times [${ts.join(', ')}] stay plain`);
    assert.deepEqual(packValues(Float64Array.from([-1.25, 3])), { scale: 2, ints: Int16Array.from([-125, 300]) });
    assert.deepEqual(packValues(Float64Array.from([7, -8])), { scale: 0, ints: Int8Array.from([7, -8]) });
  });
});

/** Tag columns of `n` rows: repeating and unique strings (empty, non-ASCII), ints, lists. */
function randomTags(n: number): Record<string, unknown[]> {
  const few = ['', 'eu-west', 'héllo', '東京', 'a'.repeat(300)];
  return {
    host: Array.from({ length: n }, (_, k) => `h${k % (1 + Math.floor(rnd() * 9))}`),
    region: Array.from({ length: n }, () => few[Math.floor(rnd() * few.length)]!),
    unique: Array.from({ length: n }, (_, k) => `u${k}`),
    rack: Array.from({ length: n }, () => Math.floor(rnd() * 3)),
    roles: Array.from({ length: n }, () => (rnd() < 0.5 ? ['a', 'b'] : [])),
  };
}

describe('WAL records with packed columns', () => {
  const record = (ts: Float64Array, fields: Record<string, Float64Array>, tags: Record<string, unknown[]> = {}) =>
    ({ kind: 'measure', group: 'g', name: 'cpu', revision: 3, batch_id: 'b1', cols: { ts, fields, tags } }) as const;

  it('read back bit for bit, packed where exact, on random columns', () => {
    let packedBytes = 0;
    let plainBytes = 0;
    for (let i = 0; i < 1000; i++) {
      const n = 1 + Math.floor(rnd() * 300);
      const a = randomValues(n);
      const b = randomValues(n);
      const ts = randomTimes(n);
      const tags = randomTags(n);
      const rec = record(ts, { a: a.col, b: b.col, _v: Float64Array.from({ length: n }, () => 1 + i) }, tags);
      const bytes = encodeWalRecord(rec);
      packedBytes += bytes.length;
      plainBytes += encode(rec).length;
      const got = decodeWalRecord(bytes);
      assert.deepEqual({ ...got, cols: undefined }, { ...rec, cols: undefined }, `record ${i}`);
      const cols = got.cols!;
      assert.deepEqual(bits(cols.ts), bits(ts), `times of record ${i}`);
      for (const [f, want] of Object.entries(rec.cols.fields))
        assert.deepEqual(bits(cols.fields[f]!), bits(want), `${f} of record ${i} (${a.kind}, ${b.kind})`);
      assert.deepEqual(cols.tags, tags);
      const wire = decode(bytes) as { cols: { tags: Record<string, unknown> } };
      if (n > 20) assert.ok(!Array.isArray(wire.cols.tags.host), 'a repeating string tag travels as a dictionary');
      assert.ok(Array.isArray(wire.cols.tags.rack) && Array.isArray(wire.cols.tags.roles), 'other tags as they are');
    }
    assert.ok(packedBytes < 0.8 * plainBytes, `${packedBytes} B packed against ${plainBytes} B plain`);
  });

  it('a batch of the bench shape takes under a third of the bytes; a record written plain reads as written', () => {
    // 1,250 points of 250 series: five steps of 10 s, two random 2-decimal floats, host and region.
    const n = 1250;
    const ts = Float64Array.from({ length: n }, (_, k) => 1_700_000_000_000 + Math.floor(k / 250) * 10_000);
    const f = () => Float64Array.from({ length: n }, () => Math.round(rnd() * 10_000) / 100);
    const tags = {
      host: Array.from({ length: n }, (_, k) => `host-${String(k % 250).padStart(4, '0')}`),
      region: Array.from({ length: n }, (_, k) => `r${k % 10}`),
    };
    const rec = record(ts, { f1: f(), f2: f() }, tags);
    const packed = encodeWalRecord(rec).length;
    const plain = encode(rec).length;
    // Times and fields go from 24 to 6 bytes a point; the tags' strings from 13 to about 5.
    assert.ok(packed < 0.3 * plain, `${packed} B packed against ${plain} B plain`);
    // Records of earlier versions (and backfills written by them) carry plain Float64Arrays.
    const old = decodeWalRecord(encode(rec));
    assert.deepEqual(bits(old.cols!.ts), bits(ts));
    assert.deepEqual(bits(old.cols!.fields.f1!), bits(rec.cols.fields.f1!));
  });

  it('a tag dictionary with a code past its values is left for the memtable to refuse', () => {
    const bad = { values: ['a'], codes: Uint8Array.of(0, 1) };
    const rec = {
      ...record(new Float64Array(2), {}),
      cols: { ts: new Float64Array(2), fields: {}, tags: { host: bad } },
    };
    assert.deepEqual(decodeWalRecord(encode(rec)).cols!.tags.host, bad);
  });

  it('a column that only looks packed is left for the memtable to refuse', () => {
    const bad = encode({
      ...record(new Float64Array(1), {}),
      cols: { ts: { base: 'x', deltas: [1] }, fields: {}, tags: {} },
    });
    assert.deepEqual(decodeWalRecord(bad).cols!.ts, { base: 'x', deltas: [1] });
  });
});
