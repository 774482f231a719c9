/**
 * A shard's compact rows (storage/query/shard_rows.ts): whatever is built, appended or cut, each row
 * reads back the series, tags and fields it was given — list tags and repeated values included —
 * and a cut page carries only the dictionary values its rows use.
 */
import assert from 'node:assert/strict';
import {
  appendRows,
  ShardRowsBuilder,
  sidAt,
  sliceRows,
  tagAt,
  type ShardRows,
} from '../../storage/query/shard_rows.js';
import { encode } from '../../transport/codec.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';

interface Row {
  ts: number;
  sid: string;
  host: string;
  labels: string[];
  value: number;
}

const build = (rows: Row[]): ShardRows => {
  const b = new ShardRowsBuilder(['host', 'labels'], ['value'], false);
  for (const r of rows) {
    b.row(r.ts, r.sid, null);
    b.tag(0, r.host);
    b.tag(1, r.labels);
    b.field(0, r.value);
  }
  return b.finish();
};

const read = (s: ShardRows): Row[] =>
  Array.from(s.ts, (ts, i) => ({
    ts,
    sid: sidAt(s, i),
    host: tagAt(s, 'host', i) as string,
    labels: tagAt(s, 'labels', i) as string[],
    value: s.fields.value![i]!,
  }));

describe('shard rows', () => {
  const rnd = mulberry32(SEED);
  const randomRows = (n: number): Row[] =>
    Array.from({ length: n }, (_, i) => {
      const s = Math.floor(rnd() * 5);
      return {
        ts: i * 10,
        sid: `s${s}`,
        host: `h${s}`,
        // A list tag, sometimes equal to another row's list as a value but not as an object.
        labels: rnd() < 0.5 ? ['a', `b${s}`] : [],
        value: rnd() < 0.1 ? NaN : rnd() * 100,
      };
    });

  it('built, appended and cut rows read back as given (list tags compared by value)', () => {
    for (let round = 0; round < 50; round++) {
      const a = randomRows(Math.floor(rnd() * 40));
      const b = randomRows(Math.floor(rnd() * 40));
      const both = appendRows(build(a), build(b));
      assert.deepEqual(read(both), [...a, ...b], `round ${round}`);
      // Each distinct list value is held once, not once per row.
      const lists = both.tags.labels!.values.map((v) => JSON.stringify(v));
      assert.equal(new Set(lists).size, lists.length, `round ${round}: ${lists}`);
      const n = Math.floor(rnd() * (a.length + b.length + 1));
      const cut = sliceRows(both, n);
      assert.deepEqual(read(cut), [...a, ...b].slice(0, n), `round ${round}, first ${n}`);
      assert.equal(cut.truncated, n < a.length + b.length ? true : undefined);
    }
  });

  it('a cut page keeps only the series and tag values its rows use', () => {
    // Every row its own series and host: the page of 10 rows must not carry the other 9,990.
    const rows = Array.from({ length: 10_000 }, (_, i) => ({
      ts: i,
      sid: `s${i}`,
      host: `host-${i}`.padEnd(40, 'x'),
      labels: [],
      value: i,
    }));
    const whole = build(rows);
    const page = sliceRows(whole, 10);
    assert.equal(page.series.length, 10);
    assert.equal(page.tags.host!.values.length, 10);
    assert.ok(encode({ rows: page }).length < 2_000, `${encode({ rows: page }).length} bytes`);
    assert.deepEqual(read(page), rows.slice(0, 10));
  });

  it('row codes take the narrowest array their distinct values fit: one series is a byte per row', () => {
    const rowsOf = (series: number) =>
      Array.from({ length: 70_000 }, (_, i) => ({
        ts: i,
        sid: `s${i % series}`,
        host: `host-${i % series}`,
        labels: [],
        value: i,
      }));
    const one = build(rowsOf(1));
    assert.ok(one.si instanceof Uint8Array && one.tags.host!.codes instanceof Uint8Array);
    // Rows of one series: about 3 × 8 bytes of numbers per row, plus a byte per code column.
    assert.ok(encode({ rows: one }).length < 70_000 * 27, `${encode({ rows: one }).length} bytes`);
    const many = build(rowsOf(300));
    assert.ok(many.si instanceof Uint16Array && many.tags.host!.codes instanceof Uint16Array);
    const most = build(rowsOf(66_000));
    assert.ok(most.si instanceof Uint32Array);
    // Appended and cut rows narrow too, and read back as given.
    const both = appendRows(build(rowsOf(1).slice(0, 10)), build(rowsOf(1).slice(10, 20)));
    assert.ok(both.si instanceof Uint8Array);
    assert.deepEqual(read(both), rowsOf(1).slice(0, 20));
    assert.ok(sliceRows(many, 5).si instanceof Uint8Array);
    assert.deepEqual(read(sliceRows(many, 5)), rowsOf(300).slice(0, 5));
  });
});
