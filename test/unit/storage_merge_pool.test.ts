/**
 * The part pool (storage/part_pool.ts): flush encoding and merges on piscina worker threads.
 * Invariants: a store with a pool writes byte-identical parts to one without (and to writePart);
 * the caller's rows survive a pooled flush (they are copied, not transferred); damage found on a
 * worker is still a CorruptDataError naming the file; the compiled build's workers need no loader
 * and write nothing at run time; every pool is destroyed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlockSchema } from '../../storage/block.js';
import { CorruptDataError } from '../../storage/errors.js';
import { nodeFs } from '../../storage/fs.js';
import { writePart, type PartRows } from '../../storage/part.js';
import { PartPool, type PartRunner } from '../../storage/part_pool.js';
import {
  forTransfer,
  fromTransfer,
  type CodedStrings,
  type EncodeTask,
  type PartTask,
} from '../../storage/part_tasks.js';
import { NAME_DIR_PREFIX, ShardStore, type FlushBatch } from '../../storage/shard_store.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';
import { FakeClock } from '../harness/fake_clock.js';
import { TAGS_OF_EVERY_TYPE } from '../harness/fixtures.js';
import { STORAGE_VERSION } from '../../storage/versions.js';
import { useTempDir } from '../harness/temp_dir.js';

const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2024, 4, 10);
const SCHEMA: BlockSchema = {
  fields: [
    { name: 'cpu', type: 'float' },
    { name: 'errors', type: 'int' },
  ],
  tags: TAGS_OF_EVERY_TYPE,
};
const clock = new FakeClock(T0 + 10 * HOUR_MS);
const KEYS = () => null;

/** `series × points` random rows of every column type in hour `hour`, overwriting earlier flushes' keys. */
function makeRows(rng: () => number, series: number, points: number, hour: number): PartRows {
  const n = series * points;
  const ids: string[] = [];
  const rows: PartRows = {
    seriesIds: ids,
    timestamps: new Float64Array(n),
    fields: { cpu: new Float64Array(n), errors: new Float64Array(n) },
    tags: { host: [], port: new Float64Array(n), roles: [], ids: [] },
  };
  for (let s = 0, i = 0; s < series; s++) {
    for (let p = 0; p < points; p++, i++) {
      ids.push(`series-${String(s).padStart(4, '0')}`);
      rows.timestamps[i] = T0 + hour * HOUR_MS + p * 1000 + (p % 7 === 0 ? 0 : Math.floor(rng() * 900));
      rows.fields.cpu![i] = Math.round(rng() * 10000) / 100;
      rows.fields.errors![i] = Math.floor(rng() * 50);
      (rows.tags.host as string[]).push(`host-${s % 3}`);
      (rows.tags.port as Float64Array)[i] = 8000 + (s % 4);
      (rows.tags.roles as string[][]).push(p % 5 === 0 ? [] : ['a', `r${s % 2}`]);
      (rows.tags.ids as number[][]).push([s, p]);
    }
  }
  return rows;
}

function batch(rows: PartRows, hour: number, seq: number): FlushBatch {
  const segmentStartMs = T0 + hour * HOUR_MS;
  return { name: 'm', segmentStartMs, segmentEndMs: segmentStartMs + HOUR_MS, rows, schema: SCHEMA, lastSequence: seq };
}

/** Every file under `dir`, by relative path, with its bytes. */
function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function assertSameFiles(a: string, b: string): void {
  const fa = files(a);
  const fb = files(b);
  assert.deepEqual([...fa.keys()], [...fb.keys()]);
  for (const [k, v] of fa) assert.ok(v.equals(fb.get(k)!), `${k} differs`);
}

describe('storage - part pool', () => {
  const tmp = useTempDir('part-pool');
  let pool: PartPool | undefined;
  const stores: ShardStore[] = [];
  const open = async (dir: string, runner?: PartRunner) => {
    const s = await ShardStore.open(nodeFs, dir, { clock, pool: runner, maxRowsPerBlock: 64 });
    stores.push(s);
    return s;
  };

  before(async () => {
    pool = await PartPool.create({ threads: 2 });
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });
  after(async () => {
    await pool?.destroy();
  });

  it(`part pool - a flush through the pool writes byte-identical parts to an inline flush and to writePart (seed ${SEED})`, async () => {
    const rng = mulberry32(SEED);
    const r0 = makeRows(rng, 20, 150, 0);
    const r1 = makeRows(rng, 5, 40, 1);
    const inline = await open(join(tmp.path, 'flush-inline'));
    const pooled = await open(join(tmp.path, 'flush-pool'), pool!);
    await inline.flush([batch(r0, 0, 3), batch(r1, 1, 3)]);
    await pooled.flush([batch(r0, 0, 3), batch(r1, 1, 3)]);
    assertSameFiles(join(tmp.path, 'flush-inline'), join(tmp.path, 'flush-pool'));
    // The caller's columns were copied to the worker, not moved: a memtable still reads them.
    assert.equal(r0.timestamps.length, 3000);
    assert.equal(r0.fields.cpu!.length, 3000);
    assert.equal((r0.tags.port as Float64Array).length, 3000);
    assert.equal((r0.tags.host as string[])[2999], 'host-1');
    const direct = join(tmp.path, 'direct', 'part-1');
    await writePart(nodeFs, direct, r0, {
      schema: SCHEMA,
      formatVersion: STORAGE_VERSION,
      lastSequence: 3,
      maxRowsPerBlock: 64,
      clock,
    });
    const ref = pooled.listParts().find((p) => p.segmentStartMs === T0)!;
    assertSameFiles(direct, ref.part.dir);
    const q = { minTs: T0, maxTs: T0 + 2 * HOUR_MS };
    assert.deepEqual(await pooled.scanMerged(q), await inline.scanMerged(q));
  });

  it('part pool - a string tag crosses to the worker as its distinct values and one buffer of indexes', () => {
    const rows = makeRows(mulberry32(SEED), 20, 150, 0);
    const { seriesIds: _ids, ...blockRows } = rows;
    const task: PartTask = {
      kind: 'encode',
      rows: blockRows,
      runs: { series: ['s'], counts: Uint32Array.of(3000) },
      schema: SCHEMA,
      maxRowsPerBlock: 64,
      stamp: { formatVersion: STORAGE_VERSION, lastSequence: 1, createdAt: new Date(T0).toISOString() },
    };
    const moved = forTransfer(task);
    const host = (moved.task as EncodeTask).rows.tags.host as unknown as CodedStrings;
    assert.deepEqual(host.values, ['host-0', 'host-1', 'host-2']);
    assert.equal(host.codes.length, 3000);
    assert.ok(moved.transfer.includes(host.codes.buffer as ArrayBuffer), 'the indexes are moved, not cloned');
    // What the worker gets: a structured clone moving the buffers, then fromTransfer.
    const received = fromTransfer(structuredClone(moved.task, { transfer: moved.transfer }));
    assert.deepEqual((received as EncodeTask).rows, blockRows);
    assert.equal((rows.tags.host as string[]).length, 3000, "the caller's column is untouched");
  });

  it(`part pool - a merge on the pool writes the same bytes as an inline merge (seed ${SEED})`, async () => {
    const rng = mulberry32(SEED ^ 0xbeef);
    const inline = await open(join(tmp.path, 'merge-inline'));
    const pooled = await open(join(tmp.path, 'merge-pool'), pool!);
    for (let seq = 1; seq <= 10; seq++) {
      const rows = makeRows(rng, 8, 30 + seq, 0);
      await inline.flush([batch(rows, 0, seq)]);
      await pooled.flush([batch(rows, 0, seq)]);
    }
    const q = { minTs: T0, maxTs: T0 + HOUR_MS };
    const before = await inline.scanMerged(q);
    const [a, b] = await Promise.all([inline.merge({ keyTagOf: KEYS }), pooled.merge({ keyTagOf: KEYS })]);
    assert.deepEqual(a, b);
    assert.equal(a.length, 1);
    assertSameFiles(join(tmp.path, 'merge-inline'), join(tmp.path, 'merge-pool'));
    assert.deepEqual(await pooled.scanMerged(q), before);
  });

  it('part pool - a damaged block found on a worker is a CorruptDataError naming the data file', async () => {
    const dir = join(tmp.path, 'corrupt');
    const s1 = await open(dir);
    for (let seq = 1; seq <= 9; seq++) await s1.flush([batch(makeRows(mulberry32(1), 2, 20, 0), 0, seq)]);
    await s1.close();
    const segDir = join(
      dir,
      readdirSync(dir).find((d) => d.startsWith('seg-'))!,
    );
    const victim = join(segDir, `${NAME_DIR_PREFIX}m`, 'part-1', 'data');
    const bytes = readFileSync(victim);
    bytes[20]! ^= 0x40;
    writeFileSync(victim, bytes);
    const s = await open(dir, pool!);
    await assert.rejects(s.merge({ keyTagOf: KEYS }), (err: unknown) => {
      assert.ok(err instanceof CorruptDataError, String(err));
      assert.equal(err.path, victim);
      return true;
    });
    assert.equal(s.listParts().length, 9);
  });

  it('part pool - the compiled build runs its workers under plain node: no tsx, no bundling, nothing written to the temp dir', function () {
    this.timeout(30_000);
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const poolUrl = new URL('../../dist/storage/part_pool.js', import.meta.url).href;
    const code = `
      const { PartPool } = await import(${JSON.stringify(poolUrl)});
      const pool = await PartPool.create({ threads: 1 });
      const part = await pool.run({ kind: 'encode', rows: { timestamps: new Float64Array([1, 2, 3]), fields: {}, tags: {} },
        runs: { series: ['a'], counts: new Uint32Array([3]) }, schema: { fields: [], tags: [] }, maxRowsPerBlock: 2,
        stamp: { formatVersion: '1', lastSequence: 1, createdAt: 'now' } });
      console.log(JSON.stringify({ rows: part.metadata.row_count, blocks: part.metadata.block_count, bytes: part.data.length }));
      await pool.destroy();`;
    const tmp = mkdtempSync(join(tmpdir(), 'lockstep-pool-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
      delete env.NODE_OPTIONS;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 25_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rows: number; blocks: number; bytes: number };
      assert.deepEqual([out.rows, out.blocks], [3, 2]);
      assert.ok(out.bytes > 0);
      assert.deepEqual(readdirSync(tmp), [], 'the pool wrote to the temp dir');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('part pool - bad options are refused; a destroyed pool refuses tasks', async () => {
    await assert.rejects(PartPool.create({ threads: 0 }), { code: 'InvalidArgument' });
    await assert.rejects(PartPool.create({ idleTimeoutMs: -1 }), { code: 'InvalidArgument' });
    const p = await PartPool.create({ threads: 1, idleTimeoutMs: 1000 });
    await p.destroy();
    await p.destroy();
    const task = {
      kind: 'encode' as const,
      rows: { timestamps: new Float64Array(0), fields: {}, tags: {} },
      runs: { series: [], counts: new Uint32Array(0) },
      schema: { fields: [], tags: [] },
      maxRowsPerBlock: 1,
      stamp: { formatVersion: '1', lastSequence: 0, createdAt: '' },
    };
    await assert.rejects(p.run(task), { code: 'FailedPrecondition' });
  });
});
