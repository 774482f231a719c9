/**
 * A bounded WAL (actors/data_shard/wal_trim.ts) on a real cluster (1 liaison, 2 data nodes, a group
 * of 2 shards with 2 replicas, so both data nodes own every shard; trim passes every 200 ms with no
 * safety window): once both owners flushed, the WAL holds nothing of the group; while one owner is
 * down its backlog stays, and when it returns it catches up from the WAL, serves every point on its
 * own, and the WAL is trimmed again.
 */
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { ActorsReply, WritePoint } from '../../transport/api_types.js';
import type { QueryReply, MeasureRow } from '../../transport/query_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

const S = subjectsFor();
const GROUP = 'trimmed';
const HOSTS = 50;
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;

describe('bounded WAL (1 liaison, 2 data nodes, 2 replicas)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let nc: NatsConnection;

  before(async () => {
    c = await TestCluster.start({
      liaisons: 1,
      dataNodes: 2,
      claimers: 0,
      nodeArgs: ['--wal-trim-interval', '200ms', '--wal-keep-flushed', '0s'],
    });
    nc = await connect({ servers: c.lc.natsUrl });
    await c.createGroup(GROUP, { replicas: 2 });
    await c.createMeasure(GROUP, 'cpu');
  });
  after(async () => {
    await nc?.close();
    await c?.stop();
  });

  /** Records of the group's shards the WAL holds now. */
  const walRecords = async () => {
    const info = await (
      await jetstreamManager(nc)
    ).streams.info(S.walStream, {
      subjects_filter: S.wal(GROUP, 0).replace(/\.0$/, '.>'),
    });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  };
  const write = (i: number) => {
    const points: WritePoint[] = Array.from({ length: HOSTS }, (_, h) => ({
      tags: { host: `h${h}` },
      fields: { value: i },
      ts: T0 + i * 1000,
    }));
    return c.api(S.api.write('measure'), { group: GROUP, name: 'cpu', points }, 10_000);
  };
  const count = async () =>
    (
      await c.api<QueryReply<MeasureRow>>(
        S.api.query('measure'),
        { group: GROUP, name: 'cpu', from: T0, to: T0 + 3_600_000, limit: 10_000 },
        10_000,
      )
    ).rows!.length;
  const passes = async (node: string) => {
    const r = await c.control<ActorsReply>(node, 'actors');
    return Number(r.actors.find((a) => a.kind === 'data_shard')?.details.wal_trim_passes ?? 0);
  };
  const flushedAll = async (node: string) => {
    const r = await c.control<ActorsReply>(node, 'actors');
    const shards = (r.actors.find((a) => a.kind === 'data_shard')?.details.shards ?? []) as {
      shard: string;
      flushed: number;
      published: number | null;
    }[];
    const mine = shards.filter((s) => s.shard.startsWith(`${GROUP}/`));
    return mine.length === 2 && mine.every((s) => s.published !== null && s.flushed >= s.published);
  };

  it('wal - flushed by every owner: trimmed; an owner down keeps its backlog, which it drains when back', async () => {
    for (let i = 0; i < 10; i++) await write(i);
    assert.ok((await walRecords()) > 0);
    await waitFor(async () => (await walRecords()) === 0, {
      timeoutMs: 30_000,
      what: 'the WAL to drop what both owners flushed',
    });
    assert.equal(await count(), 10 * HOSTS, 'every point is still read, from parts');

    // d2 goes away: d1 flushes what comes next, but d2 has not: the WAL keeps it for d2.
    c.lc.kill('d2', 'SIGTERM');
    await c.lc.nodes.get('d2')!.exited;
    for (let i = 10; i < 15; i++) await write(i);
    const backlog = await walRecords();
    assert.ok(backlog > 0);
    await waitFor(() => flushedAll('d1'), { timeoutMs: 30_000, what: 'd1 to flush the new points' });
    const seen = await passes('d1');
    await waitFor(async () => (await passes('d1')) >= seen + 3, { timeoutMs: 10_000, what: 'three more trim passes' });
    assert.equal(await walRecords(), backlog, 'nothing d2 has not flushed is trimmed');

    // d2 returns, catches up from the WAL and flushes; then the WAL is trimmed again.
    c.lc.spawnNode('d2', ['data']);
    await c.lc.waitReady('d2');
    await waitFor(() => flushedAll('d2'), { timeoutMs: 30_000, what: 'd2 to catch up and flush' });
    await waitFor(async () => (await walRecords()) === 0, { timeoutMs: 30_000, what: 'the backlog trimmed' });
    // d2 alone serves every point, the ones it read from the WAL after its return included.
    c.lc.kill('d1', 'SIGTERM');
    await c.lc.nodes.get('d1')!.exited;
    await waitFor(async () => (await count()) === 15 * HOSTS, {
      timeoutMs: 20_000,
      what: 'd2 to serve every point alone',
    });
  });
});
