/**
 * Shard owners apply the WAL into parts (real processes, real files): writes acknowledged while every
 * data node is down are stored once one returns; a data node killed with SIGKILL while a writer
 * streams loses nothing and duplicates nothing once restarted.
 */
import type { WriteReply } from '../../transport/api_types.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TestCluster } from '../harness/cluster.js';
import { waitFor, exitWithin } from '../harness/wait.js';
import { shardDirOf } from '../../storage/data_dir.js';
import { nodeFs } from '../../storage/fs.js';
import { ShardStore } from '../../storage/shard_store.js';
import { systemClock } from '../../runtime/clock.js';
import { subjectsFor } from '../../transport/subjects.js';

const S = subjectsFor();
type Actors = { actors: { id: string; details: { shards?: { shard: string; applied: number; flushed: number }[] } }[] };

describe('shard owners apply the WAL (1 liaison + 1 data node)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  const now = Date.now();
  const acked = new Map<string, number>(); // `${host}/${ts}` → value

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
    await c.createGroup('sa', { shards: 2 });
    const m = await c.createMeasure('sa', 'cpu');
    assert.equal((await c.barrier('applied', { keys: ['measure:sa/cpu'], min_revisions: [m.revision] })).applied, true);
  });
  after(async () => {
    await c?.stop();
  });

  async function writeBatch(i: number): Promise<WriteReply> {
    const points = Array.from({ length: 50 }, (_, k) => ({
      ts: now - 60_000 + i,
      tags: { host: `h${k}` },
      fields: { value: i * 100 + k },
    }));
    const r = await c.api<WriteReply>(
      S.api.write('measure'),
      { group: 'sa', name: 'cpu', batch_id: `b${i}`, points },
      10_000,
    );
    for (const p of points) acked.set(`${p.tags.host}/${p.ts}`, p.fields.value);
    return r;
  }

  /** Waits until d1 flushed every shard up to the token's sequences. */
  async function flushedUpTo(token: Record<string, number>): Promise<void> {
    await waitFor(
      async () => {
        const a = await c.control<Actors>('d1', 'actors');
        const shards = a.actors.find((x) => x.id === 'data_shard')!.details.shards ?? [];
        return Object.entries(token).every(
          ([s, seq]) => (shards.find((x) => x.shard === `sa/${s}`)?.flushed ?? 0) >= seq,
        );
      },
      { timeoutMs: 30_000, what: `d1 flushed up to ${JSON.stringify(token)}` },
    );
  }

  /** Every row on d1's disk, read with the node stopped: (host/ts) → value, counting duplicates. */
  async function rowsOnDisk(): Promise<{ rows: Map<string, number>; count: number }> {
    const rows = new Map<string, number>();
    let count = 0;
    for (const shard of [0, 1]) {
      const store = await ShardStore.open(nodeFs, shardDirOf(join(c.lc.opts.dir, 'data', 'd1'), 'sa', shard), {
        clock: systemClock,
      });
      try {
        const merged = await store.scanMerged({ minTs: 0, maxTs: Number.MAX_SAFE_INTEGER });
        for (const r of merged.values()) {
          const hosts = r.tags.host as string[];
          const values = r.fields.value!;
          for (let i = 0; i < r.timestamps.length; i++) {
            rows.set(`${hosts[i]}/${r.timestamps[i]}`, values[i]!);
            count++;
          }
        }
      } finally {
        await store.close();
      }
    }
    return { rows, count };
  }

  it('shard - writes acknowledged while every data node is down are stored once one returns', async () => {
    c.lc.kill('d1', 'SIGTERM');
    assert.equal(await exitWithin(c.lc.nodes.get('d1')!.exited, 20_000, 'd1'), 0);
    let token: Record<string, number> = {};
    for (let i = 0; i < 5; i++) token = { ...token, ...(await writeBatch(i)).write_token.shards };
    c.lc.spawnNode('d1', ['data']);
    await c.lc.waitReady('d1');
    await flushedUpTo(token);
  });

  it('shard - SIGKILL while a writer streams, then restart: every acknowledged point is stored exactly once', async () => {
    let token: Record<string, number> = {};
    for (let i = 5; i < 15; i++) {
      token = { ...token, ...(await writeBatch(i)).write_token.shards };
      if (i === 9) c.lc.kill('d1', 'SIGKILL');
    }
    await c.lc.nodes.get('d1')!.exited;
    c.lc.spawnNode('d1', ['data']);
    await c.lc.waitReady('d1');
    await flushedUpTo(token);
    c.lc.kill('d1', 'SIGTERM');
    assert.equal(await exitWithin(c.lc.nodes.get('d1')!.exited, 20_000, 'd1'), 0);
    const { rows, count } = await rowsOnDisk();
    assert.equal(count, acked.size, 'no duplicates');
    assert.deepEqual(rows, acked, 'every acknowledged point, with its value');
  });

  it('shard - WAL records of a measure deleted before a data node applied them are skipped, not fatal', async () => {
    const tmp = await c.createMeasure('sa', 'tmp');
    assert.equal(
      (await c.barrier('applied', { keys: ['measure:sa/tmp'], min_revisions: [tmp.revision] })).applied,
      true,
    );
    c.lc.kill('d1', 'SIGTERM');
    await c.lc.nodes.get('d1')!.exited;
    const w = await c.api<WriteReply>(S.api.write('measure'), {
      group: 'sa',
      name: 'tmp',
      points: [{ ts: now, tags: { host: 'x' }, fields: { value: 1 } }],
    });
    const del = await c.deleteMeasure('sa', 'tmp');
    c.lc.spawnNode('d1', ['data']);
    await c.lc.waitReady('d1');
    // Then a later write to a live measure is applied: the shard got past the orphan record.
    const after = await writeBatch(100);
    await flushedUpTo(after.write_token.shards);
    assert.ok(Object.values(after.write_token.shards).length > 0 && Object.keys(w.write_token.shards).length === 1);
    assert.equal((await c.barrier('revision', { min_revision: del.revision })).applied, true);
    assert.equal(c.lc.nodes.get('d1')!.exitCode, undefined, 'd1 is still running');
  });
});
