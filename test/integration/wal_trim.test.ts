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
import type { Group, StoredResource } from '../../transport/schema_types.js';
import { placeShards, placementSpecOf } from '../../storage/placement.js';
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
  /**
   * True once each of the 2 shards holds at most its record at the owners' floor: a trim pass
   * purges below the floor, not through it (wal_trim.ts `purgeThrough`).
   */
  const trimmedToFloors = async () => (await walRecords()) <= 2;
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
  /** The last WAL sequence of a shard of the group, read from the stream itself. */
  const lastSeq = async (shard: number) => {
    const jsm = await jetstreamManager(nc);
    const m = await jsm.streams.getMessage(S.walStream, { last_by_subj: S.wal(GROUP, shard) }).catch(() => null);
    return m?.seq ?? 0;
  };
  const shardsOf = async (node: string) => {
    const r = await c.control<ActorsReply>(node, 'actors');
    return (r.actors.find((a) => a.kind === 'data_shard')?.details.shards ?? []) as {
      shard: string;
      flushed: number;
    }[];
  };
  /** True once `node` flushed both shards of the group up to their last WAL record. */
  const flushedAll = async (node: string) => {
    const mine = (await shardsOf(node)).filter((s) => s.shard.startsWith(`${GROUP}/`));
    const last = [await lastSeq(0), await lastSeq(1)];
    return mine.length === 2 && mine.every((s) => s.flushed >= last[Number(s.shard.split('/')[1])]!);
  };
  /** What a failed wait needs to be understood: the WAL's records by subject and each node's shards. */
  const diagnose = async () => {
    const info = await (
      await jetstreamManager(nc)
    ).streams.info(S.walStream, { subjects_filter: `${S.prefix}.wal.${GROUP}.>` });
    const nodes: Record<string, unknown> = {};
    for (const n of ['d1', 'd2']) nodes[n] = await shardsOf(n).catch((e: Error) => e.message);
    return JSON.stringify({ wal: info.state.subjects, last: [await lastSeq(0), await lastSeq(1)], nodes });
  };

  it('wal - flushed by every owner: trimmed; an owner down keeps its backlog, which it drains when back', async () => {
    for (let i = 0; i < 10; i++) await write(i);
    assert.ok((await walRecords()) > 0);
    await waitFor(trimmedToFloors, {
      timeoutMs: 60_000,
      what: 'the WAL to drop what both owners flushed',
    }).catch(async (err: Error) => assert.fail(`${err.message}: ${await diagnose()}`));
    assert.equal(await count(), 10 * HOSTS, 'every point is still read, from parts');

    // The other owner of shard 0 goes away; shard 0's preferred owner (which trims it) flushes
    // what comes next, but the one away has not: the WAL keeps it.
    const group = (await c.api<StoredResource>(S.api.schema('group', 'get'), { group: GROUP })).resource as Group;
    const [trimmer, away] = placeShards(placementSpecOf(group)!)[0]!;
    assert.ok(trimmer && away, 'shard 0 has two owners');
    c.lc.kill(away, 'SIGTERM');
    await c.lc.nodes.get(away)!.exited;
    for (let i = 10; i < 15; i++) await write(i);
    const backlog = await walRecords();
    assert.ok(backlog > 0);
    await waitFor(() => flushedAll(trimmer), { timeoutMs: 30_000, what: `${trimmer} to flush the new points` });
    const seen = await passes(trimmer);
    await waitFor(async () => (await passes(trimmer)) >= seen + 3, {
      timeoutMs: 10_000,
      what: 'three more trim passes',
    });
    assert.equal(await walRecords(), backlog, `nothing ${away} has not flushed is trimmed: ${await diagnose()}`);

    // It returns, catches up from the WAL and flushes; then the WAL is trimmed again.
    c.lc.spawnNode(away, ['data']);
    await c.lc.waitReady(away);
    await waitFor(() => flushedAll(away), { timeoutMs: 30_000, what: `${away} to catch up and flush` });
    await waitFor(trimmedToFloors, { timeoutMs: 60_000, what: 'the backlog trimmed' }).catch(async (err: Error) =>
      assert.fail(`${err.message}: ${await diagnose()}`),
    );
    // It alone serves every point, the ones it read from the WAL after its return included.
    c.lc.kill(trimmer, 'SIGTERM');
    await c.lc.nodes.get(trimmer)!.exited;
    await waitFor(async () => (await count()) === 15 * HOSTS, {
      timeoutMs: 20_000,
      what: `${away} to serve every point alone`,
    });
  });
});
