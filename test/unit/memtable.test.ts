/**
 * The shard memtable and series ids. Invariants: a later write of a (series, ts) — or of a stream's
 * (series, ts, element id) — replaces the earlier one; drained batches hold one resource and one
 * segment each, sorted by series id then time, and writePart accepts them and reads them back
 * exactly; missing floats read NaN, missing ints 0, missing string tags ''; lastSequence is the
 * highest applied sequence, and a batch's is a sequence every record up to which is drained;
 * re-applying an undrained record changes nothing drained, a drained or stored one is skipped.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Memtable, type FlushBatch } from '../../actors/data_shard/memtable.js';
import { sortSlots } from '../../actors/data_shard/memtable_rows.js';
import { ELEMENT_ID_COLUMN } from '../../storage/element_id.js';
import { seriesId } from '../../storage/series_id.js';
import { walColumns } from '../../transport/wal_record.js';
import type { BlockRows } from '../../storage/block.js';
import { nodeFs } from '../../storage/fs.js';
import { openPart, writePart } from '../../storage/part.js';
import type { Measure } from '../../transport/schema_types.js';
import { mulberry32, randInt, SEED } from '../harness/encoding_harness.js';
import { CPU, el, GROUP, HOUR, logs, memtable, rec, T0, type P } from '../harness/memtable_fixtures.js';
import { useTempDir } from '../harness/temp_dir.js';

/** Asserts the batch is sorted by series id, then time, with each series contiguous. */
function assertSorted(b: FlushBatch): void {
  const { seriesIds: ids, timestamps: ts } = b.rows;
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1]! < ids[i]! || (ids[i - 1] === ids[i] && ts[i - 1]! <= ts[i]!), `row ${i} out of order`);
  }
}

/** FNV-1a 64 over UTF-16 code units with BigInt: the reference for the two-halves version. */
function fnvRef(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) h = ((h ^ BigInt(s.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

describe('series id', () => {
  it('series id - is FNV-1a 64 of kind, name and entity key, as 16 hex characters', () => {
    for (const [name, key] of [
      ['cpu', '["h1"]'],
      ['a', ''],
      ['m', '["ünïcødé ☃ 𝄞",42]'],
      ['x'.repeat(63), '["' + 'y'.repeat(500) + '"]'],
    ]) {
      assert.equal(seriesId('measure', name!, key!), fnvRef(`m\u0000${name}\u0000${key}`));
      assert.equal(seriesId('stream', name!, key!), fnvRef(`s\u0000${name}\u0000${key}`));
    }
    assert.equal(fnvRef('a'), 'af63dc4c8601ec8c'); // the published FNV-1a 64 vector for "a"
    assert.match(seriesId('measure', 'cpu', '["h1"]'), /^[0-9a-f]{16}$/);
    assert.notEqual(seriesId('measure', 'cpu', '["h1"]'), seriesId('measure', 'cpu', '["h2"]'));
    assert.notEqual(seriesId('measure', 'cpu', '["h1"]'), seriesId('stream', 'cpu', '["h1"]'));
  });
});

describe('memtable', () => {
  const tmp = useTempDir('memtable', { each: true });

  async function roundTrip(b: FlushBatch, seq: number): Promise<BlockRows & { seriesIds: string[] }> {
    const partDir = join(tmp.path, `part-${seq}`);
    const opts = { schema: b.schema, formatVersion: '1', lastSequence: b.lastSequence, maxRowsPerBlock: 3 };
    await writePart(nodeFs, partDir, b.rows, opts);
    const part = await openPart(nodeFs, partDir, { supportedVersions: ['1'] });
    try {
      assert.equal(part.metadata.last_sequence, b.lastSequence);
      // Concatenates the blocks back into one struct-of-arrays shaped like the input.
      const ids: string[] = [];
      const ts: number[] = [];
      const fields: Record<string, number[]> = {};
      const tags: Record<string, unknown[]> = {};
      for (const e of part.blocksFor()) {
        const r = await part.readBlock(e);
        ts.push(...r.timestamps);
        for (let i = 0; i < r.timestamps.length; i++) ids.push(e.seriesId);
        for (const k in r.fields) (fields[k] ??= []).push(...r.fields[k]!);
        for (const k in r.tags) (tags[k] ??= []).push(...(r.tags[k] as Iterable<unknown>));
      }
      const typed = (v: unknown[]) => (typeof v[0] === 'number' ? Float64Array.from(v as number[]) : v);
      return {
        seriesIds: ids,
        timestamps: Float64Array.from(ts),
        fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Float64Array.from(v)])),
        tags: Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, typed(v)])) as BlockRows['tags'],
      };
    } finally {
      await part.close();
    }
  }

  it('memtable - a later write of the same (series, ts) replaces the earlier one', () => {
    const m = memtable();
    m.apply(
      rec('cpu', [
        ['h1', T0, { value: 1 }],
        ['h1', T0 + 1000, { value: 2 }],
        ['h2', T0, { value: 3 }],
      ]),
      1,
    );
    m.apply(
      rec('cpu', [
        ['h1', T0, { value: 10, count: 4 }],
        ['h1', T0 + 500, { value: 5 }],
      ]),
      2,
    );
    // Counted as written until the drain keeps one row per key; the distinct count is what it keeps.
    assert.equal(m.rowCount, 5);
    assert.equal(m.distinctRowCount(), 4);
    const [b] = m.drainAll();
    assert.equal(b!.rows.timestamps.length, 4);
    const h1 = seriesId('measure', 'cpu', '["h1"]');
    const rows = [...b!.rows.seriesIds.keys()].filter((i) => b!.rows.seriesIds[i] === h1);
    assert.deepEqual(
      rows.map((i) => b!.rows.timestamps[i]),
      [T0, T0 + 500, T0 + 1000],
    );
    assert.deepEqual(
      rows.map((i) => b!.rows.fields.value![i]),
      [10, 5, 2],
    );
    assert.deepEqual(
      rows.map((i) => b!.rows.fields.count![i]),
      [4, 0, 0],
    );
    assert.equal(m.rowCount, 0);
    assert.equal(m.approxBytes, 0);
  });

  it('memtable - rows split at segment boundaries into one batch per segment', () => {
    const m = memtable();
    const pts: P[] = [
      ['h1', T0 - 1, { value: 1 }],
      ['h1', T0, { value: 2 }],
      ['h2', T0 + HOUR - 1, { value: 3 }],
      ['h2', T0 + 2 * HOUR + 5, { value: 4 }],
    ];
    m.apply(rec('cpu', pts), 1);
    const batches = m.drainAll();
    assert.deepEqual(
      batches.map((b) => [b.segmentStartMs, b.segmentEndMs, b.rows.timestamps.length]),
      [
        [T0 - HOUR, T0, 1],
        [T0, T0 + HOUR, 2],
        [T0 + 2 * HOUR, T0 + 3 * HOUR, 1],
      ],
    );
    for (const b of batches)
      for (const ts of b.rows.timestamps) assert.ok(ts >= b.segmentStartMs && ts < b.segmentEndMs);
  });

  it("memtable - missing floats read NaN, missing ints 0, missing string tags '' (through a part)", async () => {
    const m = memtable();
    m.apply(
      rec('cpu', [
        ['h1', T0, { value: 1.5 }],
        ['h1', T0 + 1, { count: 7 }, { region: 'eu', port: 8080, roles: ['db'] }],
      ]),
      1,
    );
    const [b] = m.drainAll();
    const back = await roundTrip(b!, 1);
    assert.deepEqual([...back.fields.value!], [1.5, NaN]);
    assert.deepEqual([...back.fields.count!], [0, 7]); // an absent int field is indistinguishable from 0
    assert.deepEqual(back.tags.region, ['', 'eu']);
    assert.deepEqual([...(back.tags.port as Float64Array)], [0, 8080]);
    assert.deepEqual(back.tags.roles, [[], ['db']]);
    assert.deepEqual(back.tags.host, ['h1', 'h1']); // entity values are stored: collisions stay resolvable
  });

  it('memtable - an overwrite is found however far apart the times of its series are', () => {
    const m = memtable();
    const DAY = 24 * HOUR;
    // Out of order from the second row on; 30 days is past the small-integer keys of the index.
    const times = [T0, T0 + 30 * DAY, T0 - 30 * DAY, T0 + 1, T0 - 1];
    m.apply(
      rec(
        'cpu',
        times.map((ts, i) => ['h1', ts, { value: i }]),
      ),
      1,
    );
    m.apply(
      rec(
        'cpu',
        [...times].reverse().map((ts, i) => ['h1', ts, { value: 100 + i }]),
      ),
      2,
    );
    assert.equal(m.rowCount, 2 * times.length);
    const rows = m.drainAll().flatMap((b) => [...b.rows.timestamps].map((ts, i) => [ts, b.rows.fields.value![i]]));
    assert.deepEqual(
      rows,
      [...times]
        .reverse()
        .map((ts, i) => [ts, 100 + i])
        .sort((a, b) => a[0]! - b[0]!),
    );
  });

  it('memtable - out-of-order writes of many series drain sorted and round-trip through writePart', async () => {
    const rng = mulberry32(SEED);
    console.log(`      seed ${SEED}`);
    const m = memtable();
    const want = new Map<string, number>(); // "host@ts" → last value written
    for (let seq = 1; seq <= 20; seq++) {
      const pts: P[] = [];
      for (let k = 0; k < 50; k++) {
        const host = `h${randInt(rng, 0, 29)}`;
        const ts = T0 + randInt(rng, -200, 200) * 60_000;
        const value = randInt(rng, 0, 99_999) / 100;
        pts.push([host, ts, { value, count: seq }, { port: seq }]);
        want.set(`${host}@${ts}`, value);
      }
      assert.equal(m.apply(rec('cpu', pts), seq), true);
    }
    assert.equal(m.distinctRowCount(), want.size);
    const batches = m.drainAll();
    assert.equal(
      batches.reduce((n, b) => n + b.rows.timestamps.length, 0),
      want.size,
    );
    let got = 0;
    for (const [i, b] of batches.entries()) {
      assertSorted(b);
      const back = await roundTrip(b, i);
      assert.deepEqual(back.seriesIds, b.rows.seriesIds);
      assert.deepEqual(back.timestamps, b.rows.timestamps);
      assert.deepEqual(back.fields, b.rows.fields);
      assert.deepEqual(back.tags, b.rows.tags);
      for (let r = 0; r < back.timestamps.length; r++) {
        const host = (back.tags.host as string[])[r]!;
        assert.equal(back.seriesIds[r], seriesId('measure', 'cpu', JSON.stringify([host])));
        assert.equal(back.fields.value![r], want.get(`${host}@${back.timestamps[r]}`));
        got++;
      }
    }
    assert.equal(got, want.size);
  });

  it('memtable - tracks lastSequence and skips records already stored or drained', () => {
    const m = memtable({ resumeAfter: 10, now: 1234 });
    assert.equal(m.lastSequence, 10);
    assert.equal(m.oldestAppliedAtMs, null);
    assert.equal(m.apply(rec('cpu', [['h1', T0, { value: 1 }]]), 7), false);
    assert.equal(m.rowCount, 0);
    assert.equal(m.apply(rec('cpu', [['h1', T0, { value: 1 }]]), 11), true);
    assert.equal(m.oldestAppliedAtMs, 1234);
    assert.equal(m.apply(rec('cpu', [['h1', T0 + 1, { value: 2 }]]), 12, 5000), true);
    assert.equal(m.oldestAppliedAtMs, 1234);
    assert.equal(m.lastSequence, 12);
    const batches = m.drainAll();
    assert.deepEqual(
      batches.map((b) => b.lastSequence),
      [12],
    );
    assert.equal(m.oldestAppliedAtMs, null);
    assert.equal(m.inFlight.length, 1);
    // A redelivery of a drained record is skipped.
    assert.equal(m.apply(rec('cpu', [['h1', T0, { value: 1 }]]), 12), false);
    assert.equal(m.rowCount, 0);
    m.apply(rec('cpu', [['h1', T0 + 2, { value: 3 }]]), 13, 9000);
    assert.equal(m.oldestAppliedAtMs, 9000);
    m.resetAfterFlush(12);
    assert.equal(m.inFlight.length, 0);
    assert.equal(m.rowCount, 1);
  });

  it('memtable - re-applying an undrained record is idempotent', () => {
    const r1 = rec('cpu', [
      ['h1', T0, { value: 1 }],
      ['h2', T0, { value: 2 }],
      ['h1', T0 - 5, { value: 3 }],
    ]);
    const once = memtable();
    once.apply(r1, 1);
    const twice = memtable();
    twice.apply(r1, 1);
    twice.apply(r1, 1);
    // A measure's repeated key is counted until the drain resolves it; what is stored is the same.
    assert.equal(twice.rowCount, 2 * once.rowCount);
    assert.equal(twice.lastSequence, 1);
    assert.deepEqual(twice.drainAll(), once.drainAll());
  });

  it('memtable - drain(name) records a sequence before the oldest undrained record of other names', () => {
    const m = memtable();
    m.apply(rec('cpu', [['h1', T0, { value: 1 }]]), 1);
    m.apply(rec('mem', [['h1', T0, { value: 2 }]]), 2);
    m.apply(rec('cpu', [['h1', T0 + 1, { value: 3 }]]), 3);
    const cpu = m.drain('cpu');
    assert.deepEqual(
      cpu.map((b) => [b.name, b.lastSequence, b.rows.timestamps.length]),
      [['cpu', 1, 2]],
    );
    assert.deepEqual(m.drain('nothing'), []);
    assert.equal(m.rowCount, 1);
    const rest = m.drainAll();
    assert.deepEqual(
      rest.map((b) => [b.name, b.lastSequence]),
      [['mem', 3]],
    );
  });

  it('memtable - stream elements de-duplicate by (series, ts, element id) and store the id column', async () => {
    const m = memtable();
    m.apply(logs([el(T0 + 5, 'a'), el(T0 + 5, 'b'), el(T0 + 1, 'c')]), 1);
    m.apply(logs([el(T0 + 5, 'a', 'warn')]), 2);
    assert.equal(m.rowCount, 3);
    const [b] = m.drainAll();
    const tags = [
      { name: 'host', type: 'string' },
      { name: 'level', type: 'string' },
      { name: ELEMENT_ID_COLUMN, type: 'string' },
    ];
    assert.deepEqual(b!.schema, { fields: [{ name: '_v', type: 'int' }], tags });
    const back = await roundTrip(b!, 1);
    assert.deepEqual([...back.timestamps], [T0 + 1, T0 + 5, T0 + 5]);
    assert.deepEqual(back.tags[ELEMENT_ID_COLUMN], ['c', 'a', 'b']);
    assert.deepEqual(back.tags.level, ['info', 'warn', 'info']);
  });

  it('memtable - a newer resource revision adds columns; earlier rows read them as missing', () => {
    const resources: Record<string, Measure> = { cpu: CPU };
    const m = new Memtable({ group: GROUP, resolve: (_k, n) => resources[n] });
    m.apply(rec('cpu', [['h1', T0, { value: 1 }]]), 1);
    resources.cpu = { ...CPU, fields: [...CPU.fields, { name: 'temp', type: 'float' }] };
    m.apply({ ...rec('cpu', [['h1', T0 + 1, { value: 2, temp: 40 }]]), revision: 6 }, 2);
    const [b] = m.drainAll();
    assert.deepEqual(
      b!.schema.fields.map((f) => f.name),
      ['value', 'count', 'temp', '_v'],
    );
    assert.deepEqual([...b!.rows.fields.value!], [1, 2]);
    assert.deepEqual([...b!.rows.fields.temp!], [NaN, 40]);
  });

  it('memtable - refuses records of another group or an unknown resource', () => {
    const m = memtable();
    assert.throws(() => m.apply({ ...rec('cpu', [['h1', T0, { value: 1 }]]), group: 'other' }, 1), /group other/);
    assert.throws(() => m.apply(rec('disk', [['h1', T0, { value: 1 }]]), 1), /not applied/);
    assert.throws(() => m.apply(rec('cpu', []), 0), /positive integer/);
    // A dictionary whose code names no value is no column: refused as the entity tag, nothing applied.
    const { rows, entity_keys: _keys, ...rest } = rec('cpu', [['h1', T0, { value: 1 }]]);
    const cols = walColumns('measure', CPU, rows!, [0]);
    cols.tags.host = { values: ['h1'], codes: Uint8Array.of(1) };
    assert.throws(() => m.apply({ ...rest, cols }, 1), /entity tag column is missing/);
    assert.equal(m.rowCount, 0);
  });
});

describe('memtable flush order', () => {
  it('sortSlots orders row slots by (time, slot) as the general sort does: interleaved runs, ties, any order', () => {
    const rng = mulberry32(SEED ^ 0x51075);
    const shapes = ['writers', 'ties', 'random', 'reverse'] as const;
    for (let round = 0; round < 400; round++) {
      const shape = shapes[round % shapes.length]!;
      const n = randInt(rng, 0, 400);
      const ts = new Float64Array(n);
      if (shape === 'writers') {
        // Up to 4 writers, each sending its own stretch of time in order, their rows interleaved.
        const writers = randInt(rng, 1, 4);
        const next = Array.from({ length: writers }, (_, w) => w * 1000);
        for (let i = 0; i < n; i++) ts[i] = next[randInt(rng, 0, writers - 1)]! += 10;
      } else if (shape === 'ties') for (let i = 0; i < n; i++) ts[i] = randInt(rng, 0, 5);
      else if (shape === 'random') for (let i = 0; i < n; i++) ts[i] = rng() * 1e6;
      else for (let i = 0; i < n; i++) ts[i] = n - i;
      const pos = Int32Array.from({ length: n }, (_, i) => i);
      const want = Int32Array.from(pos).sort((x, y) => ts[x]! - ts[y]! || x - y);
      assert.deepEqual(sortSlots(pos, ts), want, `round ${round} (${shape}, ${n} rows)`);
    }
  });
});
