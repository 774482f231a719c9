/**
 * How WAL records enter the memtable (actors/data_shard/memtable_apply.ts): a columnar record, its
 * tags plain or as the dictionaries the shard decodes, applies exactly like the same rows as
 * objects, for measures (appended column by column) and streams (row by row); a repeated key keeps
 * the row of the highest version, the last applied among equal ones, drained and scanned.
 */
import assert from 'node:assert/strict';
import { seriesId } from '../../storage/series_id.js';
import { decodeWalRecord, encodeWalRecord, walColumns } from '../../transport/wal_record.js';
import type { BlockRows } from '../../storage/block.js';
import type { FlushBatch } from '../../actors/data_shard/memtable.js';
import { mulberry32, randInt, SEED } from '../harness/encoding_harness.js';
import { CPU, HOUR, logs, LOGS, memtable, rec, T0, type P } from '../harness/memtable_fixtures.js';

/** Asserts the batch is sorted by series id, then time, with each series contiguous. */
function assertSorted(b: FlushBatch): void {
  const { seriesIds: ids, timestamps: ts } = b.rows;
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1]! < ids[i]! || (ids[i - 1] === ids[i] && ts[i - 1]! <= ts[i]!), `row ${i} out of order`);
  }
}

describe('memtable apply', () => {
  it('memtable - a stream columnar record, tags as dictionaries, applies exactly like its rows', () => {
    const rnd = mulberry32(SEED ^ 0x57e);
    const byRows = memtable();
    const byCols = memtable();
    for (let seq = 1; seq <= 8; seq++) {
      const rows = Array.from({ length: 40 }, () => ({
        ts: T0 + randInt(rnd, 0, 20),
        element_id: `e${randInt(rnd, 0, 5)}`,
        tags: { host: `h${randInt(rnd, 0, 2)}`, level: rnd() < 0.5 ? 'info' : 'warn' },
      }));
      byRows.apply({ ...logs(rows), entity_keys: rows.map((r) => JSON.stringify([r.tags.host])) }, seq);
      const cols = walColumns(
        'stream',
        LOGS,
        rows,
        rows.map((_, i) => i),
      );
      const record = { kind: 'stream' as const, group: 'g', name: 'logs', revision: 1, batch_id: 'b', cols };
      const decoded = decodeWalRecord(encodeWalRecord(record), 'dictionaries');
      assert.ok(!Array.isArray(decoded.cols!.tags.host), 'host travels as a dictionary');
      byCols.apply(decoded, seq);
    }
    const q = { name: 'logs', minTs: T0, maxTs: T0 + HOUR };
    assert.equal(byCols.rowCount, byRows.rowCount);
    assert.deepEqual(byCols.scan(q), byRows.scan(q));
  });

  it('memtable - a columnar WAL record (what liaisons write) applies exactly like its rows, overwrites and missing values included', () => {
    const points: P[] = [];
    const rnd = mulberry32(SEED ^ 0xc01);
    for (let i = 0; i < 500; i++) {
      const fields: Record<string, number> =
        rnd() < 0.8 ? { value: randInt(rnd, 0, 1000) / 4, count: randInt(rnd, 0, 9) } : { count: 1 };
      const tags = rnd() < 0.5 ? { region: 'eu', port: randInt(rnd, 1, 3), roles: ['a'] } : {};
      points.push([`h${randInt(rnd, 0, 7)}`, T0 + randInt(rnd, 0, 200) * 1000, fields, tags]);
    }
    const byRows = memtable();
    const byCols = memtable();
    // As the shard reads the WAL: repeating string tags as dictionaries (host, region).
    const byDictionaries = memtable();
    let dictionaries = 0;
    for (let k = 0; k < points.length; k += 100) {
      const r = rec('cpu', points.slice(k, k + 100));
      byRows.apply(r, k / 100 + 1);
      const { rows, entity_keys: _keys, ...rest } = r;
      const record = {
        ...rest,
        cols: walColumns(
          'measure',
          CPU,
          rows!,
          rows!.map((_, i) => i),
        ),
      };
      byCols.apply(record, k / 100 + 1);
      const decoded = decodeWalRecord(encodeWalRecord(record), 'dictionaries');
      dictionaries += Object.values(decoded.cols!.tags).filter((c) => !Array.isArray(c)).length;
      byDictionaries.apply(decoded, k / 100 + 1);
    }
    assert.ok(dictionaries >= 5, `${dictionaries} dictionary columns`);
    const q = { name: 'cpu', minTs: T0, maxTs: T0 + HOUR };
    assert.equal(byCols.rowCount, byRows.rowCount);
    assert.deepEqual(byCols.scan(q), byRows.scan(q));
    assert.deepEqual(byDictionaries.scan(q), byRows.scan(q));
  });
  it('memtable - row versions decide a repeated key as replacing row by row would, drained and scanned', () => {
    const rnd = mulberry32(SEED ^ 0x7e51);
    for (let round = 0; round < 40; round++) {
      const m = memtable();
      // The reference: each key's value and version, replaced unless the held version is higher.
      const want = new Map<string, { value: number; v: number }>();
      const records = randInt(rnd, 1, 12);
      for (let seq = 1; seq <= records; seq++) {
        const points: P[] = [];
        for (let i = randInt(rnd, 1, 60); i > 0; i--)
          points.push([`h${randInt(rnd, 0, 5)}`, T0 + randInt(rnd, 0, 30) * 1000, { value: randInt(rnd, 0, 9999) }]);
        const r = rec('cpu', points);
        // Some records carry their own versions (a backfill's or a dual write's `_v`), some older than held rows.
        const own = rnd() < 0.5 ? Float64Array.from(points, () => randInt(rnd, 1, 2 * records)) : null;
        points.forEach(([host, ts, f], i) => {
          const key = `${host}@${ts}`;
          const v = own ? own[i]! : seq;
          const held = want.get(key);
          if (!held || held.v <= v) want.set(key, { value: f.value!, v });
        });
        if (own === null && rnd() < 0.5) m.apply(r, seq);
        else {
          const { rows, entity_keys: _keys, ...rest } = r;
          const cols = walColumns(
            'measure',
            CPU,
            rows!,
            rows!.map((_, i) => i),
          );
          if (own) cols.fields._v = own;
          m.apply({ ...rest, cols }, seq);
        }
      }
      const got = (rowsOf: Iterable<[string, BlockRows]>) => {
        const out = new Map<string, { value: number; v: number }>();
        for (const [id, b] of rowsOf) {
          const host = [...want.keys()]
            .map((k) => k.split('@')[0]!)
            .find((h) => seriesId('measure', 'cpu', `["${h}"]`) === id)!;
          b.timestamps.forEach((ts, i) => {
            assert.ok(!out.has(`${host}@${ts}`), `round ${round}: ${host}@${ts} twice`);
            out.set(`${host}@${ts}`, { value: b.fields.value![i]!, v: b.fields._v![i]! });
          });
        }
        return out;
      };
      const sorted = (x: Map<string, unknown>) => new Map([...x].sort(([a], [b]) => (a < b ? -1 : 1)));
      assert.deepEqual(
        sorted(got(m.scan({ name: 'cpu', minTs: T0, maxTs: T0 + HOUR }))),
        sorted(want),
        `round ${round}: scan`,
      );
      const drained = m.drainAll().flatMap((b) => {
        assertSorted(b);
        const bySeries = new Map<string, BlockRows>();
        b.rows.seriesIds.forEach((id, i) => {
          let rows = bySeries.get(id);
          if (!rows)
            bySeries.set(
              id,
              (rows = { timestamps: new Float64Array(0), fields: { value: [], _v: [] }, tags: {} } as never),
            );
          rows.timestamps = Float64Array.of(...rows.timestamps, b.rows.timestamps[i]!);
          (rows.fields.value as unknown as number[]).push(b.rows.fields.value![i]!);
          (rows.fields._v as unknown as number[]).push(b.rows.fields._v![i]!);
        });
        return [...bySeries];
      });
      assert.deepEqual(sorted(got(drained)), sorted(want), `round ${round}: drained`);
    }
  });
});
