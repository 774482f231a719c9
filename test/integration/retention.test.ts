/**
 * Background upkeep of a data actor. Retention driven by an injected clock (DESIGN §8): the data
 * actor runs in this process with a clock whose wall time the test shifts forward, next to a real
 * liaison node (real clock) on a real nats-server. Writes and queries go through the public API;
 * once the shifted clock puts a segment's end past the group's ttl, the shard drops its directory
 * and queries no longer return its rows, while newer segments stay. Quiet merges: a segment whose
 * flushes overlap (rows arriving out of order) becomes one part once the shard went without a
 * flush for the quiet time, and answers the same; the caught-up request of a copy's end says
 * whether the owner's merges settled.
 *
 * The node runtime builds every actor's context with the system clock (runtime/actor_runner.ts),
 * so the data actor is started here by hand with an ActorContext carrying the test's clock.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ShardManager } from '../../actors/data_shard/shard_manager.js';
import type { ActorContext } from '../../runtime/actor.js';
import { systemClock, type Clock } from '../../runtime/clock.js';
import { resolveNodeConfig } from '../../runtime/config.js';
import type { FailureInfo } from '../../runtime/errors.js';
import { runNode, type NodeHandle } from '../../runtime/node.js';
import { shardDirOf } from '../../storage/data_dir.js';
import { segmentName } from '../../storage/segment.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { call } from '../../transport/rpc.js';
import type { SchemaKey, StoredResource } from '../../transport/schema_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { waitFor } from '../harness/wait.js';
import { useTempDir } from '../harness/temp_dir.js';

const S = subjectsFor();
const HOUR = 3_600_000;
/** The data actor's quiet time before a segment's parts are merged (ms). */
const QUIET_MS = 1000;

/** The system clock with its wall time shifted by `offsetMs` (timers and durations stay real). */
class ShiftedClock implements Clock {
  offsetMs = 0;
  now = () => Date.now() + this.offsetMs;
  monotonic = () => systemClock.monotonic();
  setTimer = (ms: number, fn: () => void) => systemClock.setTimer(ms, fn);
  sleep = (ms: number, signal?: AbortSignal) => systemClock.sleep(ms, signal);
}

type Health = { shards: { shard: string; applied: number; flushed: number }[] };
type Rows = { rows: { ts: number; tags: { host: string } }[]; missing_shards: number[] };

describe('background upkeep of a data actor: retention with an injected clock, quiet merges (1 liaison node + 1 in-process data actor)', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  let liaison: NodeHandle;
  let bus: NatsBus;
  let dataBus: NatsBus;
  let manager: ShardManager;
  const clock = new ShiftedClock();
  const fatals: FailureInfo[] = [];
  const logLines: { msg: string; dropped?: { segment: string }[]; group?: string; shard?: number }[] = [];
  // Registered before the temp dir: hooks of one kind run in order, so the actors stop before it goes.
  after(async () => {
    await manager?.stop();
    await dataBus?.close();
    await bus?.close();
    await liaison?.stop();
    await nats?.stop();
  });
  const tmp = useTempDir('retention');

  before(async () => {
    nats = await startNatsServer();
    liaison = await runNode(
      resolveNodeConfig({
        name: 'l1',
        roles: ['liaison'],
        natsUrl: nats.url,
        dataDir: tmp.path,
        threads: false,
        metricsPort: -1,
        logLevel: 'error',
        heartbeatIntervalMs: 200,
        evictableAfterMs: 1000,
        goneAfterMs: 3000,
      }),
    );
    bus = await NatsBus.connect({ url: nats.url, name: 'test' });
    dataBus = await NatsBus.connect({ url: nats.url, name: 'r1/data_shard' });
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n'))
          if (line.trim()) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
        done();
      },
    });
    const config = resolveNodeConfig({
      name: 'r1',
      roles: ['data'],
      natsUrl: nats.url,
      dataDir: tmp.path,
      threads: false,
      metricsPort: -1,
    });
    const ctx: ActorContext = {
      id: 'data_shard',
      kind: 'data_shard',
      config,
      bus: dataBus,
      subjects: S,
      clock,
      log: pino({ level: 'info' }, sink),
      metrics: new Registry(),
      supervisor: { deliverSchema: async () => ({}), fatal: (f) => fatals.push(f) },
      faults: { check: () => 0 },
    };
    // Short timings so the test sees a pass soon after it moves the clock.
    manager = new ShardManager({ retentionIntervalMs: 100, walLagPollMs: 200, quietMergeMs: QUIET_MS });
    await manager.start(ctx);
  });

  const api = <T>(subject: string, body: unknown) => call<T>(bus, subject, body, { timeoutMs: 10_000 });
  /** A group of one shard on r1 with 1 h segments and a 1 d ttl, and its measure `cpu` (host → value). */
  const createHourGroup = async (group: string) => {
    await api(S.api.schema('group', 'create'), {
      resource: {
        name: group,
        catalog: 'measure',
        shards: 1,
        segment_interval: '1h',
        ttl: '1d',
        placement: { data_nodes: ['r1'] },
      },
    });
    await api(S.api.schema('measure', 'create'), {
      resource: {
        group,
        name: 'cpu',
        entity: ['host'],
        tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }],
        fields: [{ name: 'value', type: 'float' }],
      },
    });
  };

  it('retention - drops expired segments (time driven by an injected clock), queries stop returning their rows, newer segments stay', async () => {
    await createHourGroup('rt');
    // The data actor applies the schema as the registry holds it (what the node's watcher would hand it).
    const g = await api<StoredResource>(S.api.schema('group', 'get'), { group: 'rt' });
    const m = await api<StoredResource>(S.api.schema('measure', 'get'), { group: 'rt', name: 'cpu' });
    await manager.schema.onInit({ revision: Math.max(g.mod_revision, m.mod_revision), resources: [g, m] });

    // Three 1-hour segments: 5 h ago, 2 h ago and the current hour.
    const hourStart = Math.floor(Date.now() / HOUR) * HOUR;
    const points = [
      { ts: hourStart - 5 * HOUR + 600_000, tags: { host: 'old' }, fields: { value: 1 } },
      { ts: hourStart - 2 * HOUR + 600_000, tags: { host: 'mid' }, fields: { value: 2 } },
      { ts: Date.now() - 1000, tags: { host: 'new' }, fields: { value: 3 } },
    ];
    const w = await api<{ write_token: { shards: Record<string, number> } }>(S.api.write('measure'), {
      group: 'rt',
      name: 'cpu',
      points,
    });
    await waitFor(
      () =>
        ((manager.health() as Health).shards.find((s) => s.shard === 'rt/0')?.flushed ?? 0) >=
        w.write_token.shards['0']!,
      { what: 'points flushed' },
    );

    const shardDir = shardDirOf(join(tmp.path, 'r1'), 'rt', 0);
    const segOf = (ts: number) => segmentName(Math.floor(ts / HOUR) * HOUR);
    const segDir = (ts: number) => join(shardDir, segOf(ts));
    const segments = () =>
      readdirSync(shardDir)
        .filter((n) => n.startsWith('seg-'))
        .sort();
    const hosts = async () => {
      const r = await api<Rows>(S.api.query('measure'), {
        group: 'rt',
        name: 'cpu',
        from: hourStart - 6 * HOUR,
        to: hourStart + HOUR,
      });
      assert.deepEqual(r.missing_shards, []);
      return r.rows.map((x) => x.tags.host);
    };
    assert.equal(segments().length, 3);
    assert.ok(points.every((p) => existsSync(segDir(p.ts))));
    assert.deepEqual(await hosts(), ['old', 'mid', 'new']);

    // 21 h later the oldest segment (end 4 h before the write) is past the 1 d ttl; the others are not.
    clock.offsetMs = 21 * HOUR;
    // Listed without the `.dropping` a pass leaves for the moment between its rename and its rm.
    await waitFor(() => segments().join() === [segOf(points[1]!.ts), segOf(points[2]!.ts)].join(), {
      what: 'the oldest segment dropped',
    });
    assert.deepEqual(await hosts(), ['mid', 'new']);
    assert.ok(existsSync(segDir(points[1]!.ts)) && existsSync(segDir(points[2]!.ts)), 'newer segments remain');
    const logged = logLines.find((l) => l.dropped?.some((d) => d.segment === segOf(points[0]!.ts)));
    assert.ok(logged, 'the pass logged the segment it dropped');
    assert.equal(logged.group, 'rt');
    assert.equal(logged.shard, 0);

    // 2 h more and the middle one goes too; the current hour's stays.
    clock.offsetMs = 23 * HOUR;
    await waitFor(() => segments().join() === segOf(points[2]!.ts), { what: 'the middle segment dropped' });
    assert.deepEqual(await hosts(), ['new']);
    assert.deepEqual(segments(), [segOf(points[2]!.ts)]);
    assert.deepEqual(fatals, []);
  });
  it('quiet merges - a segment whose flushes overlap (rows out of order) becomes one part once quiet, and answers the same', async () => {
    await createHourGroup('qm');
    const keys: SchemaKey[] = [
      { kind: 'group', group: 'qm', name: '' },
      { kind: 'measure', group: 'qm', name: 'cpu' },
    ];
    for (const key of keys) {
      const r = await api<StoredResource>(
        S.api.schema(key.kind, 'get'),
        key.kind === 'group' ? { group: key.group } : { group: key.group, name: key.name },
      );
      await manager.schema.onAddOrUpdate({ type: 'put', key, revision: r.mod_revision, resource: r.resource });
    }
    // Three writes, each flushed to its own part: the second and third reach back into the first's
    // range (late rows), and the third overwrites one point.
    const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const flushedAt = async (token: { shards: Record<string, number> }) => {
      const seq = token.shards['0']!;
      const r = await api<{ caught_up: boolean }>(S.shardCaughtUp('qm', 0, 1, 'r1'), {
        seq,
        timeout_ms: 10_000,
        flush: true,
      });
      assert.ok(r.caught_up);
    };
    const expected = new Map<string, number>();
    const writes = [
      [0, 10, 20, 30].map((m) => ['a', m, 1] as const),
      [5, 15, 40, 50].map((m) => ['b', m, 2] as const),
      [20, 25, 55].map((m) => ['a', m, 3] as const),
    ];
    for (const w of writes) {
      const points = w.map(([host, minute, value]) => {
        expected.set(`${host}/${base + minute * 60_000}`, value);
        return { ts: base + minute * 60_000, tags: { host }, fields: { value } };
      });
      const r = await api<{ write_token: { shards: Record<string, number> } }>(S.api.write('measure'), {
        group: 'qm',
        name: 'cpu',
        points,
      });
      await flushedAt(r.write_token);
    }
    const partsDir = join(shardDirOf(join(tmp.path, 'r1'), 'qm', 0), segmentName(base), 'schema-cpu');
    const parts = () => readdirSync(partsDir).filter((n) => /^part-\d+$/.test(n));
    const answer = async () => {
      const r = await api<{ rows: { ts: number; tags: { host: string }; fields: { value: number } }[] }>(
        S.api.query('measure'),
        { group: 'qm', name: 'cpu', from: base, to: base + HOUR },
      );
      return r.rows.map((x) => `${x.tags.host}/${x.ts}=${x.fields.value}`).sort();
    };
    const want = [...expected].map(([k, v]) => `${k}=${v}`).sort();
    assert.equal(parts().length, 3, 'one part per flush');
    assert.deepEqual(await answer(), want);
    await waitFor(() => parts().length === 1, {
      what: 'the quiet segment merged into one part',
      timeoutMs: 10 * QUIET_MS,
    });
    assert.deepEqual(await answer(), want, 'the same answer from the merged part');

    // The end of a copy asks an owner to flush and let its merges finish (settle_ms): the reply
    // says whether they did; without settle_ms it says nothing of merges; a bad value is refused.
    const caughtUp = (body: Record<string, unknown>) =>
      api<{ caught_up: boolean; settled?: boolean }>(S.shardCaughtUp('qm', 0, 1, 'r1'), {
        seq: 1,
        timeout_ms: 1000,
        ...body,
      });
    assert.deepEqual(
      { ...(await caughtUp({ flush: true, settle_ms: 5000 })), applied: 0 },
      { node: 'r1', applied: 0, caught_up: true, settled: true },
    );
    assert.equal('settled' in (await caughtUp({ flush: true })), false);
    for (const bad of [-1, 1.5, '10']) {
      await assert.rejects(caughtUp({ settle_ms: bad }), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, 'InvalidArgument');
        assert.match(e.message ?? '', /settle_ms/);
        return true;
      });
    }
    assert.deepEqual(fatals, []);
  });
});
