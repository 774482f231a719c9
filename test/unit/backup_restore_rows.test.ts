/**
 * Restore's rows (runtime/backup/restore_rows.ts): a WAL record's rows and a block's rows become
 * writes with their keys and versions; across a shard's parts and its WAL tail the newest version
 * of each key is the one written, whichever side holds it; missing values are left out.
 */
import assert from 'node:assert/strict';
import { rowsOfBlock, rowsOfWalRecord, TailRows, type RowShape } from '../../runtime/backup/restore_rows.js';
import type { Measure, Stream } from '../../transport/schema_types.js';
import type { WalRecord } from '../../transport/wal_record.js';

const cpu: Measure = {
  group: 'g',
  name: 'cpu',
  entity: ['host'],
  tag_families: [
    {
      name: 'default',
      tags: [
        { name: 'host', type: 'string' },
        { name: 'dc', type: 'string' },
      ],
    },
  ],
  fields: [
    { name: 'value', type: 'float' },
    { name: 'n', type: 'int' },
  ],
} as Measure;
const shape: RowShape = { kind: 'measure', resource: cpu };

function record(ts: number[], values: number[], v?: number[]): WalRecord {
  return {
    kind: 'measure',
    group: 'g',
    name: 'cpu',
    revision: 1,
    batch_id: 'b',
    cols: {
      ts: Float64Array.from(ts),
      fields: {
        value: Float64Array.from(values),
        n: Float64Array.from(values.map(() => 3)),
        ...(v ? { _v: Float64Array.from(v) } : {}),
      },
      tags: { host: ts.map(() => 'a'), dc: ts.map(() => '') },
    },
  };
}

describe('restore rows', () => {
  it('a WAL record - rows with the record sequence as version unless they carry _v; missing values left out', () => {
    const rows = rowsOfWalRecord(shape, record([1, 2], [0.5, NaN]), 40);
    assert.deepEqual(
      rows.map((r) => [r.version, r.write]),
      [
        [40, { ts: 1, tags: { host: 'a' }, fields: { value: 0.5, n: 3 } }],
        [40, { ts: 2, tags: { host: 'a' }, fields: { n: 3 } }],
      ],
    );
    assert.deepEqual(
      rowsOfWalRecord(shape, record([1], [1], [7]), 40).map((r) => r.version),
      [7],
    );
    assert.notEqual(rows[0]!.key, rows[1]!.key);
  });

  it('parts against the WAL tail - the newer version of a key wins on either side, once', () => {
    const tail = new TailRows();
    // ts 1: the tail is newer (seq 50); ts 2: the tail holds a backfilled old copy (_v 5).
    tail.add(rowsOfWalRecord(shape, record([1], [100]), 50));
    tail.add(rowsOfWalRecord(shape, record([2], [200], [5]), 51));
    const block = {
      timestamps: Float64Array.from([1, 2, 3]),
      fields: {
        value: Float64Array.from([1, 2, 3]),
        n: Float64Array.from([0, 0, 0]),
        _v: Float64Array.from([10, 20, 30]),
      },
      tags: { host: ['a', 'a', 'a'], dc: ['x', '', ''] },
    };
    const kept = rowsOfBlock(shape, block).filter((r) => tail.keepPartRow(r));
    assert.deepEqual(
      kept.map((r) => r.write),
      [
        { ts: 2, tags: { host: 'a' }, fields: { value: 2, n: 0 } },
        { ts: 3, tags: { host: 'a' }, fields: { value: 3, n: 0 } },
      ],
    );
    const left = [...tail.remaining().values()].flat();
    assert.deepEqual(
      left.map((r) => r.write),
      [{ ts: 1, tags: { host: 'a' }, fields: { value: 100, n: 3 } }],
    );
    // Later records of one key in the tail replace earlier ones at equal or higher versions.
    const t2 = new TailRows();
    t2.add(rowsOfWalRecord(shape, record([9], [1]), 60));
    t2.add(rowsOfWalRecord(shape, record([9], [2]), 61));
    assert.deepEqual(
      [...t2.remaining().values()].flat().map((r) => (r.write as { fields: unknown }).fields),
      [{ value: 2, n: 3 }],
    );
  });

  it('a stream block - element ids from their column, the key includes them', () => {
    const log = {
      group: 'e',
      name: 'log',
      entity: ['svc'],
      tag_families: [{ name: 'meta', tags: [{ name: 'svc', type: 'string' }] }],
    } as Stream;
    const rows = rowsOfBlock(
      { kind: 'stream', resource: log },
      { timestamps: Float64Array.from([5, 5]), fields: {}, tags: { svc: ['s', 's'], element_id: ['x', 'y'] } },
    );
    assert.deepEqual(
      rows.map((r) => r.write),
      [
        { ts: 5, element_id: 'x', tags: { svc: 's' } },
        { ts: 5, element_id: 'y', tags: { svc: 's' } },
      ],
    );
    assert.notEqual(rows[0]!.key, rows[1]!.key);
  });
});
