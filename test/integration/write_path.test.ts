/**
 * The write path up to the WAL on a real cluster with no data node at all: writes are validated,
 * gated on the schema the liaison applied, appended to the JetStream WAL and acknowledged with a
 * write token — durable while every data node is down.
 */
import type { WriteReply } from '../../transport/api_types.js';
import assert from 'node:assert/strict';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { TagType } from '../../transport/schema_types.js';
import { TestCluster } from '../harness/cluster.js';
import { tagFamily } from '../harness/fixtures.js';
import { decodeWalRecord } from '../../transport/wal_record.js';
import { WAL_STREAM, subjectsFor } from '../../transport/subjects.js';
import { call } from '../../transport/rpc.js';
import { LockstepClient } from '../../transport/client.js';

const S = subjectsFor();

/** Measure w/cpu: entity `host`; tags `host`, `region` and `moreTags`; fields `value` (float), `count` (int). */
const cpuMeasure = (moreTags: Record<string, TagType> = {}) => ({
  group: 'w',
  name: 'cpu',
  entity: ['host'],
  tag_families: [tagFamily('default', { host: 'string', region: 'string', ...moreTags })],
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
});

describe('write path to the WAL (liaisons only, every data node down)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let cpu: { revision: number };
  const now = Date.now();
  const point = (host: string, value: number, ts = now) => ({ ts, tags: { host, region: 'eu' }, fields: { value } });

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 0, nodeArgs: ['--schema-wait', '800ms'] });
    // Two more liaisons that never wait: if they accept a write, it needed no wait.
    for (const n of ['l2', 'l3']) c.lc.spawnNode(n, ['liaison'], ['--schema-wait', '0ms']);
    await Promise.all(['l2', 'l3'].map((n) => c.lc.waitReady(n)));
    nc = await connect({ servers: c.lc.natsUrl });
    jsm = await jetstreamManager(nc);
    // No data node exists: the group names where its shards will live.
    await c.createGroup('w', { shards: 4, placement: { data_nodes: ['d1'] } });
    cpu = await c.api(S.api.schema('measure', 'create'), { resource: cpuMeasure() });
    assert.equal(await c.measureApplied('w', 'cpu', cpu.revision), true);
  });
  after(async () => {
    await nc?.close();
    await c?.stop();
  });

  const walMessages = async () => (await jsm.streams.info(WAL_STREAM)).state.messages;
  const write = (body: Record<string, unknown>) =>
    c.api<WriteReply>(S.api.write('measure'), { group: 'w', name: 'cpu', ...body }, 10_000);

  it('placement - with no data node in the cluster, a group must name its placement', async () => {
    await assert.rejects(
      c.createGroup('w_nowhere'),
      (e: { code?: string; message?: string }) =>
        e.code === 'FailedPrecondition' && /placement\.data_nodes/.test(e.message ?? ''),
    );
  });

  it('write - a batch is acknowledged with a write token while no data node exists, and is in the WAL', async () => {
    const points = Array.from({ length: 100 }, (_, i) => point(`h${i}`, i + 0.5));
    const before = await walMessages();
    const r = await write({ points });
    assert.equal(r.points, 100);
    assert.equal(r.write_token.group, 'w');
    const seqs = Object.values(r.write_token.shards);
    assert.ok(seqs.length >= 2 && seqs.length <= 4, 'spread over the shards');
    assert.equal(await walMessages(), before + seqs.length);
    let rows = 0;
    for (const [shard, seq] of Object.entries(r.write_token.shards)) {
      const m = (await jsm.streams.getMessage(WAL_STREAM, { seq }))!;
      assert.equal(m.subject, `lockstep.wal.w.${shard}`);
      const rec = decodeWalRecord(m.data) as unknown as {
        cols: { ts: Float64Array; fields: { value: Float64Array }; tags: { host: string[] } };
        revision: number;
      };
      assert.equal(rec.revision, cpu.revision);
      for (let i = 0; i < rec.cols.ts.length; i++) {
        const host = rec.cols.tags.host[i]!;
        assert.equal(rec.cols.fields.value[i], Number(host.slice(1)) + 0.5, `${host}'s value in the WAL`);
      }
      rows += rec.cols.ts.length;
    }
    assert.equal(rows, 100);
  });

  it('write - points sent as columns (msgpack typed arrays or JSON) store the WAL records the same points as objects store', async () => {
    const n = 60;
    const points = Array.from({ length: n }, (_, i) => ({
      ts: now - i,
      tags: { host: `col${i % 7}`, ...(i % 2 ? { region: 'us' } : {}) },
      fields: { ...(i % 3 ? { value: i / 4 } : {}), count: i },
    }));
    const columns = {
      ts: Float64Array.from(points, (p) => p.ts),
      tags: { host: points.map((p) => p.tags.host), region: points.map((p) => p.tags.region ?? '') },
      fields: {
        value: Float64Array.from(points, (p) => p.fields.value ?? NaN),
        count: points.map((p) => p.fields.count),
      },
    };
    const asRows = await write({ points });
    const client = await LockstepClient.connect({ natsUrl: c.lc.natsUrl });
    const asCols = await client.writeMeasureColumns('w', 'cpu', columns).finally(() => client.close());
    assert.equal(asCols.points, n);
    // JSON has no NaN: a float column's null is "no value".
    const { headers } = await import('@nats-io/nats-core');
    const h = headers();
    h.set('Content-Type', 'application/json');
    const json = {
      ...columns,
      ts: [...columns.ts],
      fields: { ...columns.fields, value: points.map((p) => p.fields.value ?? null) },
    };
    const r = await nc.request(
      S.api.write('measure'),
      new TextEncoder().encode(JSON.stringify({ group: 'w', name: 'cpu', columns: json })),
      { timeout: 5000, headers: h },
    );
    assert.equal(r.headers?.get('Lockstep-Status') ?? '', '', new TextDecoder().decode(r.data));
    const asJson = JSON.parse(new TextDecoder().decode(r.data)) as WriteReply;
    // A tag as a dictionary in JSON: its codes a plain array.
    const hosts = [...new Set(columns.tags.host)];
    const dictionary = { values: hosts, codes: columns.tags.host.map((h) => hosts.indexOf(h)) };
    const r2 = await nc.request(
      S.api.write('measure'),
      new TextEncoder().encode(
        JSON.stringify({ group: 'w', name: 'cpu', columns: { ...json, tags: { ...json.tags, host: dictionary } } }),
      ),
      { timeout: 5000, headers: h },
    );
    assert.equal(r2.headers?.get('Lockstep-Status') ?? '', '', new TextDecoder().decode(r2.data));
    const asJsonDictionary = JSON.parse(new TextDecoder().decode(r2.data)) as WriteReply;
    const records = async (reply: WriteReply) => {
      const out: Record<string, unknown> = {};
      for (const [shard, seq] of Object.entries(reply.write_token.shards))
        out[shard] = decodeWalRecord((await jsm.streams.getMessage(WAL_STREAM, { seq }))!.data).cols;
      return out;
    };
    const expected = await records(asRows);
    assert.equal(Object.keys(expected).length >= 2, true, 'spread over the shards');
    assert.deepEqual(await records(asCols), expected);
    assert.deepEqual(await records(asJson), expected);
    assert.deepEqual(await records(asJsonDictionary), expected);
  });

  it('write - bad columns get InvalidArgument naming the column and write nothing', async () => {
    const before = await walMessages();
    const ts = [now, now];
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ columns: { ts, tags: { host: ['a'] }, fields: { value: [1, 2] } } }, /columns\.tags\.host/],
      [{ columns: { ts, tags: { host: ['a', 'b'] }, fields: { value: [1, 'x'] } } }, /columns\.fields\.value\[1\]/],
      [{ columns: { ts, tags: { region: ['a', 'b'] }, fields: { value: [1, 2] } } }, /entity tag host is missing/],
      [
        { columns: { ts, tags: { host: ['a', 'b'] }, fields: { value: [1, 2] } }, points: [point('a', 1)] },
        /points or columns/,
      ],
    ];
    for (const [body, message] of cases) {
      await assert.rejects(write(body), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, 'InvalidArgument', e.message);
        assert.match(e.message ?? '', message);
        return true;
      });
    }
    assert.equal(await walMessages(), before, 'nothing was written');
  });

  it('write - a retried batch_id is stored once (same sequences)', async () => {
    const points = [point('a', 1), point('b', 2), point('c', 3)];
    const first = await write({ points, batch_id: 'retry-me' });
    const before = await walMessages();
    const again = await write({ points, batch_id: 'retry-me' });
    assert.deepEqual(again.write_token, first.write_token);
    assert.equal(await walMessages(), before);
  });

  it('write - a batch_id names a batch of one measure: the same id on another measure is stored too', async () => {
    const a = await write({ points: [point('dup1', 1)], batch_id: 'shared-id' });
    const m = await c.createMeasure('w', 'other');
    assert.equal(await c.measureApplied('w', 'other', m.revision), true);
    const before = await walMessages();
    const b = await c.api<WriteReply & { duplicate: boolean }>(S.api.write('measure'), {
      group: 'w',
      name: 'other',
      batch_id: 'shared-id',
      points: [{ ts: now, tags: { host: 'dup1' }, fields: { value: 2 } }],
    });
    assert.equal(b.duplicate, false);
    assert.notDeepEqual(b.write_token, a.write_token);
    assert.equal(await walMessages(), before + 1);
  });

  it('write - 64-bit msgpack integers (as Go or Java clients send them) are accepted', async () => {
    const { Packr } = await import('msgpackr');
    const { headers } = await import('@nats-io/nats-core');
    const body = new Packr({ useRecords: false }).pack({
      group: 'w',
      name: 'cpu',
      points: [{ ts: BigInt(now), tags: { host: 'big' }, fields: { value: 1, count: BigInt(7) } }],
    });
    const r = await nc.request(S.api.write('measure'), body, { timeout: 5000, headers: headers() });
    assert.equal(r.headers?.get('Lockstep-Status') ?? '', '');
  });

  it('write - a batch whose WAL record would exceed the message limit is ResourceExhausted and stores nothing', async () => {
    await c.createGroup('w_one', { shards: 1, placement: { data_nodes: ['d1'] } });
    const m = await c.api<{ revision: number }>(S.api.schema('measure', 'create'), {
      resource: {
        group: 'w_one',
        name: 'wide',
        entity: ['host'],
        tag_families: [
          {
            name: 'default',
            tags: [
              { name: 'host', type: 'string' },
              ...Array.from({ length: 300 }, (_, i) => ({ name: `t${i}`, type: 'int' })),
            ],
          },
        ],
        fields: [{ name: 'value', type: 'float' }],
      },
    });
    assert.equal(await c.measureApplied('w_one', 'wide', m.revision), true);
    const before = await walMessages();
    // Sparse tags: the request is small, but the record stores every declared tag of every point.
    const points = Array.from({ length: 5000 }, (_, i) => ({ ts: now, tags: { host: `h${i}` }, fields: { value: i } }));
    await assert.rejects(
      c.api(S.api.write('measure'), { group: 'w_one', name: 'wide', points }, 10_000),
      (e: { code?: string }) => e.code === 'ResourceExhausted',
    );
    assert.equal(await walMessages(), before);
  });

  it('gates - after barrier applied for a new measure at R, every liaison accepts a write carrying R without waiting', async () => {
    const m = await c.createMeasure('w', 'fresh');
    assert.equal(await c.measureApplied('w', 'fresh', m.revision), true);
    for (let i = 0; i < 30; i++) {
      const r = await c.api<WriteReply>(S.api.write('measure'), {
        group: 'w',
        name: 'fresh',
        schema_revision: m.revision,
        points: [{ ts: now, tags: { host: 'x' }, fields: { value: i } }],
      });
      assert.equal(r.points, 1);
    }
  });

  it('gates - an older schema_revision is ExpiredSchema; an unknown measure is NotFound', async () => {
    const upd = await c.api<{ revision: number }>(S.api.schema('measure', 'update'), {
      resource: cpuMeasure({ dc: 'string' }),
    });
    assert.equal((await c.barrier('revision', { min_revision: upd.revision })).applied, true);
    await assert.rejects(
      write({ schema_revision: cpu.revision, points: [point('a', 1)] }),
      (e: { code?: string }) => e.code === 'ExpiredSchema',
    );
    const ok = await write({ schema_revision: upd.revision, points: [point('a', 1)] });
    assert.equal(ok.schema_revision, upd.revision);
    await assert.rejects(
      c.api(S.api.write('measure'), { group: 'w', name: 'nope', points: [point('a', 1)] }, 10_000),
      (e: { code?: string }) => e.code === 'NotFound',
    );
  });

  it('gates - a newer schema_revision waits for the watcher: SchemaNotApplied after the budget, accepted if it catches up', async () => {
    // From here on l1 (800 ms budget) is the only liaison, so every write meets its gate.
    for (const n of ['l2', 'l3']) c.lc.kill(n, 'SIGTERM');
    await Promise.all(['l2', 'l3'].map((n) => c.lc.nodes.get(n)!.exited));
    await c.control('l1', 'pause_watch');
    let m: { revision: number };
    try {
      m = await c.createMeasure('w', 'late');
      const body = {
        group: 'w',
        name: 'late',
        schema_revision: m.revision,
        points: [{ ts: now, tags: { host: 'x' }, fields: { value: 1 } }],
      };
      const t0 = Date.now();
      await assert.rejects(
        c.api(S.api.write('measure'), body, 10_000),
        (e: { code?: string }) => e.code === 'SchemaNotApplied',
      );
      assert.ok(Date.now() - t0 >= 700, 'it waited for the budget first');
      const pending = call<WriteReply>(c.bus, S.api.write('measure'), body, { timeoutMs: 10_000 });
      await c.control('l1', 'resume_watch');
      assert.equal((await pending).points, 1);
    } finally {
      await c.control('l1', 'resume_watch');
    }
  });

  it('write - bad input gets its code and writes nothing', async () => {
    const before = await walMessages();
    const cases: [Record<string, unknown>, string][] = [
      [{ points: [{ ts: now, tags: { host: 1 }, fields: { value: 1 } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now, tags: { region: 'eu' }, fields: { value: 1 } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now, tags: { host: 'a', rack: 'r1' }, fields: { value: 1 } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now, tags: { host: 'a' }, fields: { temp: 1 } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now, tags: { host: 'a' }, fields: { value: Number.NaN } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now, tags: { host: 'a' }, fields: { value: Number.POSITIVE_INFINITY } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now, tags: { host: 'a' }, fields: { count: 1.5 } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now - 30 * 86_400_000, tags: { host: 'a' }, fields: { value: 1 } }] }, 'InvalidArgument'],
      [{ points: [{ ts: now + 3_600_000, tags: { host: 'a' }, fields: { value: 1 } }] }, 'InvalidArgument'],
      [{ points: [] }, 'InvalidArgument'],
      [{ points: Array.from({ length: 10_001 }, () => point('a', 1)) }, 'ResourceExhausted'],
      [{ group: 'Bad.Group', points: [point('a', 1)] }, 'InvalidArgument'],
    ];
    for (const [body, code] of cases) {
      await assert.rejects(write(body), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, code, `${JSON.stringify(body).slice(0, 120)} → ${e.message}`);
        return true;
      });
    }
    const { headers } = await import('@nats-io/nats-core');
    const h = headers();
    h.set('Content-Type', 'application/json');
    const badJson = await nc.request(S.api.write('measure'), new TextEncoder().encode('{"points": ['), {
      timeout: 5000,
      headers: h,
    });
    assert.equal(badJson.headers?.get('Lockstep-Status'), 'InvalidArgument');
    const badMsgpack = await nc.request(S.api.write('measure'), new Uint8Array([0xc1, 0xff, 0x00]), { timeout: 5000 });
    assert.equal(badMsgpack.headers?.get('Lockstep-Status'), 'InvalidArgument');
    assert.equal(await walMessages(), before, 'nothing was written');
  });

  it('metrics - the gates count refusals by rpc, group and reason', async () => {
    await assert.rejects(
      write({ schema_revision: 1, points: [point('a', 1)] }),
      (e: { code?: string }) => e.code === 'ExpiredSchema',
    );
    const { metrics_port } = await c.control<{ metrics_port: number }>('l1', 'actors');
    const text = await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text();
    assert.match(text, /schema_status_expired_schema_total\{rpc="write",group="w"\} [1-9]/);
    assert.match(text, /schema_status_schema_not_applied_total\{rpc="write",group="w",reason="revision_ahead"\} [1-9]/);
    assert.match(text, /lockstep_points_written_total\{kind="measure",group="w"\} [1-9]/);
    assert.match(text, /lockstep_write_duration_seconds_count\{kind="measure",result="ok"\} [1-9]/);
  });
});
