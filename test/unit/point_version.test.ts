/**
 * Versioned points (storage/point_version.ts): for one key the row of the highest version is what a
 * query reads, whichever arrived last — in the memtable, between the memtable and parts, between
 * parts, and after a merge. The case it exists for: a backfill copies an old value (low version)
 * into a generation that already holds the value written during the copy (high version); the old
 * value must not come back. Rows of parts written before versions existed read as version 0.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Memtable } from '../../actors/data_shard/memtable.js';
import { nodeFs } from '../../storage/fs.js';
import { writePart } from '../../storage/part.js';
import { VERSION_COLUMN } from '../../storage/point_version.js';
import { executeOnShard, shardSource } from '../../storage/query/shard_run.js';
import { planQuery } from '../../storage/query/plan.js';
import { seriesId } from '../../storage/series_id.js';
import { ShardStore } from '../../storage/shard_store.js';
import type { Group, Measure } from '../../transport/schema_types.js';
import { walColumns, type WalRecord } from '../../transport/wal_record.js';
import { FakeClock } from '../harness/fake_clock.js';
import { useTempDir } from '../harness/temp_dir.js';

const T0 = Date.UTC(2026, 0, 5);
const GROUP: Group = { name: 'g', catalog: 'measure', shards: 1, segment_interval: '1d', ttl: '30d', replicas: 1 };
const CPU: Measure = {
  group: 'g',
  name: 'cpu',
  entity: ['host'],
  tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }],
  fields: [{ name: 'value', type: 'float' }],
};
const H1 = seriesId('measure', 'cpu', '["h1"]');

/** A record writing value `v` for h1 at `ts`; with `version`, the record carries it (a dual write's twin, a backfill). */
function record(ts: number, v: number, version?: number): WalRecord {
  const cols = walColumns('measure', CPU, [{ ts, tags: { host: 'h1' }, fields: { value: v } }], [0]);
  if (version !== undefined) cols.fields[VERSION_COLUMN] = Float64Array.of(version);
  return { kind: 'measure', group: 'g', name: 'cpu', revision: 1, batch_id: `b${v}`, cols };
}

describe('versioned points', () => {
  const tmp = useTempDir('point-version');
  const clock = new FakeClock(T0 + 3_600_000);
  let n = 0;
  const stores: ShardStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });
  const open = async () => {
    const s = await ShardStore.open(nodeFs, join(tmp.path, `s${n++}`), { clock });
    stores.push(s);
    return s;
  };
  const memtable = () => new Memtable({ group: GROUP, resolve: () => CPU, clock });
  /** What a query reads for h1 at T0 from the memtable laid over the store. */
  const read = async (m: Memtable, s: ShardStore): Promise<number[]> => {
    const { plan } = planQuery('measure', { group: 'g', name: 'cpu', from: T0, to: T0 + 1 }, CPU);
    const r = await executeOnShard(
      plan,
      shardSource((q) => m.scan(q), s),
    );
    return [...r.rows!.fields.value!];
  };
  const memValue = (m: Memtable) => [...m.scan({ name: 'cpu', minTs: T0, maxTs: T0 }).get(H1)!.fields.value!];

  it('version - in the memtable a lower version never replaces a higher one; without `_v` a row is versioned by its sequence', () => {
    const m = memtable();
    m.apply(record(T0, 2), 10); // version 10
    m.apply(record(T0, 1, 5), 20); // a backfilled old value: version 5 < 10
    assert.deepEqual(memValue(m), [2]);
    m.apply(record(T0, 3), 30); // a later write: version 30
    assert.deepEqual(memValue(m), [3]);
    m.apply(record(T0, 4, 30), 31); // an equal version: the later arrival, as before versions
    assert.deepEqual(memValue(m), [4]);
    const [batch] = m.drainAll();
    assert.deepEqual([...batch!.rows.fields[VERSION_COLUMN]!], [30]);
  });

  it('version - a memtable row of a lower version loses to a flushed part, between parts too, and after a merge', async () => {
    const s = await open();
    const m = memtable();
    m.apply(record(T0, 2), 10);
    await s.flush(m.drainAll());
    m.resetAfterFlush(10);
    m.apply(record(T0, 1, 5), 11); // the backfill of the old value arrives after the new one was flushed
    assert.deepEqual(await read(m, s), [2], 'memtable (v5) over part (v10)');
    await s.flush(m.drainAll());
    m.resetAfterFlush(11);
    assert.equal(s.listParts().length, 2);
    assert.deepEqual(await read(m, s), [2], 'newer part (v5) against older part (v10)');
    const done = await s.merge({ keyTagOf: () => null, maxPartsPerName: 1, minPartsPerMerge: 2 });
    assert.equal(done.length, 1, 'the two parts merged');
    assert.deepEqual(await read(m, s), [2], 'the merged part kept the higher version');
    m.apply(record(T0, 7), 12); // a write after all of it wins
    assert.deepEqual(await read(m, s), [7]);
  });

  it('version - rows of a part written before versions existed (format 1, no `_v`) read as version 0', async () => {
    const s = await open();
    const m = memtable();
    m.apply(record(T0, 2), 10);
    await s.flush(m.drainAll());
    m.resetAfterFlush(10);
    // A format-1 part at the same key, newer by part order: its row still loses to the versioned one.
    const [seg] = s.listParts().map((p) => p.part.dir);
    const legacyDir = join(seg!, '..', 'part-99');
    await writePart(
      nodeFs,
      legacyDir,
      {
        seriesIds: [H1],
        timestamps: Float64Array.of(T0),
        fields: { value: Float64Array.of(9) },
        tags: { host: ['h1'] },
      },
      {
        schema: { fields: [{ name: 'value', type: 'float' }], tags: [{ name: 'host', type: 'string' }] },
        formatVersion: '1',
        lastSequence: 10,
      },
    );
    const reopened = await ShardStore.open(nodeFs, join(seg!, '..', '..', '..'), { clock });
    stores.push(reopened);
    assert.equal(reopened.listParts().length, 2, 'the format-1 part is read');
    assert.deepEqual(await read(memtable(), reopened), [2]);
  });
});
