/**
 * A standalone node with its actors on the in-process twin host (same runner, no threads), on a
 * real nats-server: the watcher's core rule — the applied revision passes an event only when every
 * local actor acknowledged it — and the status and control services.
 */
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { resolveNodeConfig } from '../../runtime/config.js';
import { runNode, type NodeHandle } from '../../runtime/node.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { call } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';
import { decode } from '../../transport/codec.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { waitFor } from '../harness/wait.js';
import { useTempDir } from '../harness/temp_dir.js';

const S = subjectsFor();

describe('node on the in-process host', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  let node: NodeHandle;
  let bus: NatsBus;
  const revisions: number[] = [];
  // Registered before the temp dir: hooks of one kind run in order, so the node stops before it goes.
  after(async () => {
    await bus?.close();
    await node?.stop();
    await nats?.stop();
  });
  const tmp = useTempDir('solo');

  before(async () => {
    nats = await startNatsServer();
    node = await runNode(
      resolveNodeConfig({
        name: 'solo',
        roles: ['standalone'],
        natsUrl: nats.url,
        dataDir: tmp.path,
        threads: false,
        faultInjection: true,
        heartbeatIntervalMs: 200,
        evictableAfterMs: 1000,
        goneAfterMs: 3000,
        metricsPort: -1,
        logLevel: 'error',
      }),
    );
    bus = await NatsBus.connect({ url: nats.url, name: 'test' });
    bus.subscribe(S.events.schema, (m) => revisions.push((decode(m.data) as { revision: number }).revision));
    await bus.flush();
  });

  const maxRevision = async () =>
    (await call<{ revision: number }>(bus, S.node.status('solo', 'max_revision'), {}, { timeoutMs: 2000 })).revision;

  it('runtime - the in-process twin runs every actor on the calling thread', async () => {
    const a = await call<{ actors: { id: string; threadId: number; lifecycle: string }[] }>(
      bus,
      S.node.control('solo', 'actors'),
      {},
      { timeoutMs: 2000 },
    );
    assert.deepEqual(
      a.actors.map((x) => x.id),
      ['api', 'barrier', 'data_shard', 'cutover_claimer', 'schema_watcher'],
    );
    assert.ok(a.actors.every((x) => x.threadId === threadId && x.lifecycle === 'running'));
  });

  it('watcher - the applied revision waits for every local actor, and resumes once it acknowledges', async () => {
    const g = await call<{ revision: number }>(
      bus,
      S.api.schema('group', 'create'),
      {
        resource: { name: 'gi', catalog: 'stream', shards: 1, segment_interval: '1h', ttl: '1d' },
      },
      { timeoutMs: 2000 },
    );
    await waitFor(async () => (await maxRevision()) === g.revision, { what: 'group applied' });

    await call(
      bus,
      S.node.control('solo', 'inject_fault'),
      { fault: { actor: 'cutover_claimer', phase: 'apply', kind: 'transient' } },
      { timeoutMs: 2000 },
    );
    const s = await call<{ revision: number }>(
      bus,
      S.api.schema('stream', 'create'),
      {
        resource: {
          group: 'gi',
          name: 'logs',
          entity: ['svc'],
          tag_families: [{ name: 'default', tags: [{ name: 'svc', type: 'string' }] }],
        },
      },
      { timeoutMs: 2000 },
    );
    // The claimer keeps failing: once the watcher reports it lagging, the node is still before s.
    type Actors = {
      actors: { id: string; details: { lagging?: Record<string, string>; applied_revision?: number } }[];
    };
    const watcher = await waitFor(
      async () => {
        const a = await call<Actors>(bus, S.node.control('solo', 'actors'), {}, { timeoutMs: 2000 });
        const w = a.actors.find((x) => x.id === 'schema_watcher')!;
        return w.details.lagging?.cutover_claimer ? w : undefined;
      },
      { what: 'watcher reports the failing actor' },
    );
    assert.equal(watcher.details.applied_revision, g.revision);
    assert.equal(await maxRevision(), g.revision);
    assert.ok(!revisions.includes(s.revision), 'no advance to s was announced');
    await call(bus, S.node.control('solo', 'clear_fault'), {}, { timeoutMs: 2000 });
    await waitFor(async () => (await maxRevision()) === s.revision, {
      what: 'stream applied once the failure cleared',
    });
    await waitFor(() => revisions.includes(s.revision), { what: 'advance announced' });
    const keys = await call<{ keys: { present: boolean; mod_revision: number }[] }>(
      bus,
      S.node.status('solo', 'key_revisions'),
      { keys: [{ kind: 'stream', group: 'gi', name: 'logs' }] },
      { timeoutMs: 2000 },
    );
    assert.deepEqual(keys.keys, [{ present: true, mod_revision: s.revision }]);
  });

  it('status - more than 1000 keys is InvalidArgument; an unknown method is Unimplemented', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `stream:gi/s${i}`);
    await assert.rejects(
      call(bus, S.node.status('solo', 'key_revisions'), { keys }, { timeoutMs: 2000 }),
      (e: { code?: string }) => e.code === 'InvalidArgument',
    );
    await assert.rejects(
      call(bus, S.node.status('solo', 'nope'), {}, { timeoutMs: 2000 }),
      (e: { code?: string }) => e.code === 'Unimplemented',
    );
    const absent = await call<{ absent: unknown[]; still_present: unknown[] }>(
      bus,
      S.node.status('solo', 'absent_keys'),
      { keys: ['stream:gi/logs', 'stream:gi/none'] },
      { timeoutMs: 2000 },
    );
    assert.equal(absent.absent.length, 1);
    assert.equal(absent.still_present.length, 1);
  });

  it('control - fault injection is refused on a node started without it', async () => {
    const plain = await runNode(
      resolveNodeConfig({
        name: 'plain',
        roles: ['data'],
        natsUrl: nats.url,
        dataDir: tmp.path,
        threads: false,
        metricsPort: -1,
        logLevel: 'error',
      }),
    );
    try {
      await assert.rejects(
        call(
          bus,
          S.node.control('plain', 'inject_fault'),
          { fault: { actor: 'data_shard', phase: 'apply', kind: 'transient' } },
          { timeoutMs: 2000 },
        ),
        (e: { code?: string }) => e.code === 'PermissionDenied',
      );
    } finally {
      await plain.stop();
    }
  });

  it('control - unknown ops are Unimplemented, bad faults InvalidArgument', async () => {
    await assert.rejects(
      call(bus, S.node.control('solo', 'frobnicate'), {}, { timeoutMs: 2000 }),
      (e: { code?: string }) => e.code === 'Unimplemented',
    );
    await assert.rejects(
      call(
        bus,
        S.node.control('solo', 'inject_fault'),
        { fault: { actor: 'nobody', phase: 'apply', kind: 'transient' } },
        { timeoutMs: 2000 },
      ),
      (e: { code?: string }) => e.code === 'InvalidArgument',
    );
    for (const fault of [
      { actor: 'data_shard', phase: 'backfill', kind: 'delay' },
      { actor: 'data_shard', phase: 'apply', kind: 'delay', delay_ms: 10 },
      { actor: 'data_shard', phase: 'backfill', kind: 'delay', delay_ms: 60_001 },
    ])
      await assert.rejects(
        call(bus, S.node.control('solo', 'inject_fault'), { fault }, { timeoutMs: 2000 }),
        (e: { code?: string; message?: string }) => e.code === 'InvalidArgument' && /delay_ms/.test(e.message ?? ''),
        JSON.stringify(fault),
      );
    for (const fault of [
      { actor: 'data_shard', phase: 'wal_apply', kind: 'transient' },
      { actor: 'data_shard', phase: 'wal_apply', kind: 'delay', delay_ms: 10, generation: 0 },
      { actor: 'data_shard', phase: 'apply', kind: 'transient', generation: 2 },
    ])
      await assert.rejects(
        call(bus, S.node.control('solo', 'inject_fault'), { fault }, { timeoutMs: 2000 }),
        (e: { code?: string; message?: string }) => e.code === 'InvalidArgument' && /wal_apply/.test(e.message ?? ''),
        JSON.stringify(fault),
      );
  });
});
