/**
 * A damaged block on disk (real processes, real files): one byte flipped inside a block of a part's
 * data file while the data node is down. A query that reads that block fails with `Internal` and a
 * message naming the file (never a partial or wrong answer); queries that read other blocks, other
 * parts or other groups are still answered, and the node keeps running.
 */
import type { WriteReply } from '../../transport/api_types.js';
import assert from 'node:assert/strict';
import { openSync, closeSync, readSync, writeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../harness/cluster.js';
import { exitWithin, waitFor } from '../harness/wait.js';
import { shardDirOf } from '../../storage/data_dir.js';
import { nodeFs } from '../../storage/fs.js';
import { openPart } from '../../storage/part.js';
import { PART_FILES } from '../../storage/part_format.js';
import { COMPATIBLE_VERSIONS } from '../../storage/versions.js';
import { LockstepError } from '../../transport/errors.js';
import { subjectsFor } from '../../transport/subjects.js';

const S = subjectsFor();
const MIN = 60_000;
type Rows = { rows: { ts: number; tags: { host: string }; fields: { value: number } }[]; missing_shards: number[] };
type Actors = { actors: { id: string; details: { shards?: { shard: string; flushed: number }[] } }[] };

describe('a corrupt block (1 liaison + 1 data node)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  const now = Date.now();
  // Phase 1 (h1) and phase 2 (h2) are flushed separately, so each is a part of its own.
  const phase1 = Array.from({ length: 20 }, (_, i) => ({
    ts: now - 120 * MIN + i * MIN,
    tags: { host: 'h1' },
    fields: { value: i },
  }));
  const phase2 = Array.from({ length: 20 }, (_, i) => ({
    ts: now - 60 * MIN + i * MIN,
    tags: { host: 'h2' },
    fields: { value: 100 + i },
  }));

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
    for (const g of ['cb', 'cb_other']) {
      await c.createGroup(g, { shards: 1 });
      const m = await c.createMeasure(g, 'cpu');
      assert.equal(
        (await c.barrier('applied', { keys: [`measure:${g}/cpu`], min_revisions: [m.revision] })).applied,
        true,
      );
    }
  });
  after(async () => {
    await c?.stop();
  });

  const write = (group: string, points: unknown[]) =>
    c.api<WriteReply>(S.api.write('measure'), { group, name: 'cpu', points }, 10_000);
  const query = (group: string, extra: Record<string, unknown> = {}) =>
    c.api<Rows>(S.api.query('measure'), { group, name: 'cpu', from: now - 180 * MIN, to: now + MIN, ...extra }, 15_000);
  async function flushed(group: string, seq: number): Promise<void> {
    await waitFor(
      async () => {
        const a = await c.control<Actors>('d1', 'actors');
        const s = a.actors.find((x) => x.id === 'data_shard')!.details.shards?.find((x) => x.shard === `${group}/0`);
        return (s?.flushed ?? 0) >= seq;
      },
      { timeoutMs: 30_000, what: `${group}/0 flushed up to ${seq}` },
    );
  }

  it('storage - a flipped byte in a block is reported as corruption naming the file, and the query fails clearly', async () => {
    await flushed('cb', (await write('cb', phase1)).write_token.shards['0']!);
    await flushed('cb', (await write('cb', phase2)).write_token.shards['0']!);
    await flushed('cb_other', (await write('cb_other', phase1)).write_token.shards['0']!);
    assert.equal((await query('cb')).rows.length, 40);

    c.lc.kill('d1', 'SIGTERM');
    assert.equal(await exitWithin(c.lc.nodes.get('d1')!.exited, 20_000, 'd1'), 0);

    // The part holding h1's rows (the first flush), and the middle byte of its first block.
    const shardDir = shardDirOf(join(c.lc.opts.dir, 'data', 'd1'), 'cb', 0);
    const partDirs = readdirSync(shardDir)
      .filter((n) => n.startsWith('seg-'))
      .flatMap((seg) =>
        readdirSync(join(shardDir, seg, 'schema-cpu')).map((p) => join(shardDir, seg, 'schema-cpu', p)),
      );
    let target: { dataPath: string; offset: number } | undefined;
    for (const dir of partDirs) {
      const part = await openPart(nodeFs, dir, { supportedVersions: COMPATIBLE_VERSIONS });
      try {
        if (part.metadata.min_ts === phase1[0]!.ts) {
          const e = part.entries[0]!;
          target = { dataPath: join(dir, PART_FILES.data), offset: e.offset + Math.floor(e.length / 2) };
        }
      } finally {
        await part.close();
      }
    }
    assert.ok(target, `a part with h1's rows among ${partDirs.join(', ')}`);
    const fd = openSync(target.dataPath, 'r+');
    try {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, target.offset);
      b[0] = b[0]! ^ 0xff;
      writeSync(fd, b, 0, 1, target.offset);
    } finally {
      closeSync(fd);
    }

    c.lc.spawnNode('d1', ['data']);
    await c.lc.waitReady('d1');
    await waitFor(async () => (await query('cb_other')).rows.length === 20, {
      timeoutMs: 30_000,
      what: 'd1 serving again',
    });

    // Reading the damaged block: a clear error naming the file, no rows.
    const err = await query('cb').then(
      (r) => assert.fail(`expected the query to fail, got ${r.rows.length} rows`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof LockstepError, String(err));
    assert.equal(err.code, 'Internal');
    assert.ok(err.message.includes(target.dataPath), `the message names the file: ${err.message}`);
    assert.match(err.message, /corrupt data/);
    assert.match(err.message, /checksum/);
    // The data node logs it too, naming the file.
    await waitFor(
      () =>
        c
          .log('d1')
          .split('\n')
          .some((l) => l.includes('query met corrupt data') && l.includes(target.dataPath)),
      { timeoutMs: 5000, what: "d1's log names the corrupt file" },
    );

    // Blocks, parts and groups the query does not touch are still served, by the same process.
    const h2 = await query('cb', { criteria: { tag: 'host', op: 'eq', value: 'h2' } });
    assert.deepEqual(
      h2.rows.map((r) => r.fields.value),
      phase2.map((p) => p.fields.value),
    );
    const later = await query('cb', { from: now - 60 * MIN });
    assert.deepEqual(
      later.rows.map((r) => r.tags.host),
      phase2.map(() => 'h2'),
    );
    assert.equal((await query('cb_other')).rows.length, 20);
    assert.equal(c.lc.nodes.get('d1')!.exitCode, undefined, 'd1 is still running');
  });
});
