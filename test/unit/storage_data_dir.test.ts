/**
 * Opening a data directory (storage/data_dir.ts, storage/lock.ts).
 * Invariants: the lock is taken before anything is read; every failed open releases it, so a retry
 * after fixing the data succeeds; a live holder is refused naming it, a dead or unreadable one is
 * taken over; a group met at runtime is checked the same way.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPermanent } from '../../runtime/errors.js';
import type { Clock } from '../../runtime/clock.js';
import { CorruptDataError, DataDirLockedError, UnsupportedVersionError } from '../../storage/errors.js';
import { nodeFs, type StorageFs } from '../../storage/fs.js';
import {
  dropGeneration,
  generationsOnDisk,
  openDataDir,
  openGroupDir,
  shardDirOf,
  type DataDir,
} from '../../storage/data_dir.js';
import { createSegment, segmentName } from '../../storage/segment.js';
import { COMPATIBLE_VERSIONS, STORAGE_VERSION } from '../../storage/versions.js';
import { FakeClock } from '../harness/fake_clock.js';
import { useTempDir } from '../harness/temp_dir.js';

const T0 = Date.UTC(2024, 2, 1);
const HOUR_MS = 3_600_000;
const NODE = 'n1';

/** nodeFs, except that reading a path for which `fail` is true throws EIO. */
function failingReads(fail: (path: string) => boolean): StorageFs {
  return {
    ...nodeFs,
    readFile: async (path) => {
      if (fail(path)) throw Object.assign(new Error(`EIO: injected read failure, ${path}`), { code: 'EIO' });
      return nodeFs.readFile(path);
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return nodeFs.exists(path);
}

describe('storage data dir', () => {
  const tmp = useTempDir('datadir');
  let root = '';
  let n = 0;
  const opened: DataDir[] = [];

  beforeEach(() => {
    root = join(tmp.path, `case-${n++}`);
  });
  afterEach(async () => {
    for (const d of opened.splice(0)) await d.close();
  });

  async function open(fs: StorageFs = nodeFs, clock?: Clock): Promise<DataDir> {
    const d = await openDataDir(fs, root, NODE, clock ? { clock } : {});
    opened.push(d);
    return d;
  }

  /** Two segments in g1/shard-0, one in g1/shard-1, one in g2/shard-0; returns g1/shard-0's dir. */
  async function seed(): Promise<string> {
    const nodeDir = join(root, NODE);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 0), T0 + HOUR_MS, T0 + 2 * HOUR_MS);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 0), T0, T0 + HOUR_MS);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 1), T0, T0 + HOUR_MS);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g2', 0), T0, T0 + HOUR_MS);
    return shardDirOf(nodeDir, 'g1', 0);
  }

  it('data dir - open takes the lock, lists every segment in order, close releases', async () => {
    await seed();
    const d = await open(nodeFs, new FakeClock(T0));
    const lockPath = join(root, NODE, 'lock');
    assert.deepEqual(JSON.parse(await readFile(lockPath, 'utf8')), {
      pid: process.pid,
      started_at: new Date(T0).toISOString(),
    });
    assert.equal(d.nodeDir, join(root, NODE));
    assert.deepEqual(
      d.segments.map((s) => [s.group, s.shard, s.startMs, s.endMs, s.metadata.version]),
      [
        ['g1', 0, T0, T0 + HOUR_MS, STORAGE_VERSION],
        ['g1', 0, T0 + HOUR_MS, T0 + 2 * HOUR_MS, STORAGE_VERSION],
        ['g1', 1, T0, T0 + HOUR_MS, STORAGE_VERSION],
        ['g2', 0, T0, T0 + HOUR_MS, STORAGE_VERSION],
      ],
    );
    await d.close();
    assert.equal(await exists(lockPath), false);
    await d.close(); // idempotent
  });

  it('data dir - a segment of an unsupported version fails the open, names path and versions, and releases the lock', async () => {
    const shardDir = await seed();
    const metadata = join(shardDir, segmentName(T0 + HOUR_MS), 'metadata');
    const good = await readFile(metadata, 'utf8');
    await writeFile(metadata, JSON.stringify({ ...JSON.parse(good), version: '99' }));
    await assert.rejects(open(), (e: unknown) => {
      assert.ok(e instanceof UnsupportedVersionError);
      assert.ok(isPermanent(e));
      assert.ok(e.message.includes(metadata), e.message);
      assert.match(e.message, /"99"/);
      for (const v of COMPATIBLE_VERSIONS) assert.ok(e.message.includes(v), e.message);
      return true;
    });
    assert.equal(await exists(join(root, NODE, 'lock')), false, 'lock released after the failed open');
    await writeFile(metadata, good);
    const d = await open();
    assert.equal(d.segments.length, 4);
  });

  it('data dir - malformed metadata is CorruptDataError naming the file, with the lock released', async () => {
    const shardDir = await seed();
    const metadata = join(shardDir, segmentName(T0), 'metadata');
    const good = await readFile(metadata, 'utf8');
    await writeFile(metadata, '{"version": "1", "start": ');
    await assert.rejects(open(), (e: unknown) => {
      assert.ok(e instanceof CorruptDataError);
      assert.equal(e.path, metadata);
      assert.ok(e.message.includes(metadata));
      return true;
    });
    assert.equal(await exists(join(root, NODE, 'lock')), false);
    await writeFile(metadata, good);
    await open();
  });

  it('data dir - an I/O failure in the middle of the scan releases the lock and passes through', async () => {
    await seed();
    let reads = 0;
    // The second metadata read fails: one segment was already read when the scan breaks.
    const fs = failingReads((p) => p.endsWith('/metadata') && ++reads === 2);
    await assert.rejects(open(fs), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'EIO');
      assert.ok(!isPermanent(e));
      return true;
    });
    assert.equal(reads, 2);
    assert.equal(await exists(join(root, NODE, 'lock')), false);
    await open();
  });

  it('lock - a second open while this process holds the lock is refused naming the holder', async () => {
    const first = await open();
    await assert.rejects(openDataDir(nodeFs, root, NODE), (e: unknown) => {
      assert.ok(e instanceof DataDirLockedError);
      assert.ok(isPermanent(e));
      assert.ok(e.message.includes(join(root, NODE, 'lock')));
      assert.ok(e.message.includes(`pid ${process.pid}`), e.message);
      return true;
    });
    // The refused open must not have touched the holder's lock.
    assert.equal(JSON.parse(await readFile(first.lock.path, 'utf8')).pid, process.pid);
    await first.close();
    await open();
  });

  it('lock - a lock left by a dead process is taken over', async () => {
    const child = spawnSync(process.execPath, ['-e', '']);
    assert.equal(child.status, 0);
    const deadPid = child.pid;
    assert.ok(deadPid > 0);
    await mkdir(join(root, NODE), { recursive: true });
    await writeFile(join(root, NODE, 'lock'), JSON.stringify({ pid: deadPid, started_at: '2020-01-01T00:00:00.000Z' }));
    const d = await open();
    assert.equal(JSON.parse(await readFile(d.lock.path, 'utf8')).pid, process.pid);
  });

  it('lock - a lock naming this pid that this process does not hold is stale (a restarted container)', async () => {
    await mkdir(join(root, NODE), { recursive: true });
    await writeFile(
      join(root, NODE, 'lock'),
      JSON.stringify({ pid: process.pid, started_at: '2020-01-01T00:00:00.000Z' }),
    );
    const d = await open(nodeFs, new FakeClock(T0));
    assert.equal(JSON.parse(await readFile(d.lock.path, 'utf8')).started_at, new Date(T0).toISOString());
  });

  it('lock - an unreadable lock file (torn by a crash) is taken over', async () => {
    await mkdir(join(root, NODE), { recursive: true });
    await writeFile(join(root, NODE, 'lock'), '');
    const d = await open();
    assert.equal(JSON.parse(await readFile(d.lock.path, 'utf8')).pid, process.pid);
    assert.deepEqual((await readdir(join(root, NODE))).sort(), ['lock']);
  });

  it('data dir - crash leftovers of segment creation are removed at open', async () => {
    const shardDir = await seed();
    await mkdir(join(shardDir, `${segmentName(T0 + 5 * HOUR_MS)}.creating`), { recursive: true });
    const d = await open();
    assert.equal(d.segments.length, 4);
    assert.deepEqual((await readdir(shardDir)).sort(), [segmentName(T0), segmentName(T0 + HOUR_MS)]);
  });

  it('group dir - a group met at runtime is created, and a bad segment in it throws the same way', async () => {
    const d = await open();
    assert.deepEqual(await openGroupDir(nodeFs, d, 'later'), []);
    assert.ok(await exists(join(d.nodeDir, 'later')));

    const seg = await createSegment(nodeFs, shardDirOf(d.nodeDir, 'later', 3), T0, T0 + HOUR_MS);
    assert.deepEqual(
      (await openGroupDir(nodeFs, d, 'later')).map((s) => [s.group, s.shard, s.name]),
      [['later', 3, seg.name]],
    );

    const metadata = join(seg.dir, 'metadata');
    await writeFile(metadata, JSON.stringify({ ...seg.metadata, version: '0' }));
    await assert.rejects(openGroupDir(nodeFs, d, 'later'), (e: unknown) => {
      assert.ok(e instanceof UnsupportedVersionError);
      assert.ok(e.message.includes(metadata) && e.message.includes('"0"'));
      return true;
    });
    await writeFile(metadata, 'garbage');
    await assert.rejects(
      openGroupDir(nodeFs, d, 'later'),
      (e: unknown) => e instanceof CorruptDataError && e.path === metadata,
    );
    // The node's lock is the caller's to release (it stops the node); openGroupDir holds nothing.
    assert.ok(await exists(d.lock.path));
    await d.close();
    await assert.rejects(openGroupDir(nodeFs, d, 'later'), /is closed/);
  });

  it('data dir - layout generations: generation 1 keeps its old directories, later ones live under gen-<g>, each is listed', async () => {
    const nodeDir = join(root, NODE);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 0), T0, T0 + HOUR_MS);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 3, 2), T0, T0 + HOUR_MS);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 1, 12), T0, T0 + HOUR_MS);
    assert.equal(shardDirOf(nodeDir, 'g1', 0), join(nodeDir, 'g1', 'shard-0'));
    assert.equal(shardDirOf(nodeDir, 'g1', 3, 2), join(nodeDir, 'g1', 'gen-2', 'shard-3'));
    assert.deepEqual(await generationsOnDisk(nodeFs, nodeDir, 'g1'), [1, 2, 12]);
    const d = await open();
    assert.deepEqual(
      d.segments.map((s) => [s.group, s.generation, s.shard]),
      [
        ['g1', 1, 0],
        ['g1', 2, 3],
        ['g1', 12, 1],
      ],
    );
  });

  it('data dir - dropping a generation removes its shards only, and a drop cut short by a crash is finished at open', async () => {
    const nodeDir = join(root, NODE);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 0), T0, T0 + HOUR_MS);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 1), T0, T0 + HOUR_MS);
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 0, 2), T0, T0 + HOUR_MS);
    assert.deepEqual(await dropGeneration(nodeFs, nodeDir, 'g1', 1), [0, 1]);
    assert.deepEqual(await generationsOnDisk(nodeFs, nodeDir, 'g1'), [2]);
    assert.deepEqual(await readdir(join(nodeDir, 'g1')), ['gen-2']);
    // A crash between the rename and the removal leaves `*.dropping`, which no scan reads as data.
    await createSegment(nodeFs, shardDirOf(nodeDir, 'g1', 0, 3), T0, T0 + HOUR_MS);
    await nodeFs.rename(join(nodeDir, 'g1', 'gen-3'), join(nodeDir, 'g1', 'gen-3.dropping'));
    const d = await open();
    assert.deepEqual(
      d.segments.map((s) => [s.generation, s.shard]),
      [[2, 0]],
    );
    assert.deepEqual(await readdir(join(nodeDir, 'g1')), ['gen-2']);
    assert.deepEqual(await dropGeneration(nodeFs, nodeDir, 'g1', 2), [0]);
    assert.deepEqual(await dropGeneration(nodeFs, nodeDir, 'g1', 2), [], 'dropping again finds nothing');
  });
});
