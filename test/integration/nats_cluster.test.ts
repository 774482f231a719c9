/**
 * NATS without a single point of failure: a JetStream cluster of three nats-servers (real
 * processes on loopback), 1 liaison and 2 data nodes. The WAL stream and the KV buckets get three
 * replicas; SIGKILL of the server leading the WAL while a writer streams and barrier calls run
 * costs at most a short retry; every acknowledged point is then present exactly once, the barrier
 * converges, and the killed server, started again on its store, catches up.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { LockstepClient } from '../../transport/client.js';
import { NatsBus } from '../../transport/nats_bus.js';
import type { LockstepError } from '../../transport/errors.js';
import type { WritePoint } from '../../transport/api_types.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { subjectsFor } from '../../transport/subjects.js';
import { TestCluster } from '../harness/cluster.js';
import { groupResource, hostValueMeasure } from '../harness/fixtures.js';
import { streamInfo } from '../harness/stream_info.js';
import { waitFor } from '../harness/wait.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
const GROUP = 'ha';
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);
const HOSTS = 20;
/** Batches written in all; the kill comes after KILL_AFTER of them. */
const BATCHES = 60;
const KILL_AFTER = 15;
/** A batch not acknowledged within this, retries included, fails the test. */
const BATCH_BOUND_MS = 30_000;

describe('NATS cluster of three: replicated WAL and registry, one server SIGKILLed under load', function () {
  this.timeout(180_000);
  let c: TestCluster;
  let client: LockstepClient;

  before(async () => {
    c = await TestCluster.start({ natsServers: 3, liaisons: 1, dataNodes: 2 });
    client = await LockstepClient.connect({ natsUrl: c.lc.natsUrl, name: 'ha-writer' });
  });
  after(async () => {
    await client?.close().catch(() => undefined);
    await c?.stop();
  });

  const streamInfoOf = (stream: string) => streamInfo(c.bus, stream);

  it('nodes default to three replicas for the WAL and both KV buckets', async () => {
    await client.create('group', groupResource(GROUP));
    await client.create('measure', hostValueMeasure(GROUP, 'cpu'));
    for (const stream of [S.walStream, 'KV_lockstep_schema', `KV_${S.opsBucket}`]) {
      const info = await waitFor(async () => (await streamInfoOf(stream).catch(() => undefined)) ?? false, {
        what: `stream ${stream}`,
      });
      assert.equal(info.config.num_replicas, 3, `${stream} replicas`);
      assert.equal(info.cluster?.replicas?.length, 2, `${stream}: a leader and two followers`);
      if (stream !== S.walStream) assert.equal(info.config.allow_direct, false, `${stream}: reads go to the leader`);
    }
  });

  it('a key just written reads back at once through every server (no stale follower read)', async () => {
    const readers = await Promise.all(
      c.lc.natsCluster!.servers.map((s, i) =>
        NatsBus.connect({ url: s.url, name: `ha-reader-${i}`, streamReplicas: 3 }),
      ),
    );
    try {
      const writer = await c.bus.kv('ha_read_after_write');
      const kvs = await Promise.all(readers.map((r) => r.kv('ha_read_after_write')));
      const missed: string[] = [];
      // With direct gets, reads served by a lagging follower missed 0-9 of 1,500 in a run.
      for (let i = 0; i < 1000; i++) {
        const key = `k${i}`;
        const revision = await writer.create(key, new Uint8Array([i & 0xff]));
        const got = await Promise.all(kvs.map((kv) => kv.get(key)));
        got.forEach((e, r) => {
          if (e?.revision !== revision)
            missed.push(`${key} via server ${r}: ${e ? `revision ${e.revision}` : 'missing'}`);
        });
      }
      assert.deepEqual(missed, []);
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
  });

  it('SIGKILL of the WAL leader: writes go on after a short retry, nothing lost or doubled, it catches up', async () => {
    const tokens: WriteToken[] = [];
    const slowest = { ms: 0, retries: 0 };
    let acked = 0;
    let killed = -1;
    let barrierCalls = 0;
    let barrierFailures = 0;
    const stopBarrier = new AbortController();
    // Barrier calls all along: each may fail while the cluster elects, none may hang.
    const barrierLoop = (async () => {
      while (!stopBarrier.signal.aborted) {
        barrierCalls++;
        try {
          await client.awaitRevision(1, { timeoutMs: 2000 });
        } catch {
          barrierFailures++;
        }
      }
    })();

    try {
      for (let b = 0; b < BATCHES; b++) {
        if (b === KILL_AFTER) {
          const leader = (await streamInfoOf(S.walStream)).cluster!.leader!;
          killed = Number(leader.slice(1)) - 1;
          process.kill(c.lc.natsCluster!.servers[killed]!.pid, 'SIGKILL');
        }
        const points: WritePoint[] = Array.from({ length: HOSTS }, (_, h) => ({
          tags: { host: `h${h}` },
          fields: { value: b },
          ts: T0 + b * 1000,
        }));
        const started = performance.now();
        let retries = 0;
        for (;;) {
          try {
            // The same batch id on every attempt: a retry of an append that did land stores nothing twice.
            const r = await client.writeMeasure(GROUP, 'cpu', points, { batchId: `b${b}`, timeoutMs: 5000 });
            tokens.push(r.write_token);
            acked += HOSTS;
            break;
          } catch (err) {
            retries++;
            assert.ok(
              performance.now() - started < BATCH_BOUND_MS,
              `batch ${b} still failing: ${(err as Error).message}`,
            );
            await new Promise((r) => setTimeout(r, 200)); // retry backoff of the writer, not a wait on the system
          }
        }
        const ms = performance.now() - started;
        if (ms > slowest.ms) Object.assign(slowest, { ms, retries });
      }
    } finally {
      stopBarrier.abort();
      await barrierLoop;
    }
    assert.ok(killed >= 0);
    assert.ok(barrierCalls > barrierFailures, 'barrier calls succeeded around the kill');

    // Every acknowledged point exactly once, read with the merged token of every write.
    const token = mergeTokens(GROUP, tokens);
    // A data node whose connection was on the killed server may be out of the membership for a
    // moment: the query is asked again until every shard has a live owner.
    const rows = await waitFor(
      async () => {
        try {
          const reply = await client.queryMeasure({
            group: GROUP,
            name: 'cpu',
            from: T0,
            to: T0 + BATCHES * 1000,
            limit: 100_000,
            write_token: token,
            timeout_ms: 10_000,
          });
          return reply.rows!;
        } catch (err) {
          if ((err as LockstepError).code !== 'Unavailable') throw err;
          return undefined;
        }
      },
      { timeoutMs: 30_000, what: 'a query with every shard owned' },
    );
    assert.equal(rows.length, acked);
    assert.equal(new Set(rows.map((r) => `${r.tags.host}@${r.ts}`)).size, acked, 'no point twice');
    assert.equal(acked, BATCHES * HOSTS);
    const converged = await client.awaitRevision(1, { timeoutMs: 10_000 });
    assert.equal(converged.applied, true, JSON.stringify(converged));

    // The killed server comes back on its store and catches up with the WAL.
    await c.lc.natsCluster!.restart(killed);
    const last = (await streamInfoOf(S.walStream)).state.last_seq;
    await waitFor(
      async () => {
        const info = await streamInfoOf(S.walStream);
        const r = info.cluster?.replicas ?? [];
        return (
          r.length === 2 && r.every((x) => x.current && !x.offline && (x.lag ?? 0) === 0) && info.state.last_seq >= last
        );
      },
      { timeoutMs: 30_000, what: `server n${killed + 1} to catch up with the WAL` },
    );
    console.log(
      `      slowest batch ${slowest.ms.toFixed(0)} ms (${slowest.retries} retries); barrier calls ${barrierCalls}, failed ${barrierFailures}`,
    );
  });
});
