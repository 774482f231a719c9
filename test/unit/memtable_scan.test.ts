/**
 * Scans of the shard memtable (what a query reads before a flush). Invariants: a scan sees every
 * active and in-flight row once per (series, ts) — or per (series, ts, element id) for a stream —
 * the newest write winning, in time order, trimmed to [minTs, maxTs], with the projected columns
 * of the latest revision (older rows read new ones as missing); it changes nothing in the memtable.
 */
import assert from 'node:assert/strict';
import { Memtable } from '../../actors/data_shard/memtable.js';
import type { BlockRows } from '../../storage/block.js';
import { ELEMENT_ID_COLUMN } from '../../storage/element_id.js';
import { seriesId } from '../../storage/series_id.js';
import type { Measure } from '../../transport/schema_types.js';
import { CPU, el, GROUP, HOUR, logs, memtable, rec, T0, type P } from '../harness/memtable_fixtures.js';

describe('memtable', () => {
  /** A scan result as plain arrays per series, for deepEqual. */
  function plain(
    res: Map<string, BlockRows>,
  ): Record<string, { ts: number[]; fields: Record<string, number[]>; tags: Record<string, unknown[]> }> {
    const out: ReturnType<typeof plain> = {};
    for (const [id, r] of res) {
      out[id] = {
        ts: [...r.timestamps],
        fields: Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, [...v]])),
        tags: Object.fromEntries(Object.entries(r.tags).map(([k, v]) => [k, [...(v as Iterable<unknown>)]])),
      };
    }
    return out;
  }
  const H1 = seriesId('measure', 'cpu', '["h1"]');
  const H2 = seriesId('measure', 'cpu', '["h2"]');
  const ALL = { name: 'cpu', minTs: -Infinity, maxTs: Infinity };
  const values = (res: Map<string, BlockRows>, id: string) => [...(res.get(id)?.fields.value ?? [])];
  const times = (res: Map<string, BlockRows>, id: string) => [...(res.get(id)?.timestamps ?? [])];

  it('memtable scan - sees active rows per series, in time order, de-duplicated, with every column', () => {
    const m = memtable();
    m.apply(
      rec('cpu', [
        ['h1', T0 + 2, { value: 1 }],
        ['h2', T0, { value: 2, count: 3 }, { region: 'eu', port: 80, roles: ['db'] }],
      ]),
      1,
    );
    m.apply(
      rec('cpu', [
        ['h1', T0, { value: 4 }],
        ['h1', T0 + 2, { value: 5 }],
      ]),
      2,
    );
    m.apply(rec('mem', [['h1', T0, { value: 9 }]]), 3);
    const res = m.scan(ALL);
    assert.deepEqual([...res.keys()], [H1, H2].sort());
    assert.deepEqual(plain(res)[H1], {
      ts: [T0, T0 + 2],
      // `_v`: each row's version, the WAL sequence of the record that wrote it (point_version.ts).
      fields: { value: [4, 5], count: [0, 0], _v: [2, 2] },
      tags: { host: ['h1', 'h1'], region: ['', ''], port: [0, 0], roles: [[], []] },
    });
    assert.deepEqual(plain(res)[H2]!.tags, { host: ['h2'], region: ['eu'], port: [80], roles: [['db']] });
    assert.ok(res.get(H2)!.tags.port instanceof Float64Array); // int tags as in parts
    assert.deepEqual(m.scan({ ...ALL, name: 'disk' }), new Map());
    assert.throws(() => m.scan({ name: 'cpu', minTs: 2, maxTs: 1 }), /minTs <= maxTs/);
    assert.equal(m.appliedSequence, 3);
  });

  it('memtable scan - sees drained rows until resetAfterFlush, and leaves the memtable as it was', () => {
    const pts: P[] = [
      ['h1', T0 + 5, { value: 1 }],
      ['h1', T0 - 5, { value: 2 }],
      ['h2', T0 + HOUR, { value: 3 }],
    ];
    const m = memtable();
    const ref = memtable();
    m.apply(rec('cpu', pts), 1);
    ref.apply(rec('cpu', pts), 1);
    m.scan(ALL);
    const batches = m.drainAll();
    assert.deepEqual(batches, ref.drainAll());
    assert.equal(batches.length, 3); // three segments
    m.apply(rec('cpu', [['h2', T0, { value: 4 }]]), 2);
    const res = m.scan(ALL);
    assert.deepEqual(times(res, H1), [T0 - 5, T0 + 5]);
    assert.deepEqual(values(res, H2), [4, 3]);
    assert.equal(m.rowCount, 1);
    assert.equal(m.inFlight.length, 3);
    m.resetAfterFlush(1);
    assert.deepEqual([...m.scan(ALL).keys()], [H2]); // h1's rows were only in flight
    assert.deepEqual(values(m.scan(ALL), H2), [4]);
    assert.deepEqual(
      m.drainAll().map((b) => b.rows.timestamps.length),
      [1],
    );
  });

  it('memtable scan - an active row replaces an in-flight row of the same key; a later drain an earlier one', () => {
    const m = memtable();
    m.apply(
      rec('cpu', [
        ['h1', T0, { value: 1 }],
        ['h1', T0 + 1, { value: 2 }],
      ]),
      1,
    );
    m.drainAll();
    m.apply(
      rec('cpu', [
        ['h1', T0, { value: 10 }],
        ['h1', T0 + 2, { value: 3 }],
      ]),
      2,
    );
    assert.deepEqual(times(m.scan(ALL), H1), [T0, T0 + 1, T0 + 2]);
    assert.deepEqual(values(m.scan(ALL), H1), [10, 2, 3]);
    m.drainAll(); // both batches in flight now: the later one wins
    m.apply(rec('cpu', [['h1', T0 + 1, { value: 20 }]]), 3);
    assert.deepEqual(values(m.scan(ALL), H1), [10, 20, 3]);
    m.resetAfterFlush(1);
    assert.deepEqual(values(m.scan(ALL), H1), [10, 20, 3]);
  });

  it('memtable scan - trims to [minTs, maxTs] inclusive at both ends, in flight and active', () => {
    const m = memtable();
    m.apply(
      rec(
        'cpu',
        [0, 1, 2, 3, 4].map((k): P => ['h1', T0 + k, { value: k }]),
      ),
      1,
    );
    m.drainAll();
    m.apply(
      rec(
        'cpu',
        [5, 6, 7].map((k): P => ['h1', T0 + k, { value: k }]),
      ),
      2,
    );
    assert.deepEqual(values(m.scan({ name: 'cpu', minTs: T0 + 1, maxTs: T0 + 6 }), H1), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(values(m.scan({ name: 'cpu', minTs: T0 + 4, maxTs: T0 + 5 }), H1), [4, 5]);
    assert.deepEqual(values(m.scan({ name: 'cpu', minTs: T0 + 3, maxTs: T0 + 3 }), H1), [3]);
    assert.deepEqual(m.scan({ name: 'cpu', minTs: T0 + 8, maxTs: T0 + HOUR }), new Map());
    assert.deepEqual(m.scan({ name: 'cpu', minTs: T0 - HOUR, maxTs: T0 - 1 }), new Map());
  });

  it('memtable scan - a projection limits the columns, timestamps always kept', () => {
    const m = memtable();
    m.apply(rec('cpu', [['h1', T0, { value: 1, count: 2 }, { region: 'eu', port: 7 }]]), 1);
    m.drainAll();
    m.apply(rec('cpu', [['h1', T0 + 1, { value: 3, count: 4 }, { region: 'us', port: 8 }]]), 2);
    const res = m.scan({ ...ALL, projection: { fields: ['count', 'nope'], tags: ['port'] } });
    assert.deepEqual(plain(res)[H1], { ts: [T0, T0 + 1], fields: { count: [2, 4] }, tags: { port: [7, 8] } });
    assert.deepEqual(plain(m.scan({ ...ALL, projection: { fields: [], tags: [] } }))[H1], {
      ts: [T0, T0 + 1],
      fields: {},
      tags: {},
    });
    assert.deepEqual(Object.keys(m.scan({ ...ALL, projection: { tags: ['host'] } }).get(H1)!.fields), [
      'value',
      'count',
      '_v',
    ]);
  });

  it('memtable scan - a seriesIds filter keeps only those series', () => {
    const m = memtable();
    m.apply(
      rec('cpu', [
        ['h1', T0, { value: 1 }],
        ['h2', T0, { value: 2 }],
        ['h3', T0, { value: 3 }],
      ]),
      1,
    );
    m.drainAll();
    m.apply(
      rec('cpu', [
        ['h1', T0 + 1, { value: 4 }],
        ['h2', T0 + 1, { value: 5 }],
      ]),
      2,
    );
    const res = m.scan({ ...ALL, seriesIds: new Set([H2, 'ffffffffffffffff']) });
    assert.deepEqual([...res.keys()], [H2]);
    assert.deepEqual(values(res, H2), [2, 5]);
    assert.deepEqual(m.scan({ ...ALL, seriesIds: new Set() }), new Map());
  });

  it('memtable scan - columns follow the latest revision; older in-flight rows read new ones as missing', () => {
    const resources: Record<string, Measure> = { cpu: CPU };
    const m = new Memtable({ group: GROUP, resolve: (_k, n) => resources[n] });
    m.apply(rec('cpu', [['h1', T0, { value: 1 }]]), 1);
    m.drainAll();
    resources.cpu = { ...CPU, fields: [...CPU.fields, { name: 'temp', type: 'float' }] };
    m.apply({ ...rec('cpu', [['h1', T0 + 1, { value: 2, temp: 40 }]]), revision: 6 }, 2);
    assert.deepEqual(plain(m.scan(ALL))[H1]!.fields, {
      value: [1, 2],
      count: [0, 0],
      temp: [NaN, 40],
      _v: [1, 2],
    });
  });

  it('memtable scan - stream elements of one ts with different ids are all kept; the same id is replaced', () => {
    const m = memtable();
    const id = seriesId('stream', 'logs', '["h1"]');
    m.apply(logs([el(T0 + 5, 'b'), el(T0 + 5, 'a'), el(T0 + 1, 'c')]), 1);
    m.drainAll();
    m.apply(logs([el(T0 + 5, 'b', 'warn'), el(T0 + 5, 'd'), el(T0 + 9, 'e')]), 2);
    const got = plain(m.scan({ name: 'logs', minTs: T0, maxTs: T0 + 5 }))[id]!;
    assert.deepEqual(got.ts, [T0 + 1, T0 + 5, T0 + 5, T0 + 5]);
    assert.deepEqual(got.tags[ELEMENT_ID_COLUMN], ['c', 'a', 'b', 'd']);
    assert.deepEqual(got.tags.level, ['info', 'info', 'warn', 'info']);
  });
});
