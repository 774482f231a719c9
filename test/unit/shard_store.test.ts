/**
 * The shard store (storage/shard_store.ts): segments, parts, flush, scan, merge and retention of one
 * (group, shard). Invariants: what a flush committed reads back after a reopen, with the same
 * lastSequence; what a crashed flush left (a `.tmp`, a part without metadata, a complete part of an
 * uncommitted flush) is removed at open; an unsupported version or a damaged block fails naming the
 * path; a scan reads only the blocks that overlap; merging keeps the newest write per (series, ts),
 * or per (series, ts, key tag) for a stream, and aligns columns across schemas; retention drops
 * whole segments only, by the injected clock. Background merges: storage_merge*.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockRows, BlockSchema } from '../../storage/block.js';
import { CorruptDataError, UnsupportedVersionError } from '../../storage/errors.js';
import { nodeFs, type StorageFs } from '../../storage/fs.js';
import { partDirName, writePart, type PartRows } from '../../storage/part.js';
import { segmentName } from '../../storage/segment.js';
import { FLUSHED_FILE, NAME_DIR_PREFIX, ShardStore, type FlushBatch } from '../../storage/shard_store.js';
import { countingFs } from '../harness/counting_fs.js';
import { FakeClock } from '../harness/fake_clock.js';
import { useTempDir } from '../harness/temp_dir.js';

const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2024, 4, 10); // a midnight UTC
const SCHEMA: BlockSchema = {
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
  tags: [{ name: 'host', type: 'string' }],
};
// The same measure after a schema update added a field and a tag.
const SCHEMA2: BlockSchema = {
  fields: [...SCHEMA.fields, { name: 'temp', type: 'float' }],
  tags: [...SCHEMA.tags, { name: 'zone', type: 'string' }],
};

/** Rows of `series` (sorted ids) at `ts`, value = ts/1000 + bias, with every column of `schema`. */
function rows(series: string[], ts: number[], schema: BlockSchema, bias = 0): PartRows {
  const n = series.length * ts.length;
  const out: PartRows = { seriesIds: [], timestamps: new Float64Array(n), fields: {}, tags: {} };
  for (const f of schema.fields) out.fields[f.name] = new Float64Array(n);
  for (const t of schema.tags) out.tags[t.name] = [] as string[];
  let i = 0;
  for (const s of [...series].sort()) {
    for (const t of ts) {
      (out.seriesIds as string[]).push(s);
      out.timestamps[i] = t;
      out.fields.value![i] = (t - T0) / 1000 + bias;
      out.fields.count![i] = i;
      if (out.fields.temp) out.fields.temp[i] = 20 + bias;
      for (const tag of schema.tags) (out.tags[tag.name] as string[]).push(`${tag.name}-${s}`);
      i++;
    }
  }
  return out;
}

/** One batch of measure `cpu` in the hour segment holding `ts[0]`. */
function batch(series: string[], ts: number[], lastSequence: number, schema = SCHEMA, bias = 0): FlushBatch {
  const segmentStartMs = Math.floor(ts[0]! / HOUR_MS) * HOUR_MS;
  return {
    name: 'cpu',
    segmentStartMs,
    segmentEndMs: segmentStartMs + HOUR_MS,
    rows: rows(series, ts, schema, bias),
    schema,
    lastSequence,
  };
}

/** `count` timestamps from `start`, `stepMs` apart. */
const times = (start: number, count: number, stepMs = 1000) =>
  Array.from({ length: count }, (_, i) => start + i * stepMs);

/** Every row of a scan, as `series@ts=value`, in scan order. */
async function scanAll(store: ShardStore, minTs = -Infinity, maxTs = Infinity): Promise<string[]> {
  const out: string[] = [];
  await store.scan({ minTs, maxTs }, (b) => {
    for (let i = 0; i < b.timestamps.length; i++)
      out.push(`${b.seriesId}@${b.timestamps[i]! - T0}=${b.fields.value![i]}`);
  });
  return out;
}

describe('storage - shard store', () => {
  const tmp = useTempDir('shard-store');
  let n = 0;
  let dir = '';
  let clock: FakeClock;
  const stores: ShardStore[] = [];
  const open = async (fs: StorageFs = nodeFs, maxRowsPerBlock?: number) => {
    const s = await ShardStore.open(fs, dir, { clock, maxRowsPerBlock });
    stores.push(s);
    return s;
  };
  const partDir = (hour: number, seq: number) =>
    join(dir, segmentName(T0 + hour * HOUR_MS), `${NAME_DIR_PREFIX}cpu`, partDirName(seq));

  beforeEach(() => {
    dir = join(tmp.path, `case-${n++}`, 'g1', 'shard-0');
    clock = new FakeClock(T0 + 10 * HOUR_MS);
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it('shard store - flushed rows and lastSequence read back the same after a reopen', async () => {
    const s1 = await open();
    assert.equal(s1.lastSequence, 0);
    await s1.flush([batch(['a', 'b'], times(T0, 3), 7), batch(['a'], times(T0 + HOUR_MS, 2), 7)]);
    await s1.flush([batch(['c'], times(T0 + 10_000, 1), 9)]);
    assert.equal(s1.lastSequence, 9);
    const before = await scanAll(s1);
    assert.equal(before.length, 6 + 2 + 1);
    await s1.close();
    const s2 = await open();
    assert.equal(s2.lastSequence, 9);
    assert.deepEqual(await scanAll(s2), before);
    assert.deepEqual(
      s2.listParts().map((r) => [r.segmentStartMs - T0, r.seq, r.part.metadata.last_sequence]),
      [
        [0, 1, 7],
        [0, 2, 9],
        [HOUR_MS, 1, 7],
      ],
    );
    // An empty flush only moves the resume point; a lower one is a programmer error.
    await s2.flush([], 12);
    assert.equal(s2.lastSequence, 12);
    await assert.rejects(s2.flush([batch(['a'], times(T0, 1), 11)]), { code: 'InvalidArgument' });
  });

  it('shard store - a .tmp part, a part without metadata and a part of an uncommitted flush are removed at open', async () => {
    const s1 = await open();
    await s1.flush([batch(['a'], times(T0, 3), 5)]);
    await s1.close();
    const tmp = partDir(0, 2) + '.tmp';
    mkdirSync(tmp, { recursive: true });
    writeFileSync(join(tmp, 'data'), 'half a part');
    const noMeta = partDir(0, 3);
    mkdirSync(noMeta);
    writeFileSync(join(noMeta, 'data'), 'no metadata yet');
    // A complete part whose flush crashed before `flushed` was written: its rows are still in the WAL.
    const uncommitted = partDir(0, 4);
    await writePart(nodeFs, uncommitted, rows(['z'], [T0 + 5], SCHEMA), {
      schema: SCHEMA,
      formatVersion: '1',
      lastSequence: 8,
    });
    const s2 = await open();
    for (const p of [tmp, noMeta, uncommitted]) assert.equal(existsSync(p), false, `${p} should be removed`);
    assert.equal(s2.lastSequence, 5);
    assert.deepEqual(await scanAll(s2), ['a@0=0', 'a@1000=1', 'a@2000=2']);
    await s2.flush([batch(['b'], [T0 + 9], 6)]);
    assert.equal(s2.listParts().at(-1)!.seq, 5, 'sequence numbers are never reused');
  });

  it('shard store - a flush that fails midway removes what it wrote and commits nothing', async () => {
    let renames = 0;
    const failing: StorageFs = {
      ...nodeFs,
      rename: async (from, to) => {
        if (from.endsWith('.tmp') && ++renames === 2)
          throw Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' });
        return nodeFs.rename(from, to);
      },
    };
    const s = await open(failing);
    await assert.rejects(s.flush([batch(['a'], times(T0, 2), 3), batch(['a'], times(T0 + HOUR_MS, 2), 3)]), /ENOSPC/);
    assert.equal(s.lastSequence, 0);
    assert.equal(existsSync(partDir(0, 1)), false);
    assert.deepEqual(await scanAll(s), []);
    assert.equal(JSON.parse(readFileSync(join(dir, FLUSHED_FILE), 'utf8')).last_sequence, 0);
  });

  it('shard store - a part with an unsupported storage version fails the open naming its path', async () => {
    const s1 = await open();
    await s1.flush([batch(['a'], times(T0, 2), 4)]);
    await s1.close();
    const foreign = partDir(0, 2);
    await writePart(nodeFs, foreign, rows(['b'], [T0], SCHEMA), {
      schema: SCHEMA,
      formatVersion: '999',
      lastSequence: 2,
    });
    await assert.rejects(ShardStore.open(nodeFs, dir, { clock }), (err: unknown) => {
      assert.ok(err instanceof UnsupportedVersionError, String(err));
      assert.ok(err.path.startsWith(foreign), err.path);
      assert.ok(err.message.includes('"999"') && err.message.includes(foreign), err.message);
      return true;
    });
  });

  it('shard store - a flushed marker of an unsupported version fails the open naming it', async () => {
    await (await open()).close();
    const marker = join(dir, FLUSHED_FILE);
    writeFileSync(marker, JSON.stringify({ version: '0', last_sequence: 3 }));
    await assert.rejects(
      ShardStore.open(nodeFs, dir, { clock }),
      (err: unknown) => err instanceof UnsupportedVersionError && err.path === marker,
    );
  });

  it('shard store - a flipped byte in a block makes the scan fail with CorruptDataError naming the data file', async () => {
    const s1 = await open();
    await s1.flush([batch(['a', 'b'], times(T0, 50), 4)]);
    await s1.close();
    const dataPath = join(partDir(0, 1), 'data');
    const bytes = readFileSync(dataPath);
    bytes[bytes.length - 10]! ^= 0x01;
    writeFileSync(dataPath, bytes);
    const s2 = await open();
    await assert.rejects(scanAll(s2), (err: unknown) => {
      assert.ok(err instanceof CorruptDataError, String(err));
      assert.equal(err.path, dataPath);
      assert.ok(err.message.includes(dataPath), err.message);
      return true;
    });
  });

  it('shard store - a scan reads only the overlapping segments, parts and blocks, each block once', async () => {
    const s1 = await open(nodeFs, 100);
    // Hour 0: part 1 holds 0..299 s, part 2 holds 1000..1099 s; hour 1: part 1; 2 series each.
    await s1.flush([batch(['a', 'b'], times(T0, 300), 1), batch(['a', 'b'], times(T0 + HOUR_MS, 300), 1)]);
    await s1.flush([batch(['a', 'b'], times(T0 + 1_000_000, 100), 2)]);
    await s1.close();
    const { fs, reads } = countingFs();
    const s = await open(fs);
    reads.clear();
    const got: string[] = [];
    await s.scan({ minTs: T0 + 150_000, maxTs: T0 + 160_000, seriesIds: new Set(['b']) }, (b) => {
      for (let i = 0; i < b.timestamps.length; i++) got.push(`${b.seriesId}@${(b.timestamps[i]! - T0) / 1000}`);
    });
    assert.deepEqual(
      got,
      times(150, 11, 1).map((t) => `b@${t}`),
      'rows outside the range are trimmed',
    );
    // Series b's blocks of part 1 hold 0..99, 100..199, 200..299 s: only the second one is read.
    assert.deepEqual([...reads], [[join(partDir(0, 1), 'data'), 1]]);
    reads.clear();
    assert.equal((await scanAll(s, T0 + HOUR_MS + 5_000, T0 + HOUR_MS + 5_000)).length, 2);
    // One block per series, hour 1 only: two neighbouring blocks, read together in one read.
    assert.deepEqual([...reads], [[join(partDir(1, 1), 'data'), 1]], 'one read of hour 1 only');
    reads.clear();
    await s.scan({ minTs: T0, maxTs: T0 + 3 * HOUR_MS, schemaName: 'mem' }, () => assert.fail('no part of mem'));
    assert.equal(reads.size, 0);
  });

  it('shard store - scanMerged keeps the newest write per (series, ts) and aligns columns after a field was added', async () => {
    const s = await open();
    await s.flush([batch(['a', 'b'], times(T0, 4), 10)]);
    // A replay after the schema update: ts 2 and 3 again (new values), then 4 and 5.
    await s.flush([batch(['a'], times(T0 + 2000, 4), 20, SCHEMA2, 100)]);
    const merged = await s.scanMerged({ minTs: T0, maxTs: T0 + HOUR_MS, schemaName: 'cpu' });
    assert.deepEqual([...merged.keys()], ['a', 'b']);
    const a = merged.get('a')!;
    const plain = (r: BlockRows) => ({
      ts: [...r.timestamps].map((t) => (t - T0) / 1000),
      value: [...r.fields.value!],
      temp: [...r.fields.temp!],
      count: [...r.fields.count!],
      zone: r.tags.zone,
      host: r.tags.host,
    });
    assert.deepEqual(plain(a), {
      ts: [0, 1, 2, 3, 4, 5],
      value: [0, 1, 102, 103, 104, 105],
      temp: [NaN, NaN, 120, 120, 120, 120],
      count: [0, 1, 0, 1, 2, 3],
      zone: ['', '', 'zone-a', 'zone-a', 'zone-a', 'zone-a'],
      host: ['host-a', 'host-a', 'host-a', 'host-a', 'host-a', 'host-a'],
    });
    const b = plain(merged.get('b')!);
    assert.deepEqual(
      [b.ts, b.temp, b.zone],
      [
        [0, 1, 2, 3],
        [NaN, NaN, NaN, NaN],
        ['', '', '', ''],
      ],
    );
    // A projection limits the columns; the range trims the rows.
    const p = await s.scanMerged({
      minTs: T0 + 3000,
      maxTs: T0 + 4000,
      seriesIds: new Set(['a']),
      projection: { fields: ['temp'], tags: [] },
    });
    const pa = p.get('a')!;
    assert.deepEqual(
      [[...pa.timestamps].map((t) => t - T0), Object.keys(pa.fields), Object.keys(pa.tags), [...pa.fields.temp!]],
      [[3000, 4000], ['temp'], [], [120, 120]],
    );
  });

  it('shard store - scanMerged with a keyTag keeps every element of one ts and lets the newer part win an equal (ts, element id)', async () => {
    const STREAM: BlockSchema = {
      fields: [{ name: 'size', type: 'int' }],
      tags: [{ name: 'element_id', type: 'string' }],
    };
    const elems = (list: [number, string, number][], seq: number): FlushBatch => ({
      name: 'log',
      segmentStartMs: T0,
      segmentEndMs: T0 + HOUR_MS,
      rows: {
        seriesIds: list.map(() => 'a'),
        timestamps: Float64Array.from(list, (e) => T0 + e[0]),
        fields: { size: Float64Array.from(list, (e) => e[2]) },
        tags: { element_id: list.map((e) => e[1]) },
      },
      schema: STREAM,
      lastSequence: seq,
    });
    const s = await open();
    // Part 1: two elements at ts 0 (stored y before x) and one at ts 1; part 2 rewrites (0, y) and adds (0, z).
    await s.flush([
      elems(
        [
          [0, 'y', 1],
          [0, 'x', 2],
          [1, 'x', 3],
        ],
        1,
      ),
    ]);
    await s.flush([
      elems(
        [
          [0, 'y', 10],
          [0, 'z', 11],
        ],
        2,
      ),
    ]);
    const q = { minTs: T0, maxTs: T0 + HOUR_MS, schemaName: 'log' };
    const got = (await s.scanMerged({ ...q, keyTag: 'element_id' })).get('a')!;
    assert.deepEqual(
      [[...got.timestamps].map((t) => t - T0), got.tags.element_id, [...got.fields.size!]],
      [
        [0, 0, 0, 1],
        ['x', 'y', 'z', 'x'],
        [2, 10, 11, 3],
      ],
    );
    // Without the key tag a series has one row per ts: the newest part's last row of ts 0.
    const plainTs = (await s.scanMerged(q)).get('a')!;
    assert.deepEqual(
      [[...plainTs.timestamps].map((t) => t - T0), plainTs.tags.element_id],
      [
        [0, 1],
        ['z', 'x'],
      ],
    );
  });

  it('shard store - dropExpired removes whole segments older than the ttl, by the injected clock', async () => {
    const s = await open();
    await s.flush([0, 1, 2].map((h) => batch(['a'], times(T0 + h * HOUR_MS, 2), 3)));
    clock.setNow(T0 + 3 * HOUR_MS); // ttl 2h: hour 0 ends at T0+1h, the cutoff; hour 1 ends after it
    const r = await s.dropExpired(2 * HOUR_MS);
    assert.deepEqual(
      r.dropped.map((d) => d.startMs - T0),
      [0],
    );
    assert.equal(existsSync(join(dir, segmentName(T0))), false);
    assert.deepEqual(await scanAll(s), ['a@3600000=3600', 'a@3601000=3601', 'a@7200000=7200', 'a@7201000=7201']);
    clock.setNow(T0 + 3 * HOUR_MS + HOUR_MS - 1); // hour 1 still holds a point inside the window
    assert.deepEqual((await s.dropExpired(2 * HOUR_MS)).dropped, []);
    assert.equal(s.lastSequence, 3, 'retention does not move the resume point');
    await s.close();
    const s2 = await open();
    assert.equal(s2.lastSequence, 3);
    assert.equal((await scanAll(s2)).length, 4);
  });
  it('shard store - retention waits for a running scan before closing the parts it reads', async () => {
    // The order of what happens, not time: retention may touch the segment only after the scan let go.
    const log: string[] = [];
    const fs: StorageFs = {
      ...nodeFs,
      rename: async (from, to) => {
        log.push(`rename ${from.includes('seg-') ? 'segment' : from}`);
        return nodeFs.rename(from, to);
      },
      rm: async (path) => {
        log.push(`rm ${path.includes('seg-') ? 'segment' : path}`);
        return nodeFs.rm(path);
      },
    };
    const s = await open(fs, 1);
    await s.flush([batch(['a'], times(T0, 3), 2)]);
    clock.setNow(T0 + 5 * HOUR_MS);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: number[] = [];
    const scan = s.scan({ minTs: T0, maxTs: T0 + HOUR_MS }, async (b) => {
      await gate;
      seen.push(b.timestamps[0]! - T0);
    });
    let dropped = false;
    log.length = 0;
    const drop = s.dropExpired(HOUR_MS).then(() => (dropped = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(dropped, false, 'retention must wait for the scan');
    log.push('scan released');
    release();
    await scan;
    await drop;
    assert.deepEqual(seen, [0, 1000, 2000]);
    assert.deepEqual(await scanAll(s), []);
    assert.equal(log[0], 'scan released', `retention touched the segment first: ${log.join(', ')}`);
    assert.ok(log.length > 1, 'retention removed the segment');
  });
});
