/**
 * Parts: data + index + metadata in `part-<seq>/`, written through `.tmp`, metadata last.
 * Invariants: rows read back exactly and in order; a query reads only the blocks it needs, each
 * with one positioned read of exactly its bytes; damage to data, index or metadata is a
 * CorruptDataError naming that file; a `.tmp` or metadata-less directory is IncompletePartError.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockRows, BlockSchema } from '../../storage/block.js';
import { CorruptDataError, UnsupportedVersionError } from '../../storage/errors.js';
import { nodeFs, openBlockingReader, type StorageFs } from '../../storage/fs.js';
import {
  IncompletePartError,
  openPart,
  partDirName,
  parsePartDirName,
  writePart,
  type Part,
  type PartRows,
} from '../../storage/part.js';
import { Code } from '../../transport/errors.js';
import { mulberry32, randInt, SEED } from '../harness/encoding_harness.js';
import { countingFs } from '../harness/counting_fs.js';
import { TAGS_OF_EVERY_TYPE } from '../harness/fixtures.js';
import { useTempDir } from '../harness/temp_dir.js';

const T0 = 1_700_000_000_000;
const INTERVAL_MS = 10_000;
const SCHEMA: BlockSchema = {
  fields: [
    { name: 'cpu', type: 'float' },
    { name: 'mem', type: 'float' },
    { name: 'errors', type: 'int' },
  ],
  tags: TAGS_OF_EVERY_TYPE,
};
const OPTS = { schema: SCHEMA, formatVersion: '1', lastSequence: 42, clock: { now: () => Date.UTC(2024, 0, 2) } };

/** `series × points` rows, sorted by series then time, with every column type. */
function makeRows(series: number, points: number, rng: () => number): PartRows {
  const n = series * points;
  const ids = new Array<string>(n);
  const rows: PartRows = {
    seriesIds: ids,
    timestamps: new Float64Array(n),
    fields: { cpu: new Float64Array(n), mem: new Float64Array(n), errors: new Float64Array(n) },
    tags: {
      host: new Array<string>(n),
      port: new Float64Array(n),
      roles: new Array<string[]>(n),
      ids: new Array<number[]>(n),
    },
  };
  for (let s = 0, i = 0; s < series; s++) {
    const id = `series-${String(s).padStart(4, '0')}`;
    const roles = s % 3 === 0 ? ['db'] : ['web', 'edge'];
    for (let p = 0; p < points; p++, i++) {
      ids[i] = id;
      rows.timestamps[i] = T0 + p * INTERVAL_MS;
      rows.fields.cpu![i] = randInt(rng, 0, 9999) / 100;
      rows.fields.mem![i] = randInt(rng, 0, 9999) / 100;
      rows.fields.errors![i] = p >> 4;
      (rows.tags.host as string[])[i] = `host-${s}`;
      (rows.tags.port as Float64Array)[i] = 8000 + (s % 7);
      (rows.tags.roles as string[][])[i] = roles;
      (rows.tags.ids as number[][])[i] = p % 5 === 0 ? [s, p] : [];
    }
  }
  return rows;
}

/** Row `i` of `rows` as plain values, for comparisons. */
function rowAt(rows: BlockRows, i: number): unknown[] {
  const out: unknown[] = [rows.timestamps[i]];
  for (const f of SCHEMA.fields) if (rows.fields[f.name]) out.push(rows.fields[f.name]![i]);
  for (const t of SCHEMA.tags) if (rows.tags[t.name]) out.push(rows.tags[t.name]![i]);
  return out;
}

async function assertRejectsCorrupt(p: Promise<unknown>, path: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CorruptDataError, `expected CorruptDataError, got ${String(err)}`);
    assert.equal(err.path, path);
    assert.ok(err.message.includes(path), err.message);
    return true;
  });
}

describe('storage - part', function () {
  const tmp = useTempDir('part');
  let seg: string;
  let seq = 0;
  const nextDir = () => join(seg, partDirName(++seq));
  const opened: Part[] = [];
  const open = async (dir: string, fs: StorageFs = nodeFs) => {
    const p = await openPart(fs, dir);
    opened.push(p);
    return p;
  };

  before(() => {
    seg = join(tmp.path, 'seg-0');
    mkdirSync(seg);
  });
  afterEach(async () => {
    for (const p of opened.splice(0)) await p.close();
  });

  it(`part - rows round-trip in order through blocks of maxRowsPerBlock (seed ${SEED})`, async () => {
    const rows = makeRows(7, 250, mulberry32(SEED));
    const dir = nextDir();
    const meta = await writePart(nodeFs, dir, rows, { ...OPTS, maxRowsPerBlock: 100 });
    assert.deepEqual(
      [
        meta.row_count,
        meta.series_count,
        meta.block_count,
        meta.min_ts,
        meta.max_ts,
        meta.last_sequence,
        meta.format_version,
        meta.created_at,
      ],
      [1750, 7, 21, T0, T0 + 249 * INTERVAL_MS, 42, '1', '2024-01-02T00:00:00.000Z'],
    );
    const part = await open(dir);
    assert.deepEqual(part.metadata, meta);
    assert.equal(part.seriesCount, 7);
    let i = 0;
    for (const e of part.blocksFor()) {
      assert.ok(e.rowCount <= 100);
      const got = await part.readBlock(e);
      for (let k = 0; k < got.timestamps.length; k++, i++) {
        assert.equal(e.seriesId, rows.seriesIds[i]);
        assert.deepEqual(rowAt(got, k), rowAt(rows, i));
      }
    }
    assert.equal(i, rows.timestamps.length);
  });

  it('part - blocksFor selects by series and inclusive time range; projection limits columns', async () => {
    const rows = makeRows(5, 100, mulberry32(SEED ^ 1));
    const dir = nextDir();
    await writePart(nodeFs, dir, rows, { ...OPTS, maxRowsPerBlock: 10 });
    const part = await open(dir);
    const one = part.blocksFor({
      seriesIds: new Set(['series-0003']),
      minTs: T0 + 19 * INTERVAL_MS,
      maxTs: T0 + 30 * INTERVAL_MS,
    });
    assert.deepEqual(
      one.map((e) => [e.seriesId, e.minTs]),
      [
        ['series-0003', T0 + 10 * INTERVAL_MS],
        ['series-0003', T0 + 20 * INTERVAL_MS],
        ['series-0003', T0 + 30 * INTERVAL_MS],
      ],
    );
    const two = part.blocksFor({ seriesIds: new Set(['series-0004', 'nope', 'series-0001']), minTs: T0, maxTs: T0 });
    assert.deepEqual(
      two.map((e) => e.seriesId),
      ['series-0001', 'series-0004'],
      'file order, whatever the set order',
    );
    assert.equal(part.blocksFor({ minTs: T0 + 100 * INTERVAL_MS }).length, 0);
    assert.equal(part.blocksFor({ minTs: T0 + 99 * INTERVAL_MS }).length, 5);
    // Random ranges and series sets: exactly the blocks overlapping the range, in file order.
    const all = part.blocksFor();
    const rng = mulberry32(SEED ^ 11);
    for (let k = 0; k < 300; k++) {
      const minTs = T0 + Math.floor(rng() * 120 - 10) * INTERVAL_MS + (rng() < 0.5 ? 1 : 0);
      const maxTs = minTs + Math.floor(rng() * 40 - 5) * INTERVAL_MS;
      const seriesIds =
        rng() < 0.5 ? undefined : new Set(['series-0000', 'series-0002', 'series-0004'].filter(() => rng() < 0.6));
      const want = all.filter(
        (e) => e.maxTs >= minTs && e.minTs <= maxTs && minTs <= maxTs && (!seriesIds || seriesIds.has(e.seriesId)),
      );
      assert.deepEqual(part.blocksFor({ seriesIds, minTs, maxTs }), want, JSON.stringify({ minTs, maxTs, seriesIds }));
    }
    const got = await part.readBlock(one[0]!, { fields: ['mem'], tags: ['roles'] });
    assert.deepEqual([Object.keys(got.fields), Object.keys(got.tags)], [['mem'], ['roles']]);
    assert.deepEqual(Array.from(got.fields.mem!), Array.from(rows.fields.mem!.subarray(310, 320)));
  });

  it('part - a query for one series of 100 reads only its blocks, one positioned read each', async () => {
    const dir = nextDir();
    await writePart(nodeFs, dir, makeRows(100, 300, mulberry32(SEED ^ 2)), { ...OPTS, maxRowsPerBlock: 128 });
    const { fs, bytes, reads } = countingFs();
    const part = await open(dir, fs);
    const dataPath = join(dir, 'data');
    assert.equal(bytes.get(dataPath), undefined, 'opening reads no data');
    const entries = part.blocksFor({ seriesIds: new Set(['series-0042']) });
    assert.equal(entries.length, 3);
    const results = await Promise.all(entries.map((e) => part.readBlock(e))); // concurrent reads share nothing
    assert.deepEqual(
      results.map((r) => r.timestamps.length),
      [128, 128, 44],
    );
    assert.deepEqual(Array.from(results[2]!.timestamps.subarray(-1)), [T0 + 299 * INTERVAL_MS]);
    assert.equal(
      bytes.get(dataPath),
      entries.reduce((sum, e) => sum + e.length, 0),
    );
    assert.equal(reads.get(dataPath), entries.length);
    assert.ok(bytes.get(dataPath)! < statSync(dataPath).size / 50);
  });

  it('part - a blocking reader (query workers) reads at positions, short only at the end, and refuses writes', async () => {
    const path = join(tmp.path, 'blocking.bin');
    writeFileSync(
      path,
      Uint8Array.from({ length: 100 }, (_, i) => i),
    );
    const h = openBlockingReader(path);
    const buf = new Uint8Array(20);
    assert.equal(await h.read(buf, 5, 10, 40), 10);
    assert.deepEqual([...buf.subarray(5, 15)], [40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
    assert.equal(await h.read(buf, 0, 20, 90), 10, 'ten bytes left at 90');
    assert.equal(await h.size(), 100);
    await assert.rejects(h.write(Uint8Array.of(1)), /reading only/);
    await h.close();
    await h.close();
    await assert.rejects(h.read(buf, 0, 1, 0), /is closed/);
    assert.throws(() => openBlockingReader(join(tmp.path, 'missing.bin')), { code: 'ENOENT' });
  });

  it('part - a flipped byte in a block is a CorruptDataError naming the data file; other blocks still read', async () => {
    const dir = nextDir();
    await writePart(nodeFs, dir, makeRows(4, 50, mulberry32(SEED ^ 3)), OPTS);
    const dataPath = join(dir, 'data');
    const probe = await open(dir);
    const [a, b] = probe.entries;
    await probe.close();
    const good = readFileSync(dataPath);
    const rng = mulberry32(SEED ^ 33);
    for (let k = 0; k < 20; k++) {
      const bad = Buffer.from(good);
      bad[b!.offset + randInt(rng, 0, b!.length - 1)]! ^= 1 << randInt(rng, 0, 7);
      writeFileSync(dataPath, bad);
      const part = await open(dir);
      await assertRejectsCorrupt(part.readBlock(part.entries[1]!), dataPath);
      assert.equal((await part.readBlock(part.entries[0]!)).timestamps.length, a!.rowCount);
    }
  });

  it('part - every flipped byte in the index is a CorruptDataError naming the index file', async () => {
    const dir = nextDir();
    await writePart(nodeFs, dir, makeRows(3, 40, mulberry32(SEED ^ 4)), { ...OPTS, maxRowsPerBlock: 16 });
    const indexPath = join(dir, 'index');
    const good = readFileSync(indexPath);
    for (let at = 0; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at]! ^= 1 << (at % 8);
      writeFileSync(indexPath, bad);
      await assertRejectsCorrupt(openPart(nodeFs, dir), indexPath);
    }
    writeFileSync(indexPath, good);
    writeFileSync(indexPath, good.subarray(0, good.length - 1));
    await assertRejectsCorrupt(openPart(nodeFs, dir), indexPath);
    writeFileSync(indexPath, good);
    (await open(dir)).entries.forEach((e) => assert.ok(e.rowCount <= 16));
  });

  it('part - every flipped byte in the metadata is a CorruptDataError naming the metadata file', async () => {
    const dir = nextDir();
    await writePart(nodeFs, dir, makeRows(2, 10, mulberry32(SEED ^ 5)), OPTS);
    const metaPath = join(dir, 'metadata');
    const good = readFileSync(metaPath);
    for (let at = 0; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at]! ^= 1;
      writeFileSync(metaPath, bad);
      await assertRejectsCorrupt(openPart(nodeFs, dir), metaPath);
    }
    writeFileSync(metaPath, good);
  });

  it('part - a truncated data file is reported when the part is opened', async () => {
    const dir = nextDir();
    await writePart(nodeFs, dir, makeRows(2, 10, mulberry32(SEED ^ 6)), OPTS);
    const dataPath = join(dir, 'data');
    writeFileSync(dataPath, readFileSync(dataPath).subarray(0, 30));
    await assertRejectsCorrupt(openPart(nodeFs, dir), dataPath);
  });

  it('part - a .tmp directory or one without metadata is an IncompletePartError (a crash mid-flush)', async () => {
    const dir = nextDir();
    // Crash just before the metadata is written: the writer never gets to clean up.
    const crashing: StorageFs = {
      ...nodeFs,
      writeFileAtomic: async () => {
        throw new Error('kill -9');
      },
      rm: async () => undefined,
    };
    await assert.rejects(writePart(crashing, dir, makeRows(2, 10, mulberry32(SEED ^ 7)), OPTS), /kill -9/);
    assert.deepEqual(parsePartDirName(`${partDirName(seq)}.tmp`), { seq, tmp: true });
    await assert.rejects(
      openPart(nodeFs, `${dir}.tmp`),
      (e: unknown) => e instanceof IncompletePartError && e.code === Code.FailedPrecondition,
    );
    await assert.rejects(
      openPart(nodeFs, dir),
      (e: unknown) => e instanceof Error && (e as { code?: string }).code === Code.NotFound,
    );
    // The same crash after the rename but with metadata lost: a part dir without metadata.
    mkdirSync(dir);
    copyFileSync(join(`${dir}.tmp`, 'data'), join(dir, 'data'));
    copyFileSync(join(`${dir}.tmp`, 'index'), join(dir, 'index'));
    await assert.rejects(openPart(nodeFs, dir), (e: unknown) => e instanceof IncompletePartError && e.dir === dir);
    rmSync(dir, { recursive: true });
    // A retry of the flush replaces the stale .tmp and yields a complete part.
    const rows = makeRows(2, 10, mulberry32(SEED ^ 7));
    await writePart(nodeFs, dir, rows, OPTS);
    assert.equal((await open(dir)).metadata.row_count, 20);
    assert.throws(() => statSync(`${dir}.tmp`));
  });

  it('part - wrong storage version, unsorted rows, an existing part and an empty part', async () => {
    const dir = nextDir();
    await writePart(nodeFs, dir, makeRows(2, 10, mulberry32(SEED ^ 8)), OPTS);
    await assert.rejects(
      openPart(nodeFs, dir, { supportedVersions: ['2', '3'] }),
      (e: unknown) => e instanceof UnsupportedVersionError && e.message.includes(dir),
    );
    await assert.rejects(
      writePart(nodeFs, dir, makeRows(1, 1, mulberry32(1)), OPTS),
      (e: unknown) => (e as { code?: string }).code === Code.AlreadyExists,
    );
    const unsorted = makeRows(3, 5, mulberry32(SEED ^ 9));
    unsorted.timestamps[3] = T0 - 1;
    await assert.rejects(writePart(nodeFs, nextDir(), unsorted, OPTS), /not sorted by timestamp/);
    const split = makeRows(3, 5, mulberry32(SEED ^ 9));
    (split.seriesIds as string[])[14] = 'series-0000';
    await assert.rejects(writePart(nodeFs, nextDir(), split, OPTS), /series ids are not sorted/);
    const empty = nextDir();
    const meta = await writePart(nodeFs, empty, makeRows(0, 0, mulberry32(1)), OPTS);
    assert.deepEqual([meta.row_count, meta.block_count, meta.min_ts], [0, 0, null]);
    assert.deepEqual((await open(empty)).blocksFor(), []);
  });

  it('part - size: 1,000 series × 1,000 points at 10 s, 2 random 2-decimal floats ≤ 10 bytes/point', async function () {
    const rng = mulberry32(SEED ^ 10);
    const series = 1000;
    const points = 1000;
    const n = series * points;
    const schema: BlockSchema = {
      fields: [
        { name: 'a', type: 'float' },
        { name: 'b', type: 'float' },
      ],
      tags: [],
    };
    const ids = new Array<string>(n);
    const rows: PartRows = {
      seriesIds: ids,
      timestamps: new Float64Array(n),
      fields: { a: new Float64Array(n), b: new Float64Array(n) },
      tags: {},
    };
    for (let s = 0, i = 0; s < series; s++) {
      const id = `series-${String(s).padStart(4, '0')}`;
      for (let p = 0; p < points; p++, i++) {
        ids[i] = id;
        rows.timestamps[i] = T0 + p * INTERVAL_MS;
        rows.fields.a![i] = Math.floor(rng() * 10000) / 100;
        rows.fields.b![i] = Math.floor(rng() * 10000) / 100;
      }
    }
    const dir = nextDir();
    await writePart(nodeFs, dir, rows, { ...OPTS, schema });
    const total = ['data', 'index', 'metadata'].reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    const perPoint = total / n;
    console.log(`      part size: ${total} bytes for ${n} points = ${perPoint.toFixed(3)} bytes/point (seed ${SEED})`);
    assert.ok(perPoint <= 10, `${perPoint} bytes/point`);
    const part = await open(dir);
    const blocks = await part.readBlocks(part.blocksFor({ seriesIds: new Set(['series-0999']) }));
    assert.deepEqual(
      blocks.flatMap((b) => Array.from(b.fields.b!)),
      Array.from(rows.fields.b!.subarray(n - points)),
    );
  });
});
