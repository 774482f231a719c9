/**
 * Racing claimers on a cluster (1 liaison, 2 data nodes, 3 claimer processes, 3 s lease timeout):
 * a re-shard whose copy is slowed down on the data nodes; the claimer holding it mid-copy is
 * SIGKILLed, then the one that took it over is SIGKILLed mid-cutover (a data node holding back
 * the barrier keeps the cutover open). The third claimer finishes the migration, no acknowledged
 * write is lost, a layout write with a dead holder's token is refused, and the log of every write
 * of the operation (a live watch on the migrations bucket) shows one lease at a time: a token
 * once replaced never writes again, and a live lease is taken over only after the lease timeout.
 */
import assert from 'node:assert/strict';
import type { WritePoint, WriteReply } from '../../transport/api_types.js';
import type { KvEntry } from '../../transport/bus.js';
import { decode } from '../../transport/codec.js';
import { Code, codeOf } from '../../transport/errors.js';
import type { Layout } from '../../transport/layout_types.js';
import type { MigrationStatus, OperationRecord } from '../../transport/migration_types.js';
import type { QueryReply } from '../../transport/query_types.js';
import type { StoredResource } from '../../transport/schema_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { TestCluster } from '../harness/cluster.js';
import { exitWithin, waitFor } from '../harness/wait.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
const GROUP = 'race';
const LEASE_TIMEOUT_MS = 3000;
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);
const HOSTS = 40;

describe('racing claimers (1 liaison, 2 data nodes, 3 claimers)', function () {
  this.timeout(180_000);
  let c: TestCluster;
  const log: KvEntry[] = [];
  let stopWatch = () => undefined as void;

  before(async () => {
    c = await TestCluster.start({
      liaisons: 1,
      dataNodes: 2,
      claimers: 3,
      nodeArgs: ['--lease-timeout', `${LEASE_TIMEOUT_MS}ms`, '--retiring-grace', '1h'],
    });
    await c.createGroup(GROUP);
    await c.createMeasure(GROUP, 'cpu');
    // Every write of the migrations bucket from now on, in order.
    const bucket = await c.bus.kv(S.opsBucket);
    const watch = await bucket.watch((await bucket.lastRevision()).revision + 1);
    stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) log.push(e);
    })();
  });
  after(async () => {
    stopWatch();
    await c?.stop();
  });

  let step = 0;
  let points = 0;
  const tokens: WriteToken[] = [];
  const writeBatch = async () => {
    const ts = T0 + step++ * 1000;
    const batch: WritePoint[] = Array.from({ length: HOSTS }, (_, h) => ({
      tags: { host: `h${h}` },
      fields: { value: h },
      ts,
    }));
    const r = await c.api<WriteReply>(S.api.write('measure'), { group: GROUP, name: 'cpu', points: batch }, 10_000);
    points += HOSTS;
    tokens.push(r.write_token);
  };
  const count = async (): Promise<number> => {
    const r = await c.api<QueryReply>(
      S.api.query('measure'),
      {
        group: GROUP,
        name: 'cpu',
        from: T0,
        to: T0 + 86_400_000,
        aggregations: [{ fn: 'count' }],
        write_token: mergeTokens(GROUP, tokens),
      },
      10_000,
    );
    return Number(r.groups?.[0]?.values.count ?? 0);
  };
  const status = (id: string) => c.api<MigrationStatus>(S.api.migration('status'), { id }, 10_000);
  /** Polls the migration (writing and checking a batch each round) until `ready` holds. */
  const writeUntil = (id: string, what: string, ready: (s: MigrationStatus) => boolean) =>
    waitFor(
      async () => {
        await writeBatch();
        assert.equal(await count(), points, `every acknowledged point is read while waiting for ${what}`);
        const s = await status(id);
        return ready(s) && s;
      },
      { timeoutMs: 60_000, what },
    );
  const kill = async (node: string) => {
    c.lc.kill(node, 'SIGKILL');
    await exitWithin(c.lc.nodes.get(node)!.exited, 10_000, `claimer ${node}`);
  };

  it('claimers - holders killed mid-copy and mid-cutover are replaced after the lease timeout; the migration completes', async () => {
    for (let i = 0; i < 5; i++) await writeBatch();
    // Each backfill request is answered 1 s late: the copy takes several seconds.
    const slow = { actor: 'data_shard', phase: 'backfill', kind: 'delay', delay_ms: 1000, group: GROUP };
    for (const n of ['d1', 'd2']) await c.injectFault(n, slow as never);
    const { id } = await c.api<MigrationStatus>(
      S.api.migration('start'),
      { spec: { targets: [GROUP], change: { group: { shards: 4 } } } },
      10_000,
    );

    // Mid-copy: the rows are counted, the copy has not finished.
    const copying = await writeUntil(id, 'the copy under way', (s) => {
      const o = s.operations[0]!;
      return o.state === 'running' && o.lease_owner !== null && o.rows_total > 0;
    });
    const first = copying.operations[0]!.lease_owner!;
    await kill(first);
    const killedAt = Date.now();

    // A survivor takes it over; d2 then stops applying schema, so the cutover waits on the barrier.
    const second = (
      await writeUntil(id, 'a second holder', (s) => {
        const o = s.operations[0]!;
        return o.lease_owner !== null && o.lease_owner !== first;
      })
    ).operations[0]!.lease_owner!;
    assert.ok(Date.now() - killedAt >= LEASE_TIMEOUT_MS - 500, 'taken over only after the lease timeout');
    await c.control('d2', 'pause_watch');
    for (const n of ['d1', 'd2']) await c.control(n, 'clear_fault');
    await writeUntil(id, 'the cutover held by the barrier', (s) => {
      const o = s.operations[0]!;
      return o.state === 'cutting_over' && o.lease_owner === second;
    });
    await kill(second);
    await c.control('d2', 'resume_watch');

    const done = await writeUntil(id, 'completion by the third claimer', (s) => s.state === 'completed');
    const op = done.operations[0]!;
    assert.equal(op.rows_copied, op.rows_total);
    const layout = (await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: GROUP })).resource as Layout;
    assert.equal(layout.current.shards, 4);
    assert.equal(layout.current.generation, 2);
    await writeBatch();
    assert.equal(await count(), points, 'every point written before, during and after, read once from the new layout');

    // The lease log: every write of the operation, in order.
    const key = `op.${id}.0`;
    const writes = await waitFor(
      () => {
        const w = log
          .filter((e) => e.key === key && e.operation === 'PUT')
          .map((e) => decode(e.value) as OperationRecord);
        return w.at(-1)?.state === 'completed' && w;
      },
      { what: 'the completed operation in the watch log' },
    );
    const holders: { token: string; owner: string; lastBeat: number }[] = [];
    let prev: OperationRecord | undefined;
    for (const w of writes) {
      const cur = holders.at(-1);
      if (w.lease && cur?.token === w.lease.token) cur.lastBeat = w.lease.heartbeat_at;
      else if (w.lease) {
        const token = w.lease.token;
        assert.ok(!holders.some((h) => h.token === token), `token ${token} wrote again after it was replaced`);
        // A lease still held (not released in between) is taken over only once it went stale.
        if (cur && prev?.lease?.token === cur.token) {
          const silence = w.lease.heartbeat_at - cur.lastBeat;
          assert.ok(silence >= LEASE_TIMEOUT_MS, `${w.lease.owner} took ${cur.owner}'s live lease after ${silence} ms`);
        }
        holders.push({ token, owner: w.lease.owner, lastBeat: w.lease.heartbeat_at });
      }
      prev = w;
    }
    // Each holder goes on from the copy position its predecessor recorded: progress never goes back.
    const copied = writes.map((w) => w.rows_copied);
    assert.ok(
      copied.every((n, i) => i === 0 || n >= copied[i - 1]!),
      `rows copied never decrease: ${copied.join(', ')}`,
    );
    const owners = holders.map((h) => h.owner);
    assert.ok(owners.includes(first) && owners.includes(second), `holders ${owners.join(', ')}`);
    const third = owners.at(-1)!;
    assert.ok(
      ![first, second].includes(third),
      `the migration was finished by the third claimer (${owners.join(', ')})`,
    );

    // A write fenced by a dead holder's token is refused, and the layout stays as it is.
    const stale = holders.find((h) => h.owner === second)!.token;
    const before = await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: GROUP });
    const err = await c
      .api(S.api.schema('layout', 'update'), {
        resource: { ...layout, current: { ...layout.current, shards: 8 } },
        expected_revision: before.mod_revision,
        migration: { id, index: 0, token: stale },
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.equal(codeOf(err), Code.FailedPrecondition, String(err));
    const after = await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: GROUP });
    assert.equal(after.mod_revision, before.mod_revision, 'nothing written');
  });
});
