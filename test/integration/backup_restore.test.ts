/**
 * Backup and restore (README "Backup and restore") on clusters of separate processes and real
 * nats-server: `lockstep backup create` while a writer streams, with part of the data still only
 * in the WAL (a data node holds its applies back), then `lockstep backup restore` into a second,
 * empty cluster: every schema and every point come back (the same query answers, overwritten
 * values as last written, stream elements too) and the writer's points are never invented or
 * doubled. Refusals: a non-empty target directory, a non-empty cluster, a damaged backup file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WriteReply } from '../../transport/api_types.js';
import type { MeasureRow, QueryReply, StreamRow } from '../../transport/query_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { runCli } from '../harness/child.js';
import { TestCluster } from '../harness/cluster.js';
import { streamResource } from '../harness/fixtures.js';

const S = subjectsFor();
const HOSTS = 40;
const STEPS = 50;

describe('backup and restore (a cluster of 1 liaison + 2 data nodes, restored into a second one)', function () {
  this.timeout(240_000);
  let src: TestCluster;
  let dst: TestCluster | undefined;
  let dir: string;
  const now = Date.now();
  const T0 = now - 2 * 3_600_000;

  const points = (hosts: string[], step: number, value: (h: number) => number) =>
    hosts.map((host, h) => ({ ts: T0 + step * 10_000, tags: { host }, fields: { value: value(h) } }));
  const hosts = Array.from({ length: HOSTS }, (_, i) => `h${i}`);
  const query = (c: TestCluster, q: Record<string, unknown>) =>
    c.api<QueryReply<MeasureRow>>(
      S.api.query('measure'),
      { group: 'bk', name: 'cpu', from: T0 - 60_000, to: now + 60_000, limit: 100_000, ...q },
      20_000,
    );
  const sorted = (rows: MeasureRow[]) => rows.map((r) => JSON.stringify(r)).sort();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-backup-'));
    src = await TestCluster.start({ liaisons: 1, dataNodes: 2 });
    await src.createGroup('bk', { shards: 4, placement: { data_nodes: ['d1', 'd2'] } });
    await src.createMeasure('bk', 'cpu');
    await src.api(S.api.schema('group', 'create'), {
      resource: { name: 'ev', catalog: 'stream', shards: 2, segment_interval: '1d', ttl: '7d' },
    });
    const st = await src.api<{ revision: number }>(S.api.schema('stream', 'create'), {
      resource: streamResource('ev', 'log', {
        tag_families: [
          {
            name: 'meta',
            tags: [
              { name: 'svc', type: 'string' },
              { name: 'msg', type: 'string' },
            ],
          },
        ],
      }),
    });
    assert.equal((await src.barrier('revision', { min_revision: st.revision }, 10_000)).applied, true);
  });
  after(async () => {
    await src?.stop();
    await dst?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backup while writing, restore into an empty cluster - the same answers, every point once', async () => {
    const write = (pts: unknown[]) =>
      src.api<WriteReply>(S.api.write('measure'), { group: 'bk', name: 'cpu', points: pts }, 10_000);
    for (let step = 0; step < STEPS; step++) await write(points(hosts, step, (h) => step * 100 + h));
    // Overwrites: the last written value of (series, ts) is the one a query answers.
    for (let step = 0; step < STEPS; step += 7) await write(points(hosts.slice(0, 10), step, () => -step));
    const elements = Array.from({ length: 300 }, (_, i) => ({
      ts: T0 + i * 1000,
      element_id: `e${i}`,
      tags: { svc: `s${i % 5}`, msg: `m${i}` },
    }));
    await src.api<WriteReply>(S.api.write('stream'), { group: 'ev', name: 'log', elements }, 10_000);
    // d2 holds its next applies back 6 s: what it is sent now stays in the WAL at snapshot time, so
    // the backup carries a WAL tail after its parts — here overwriting the last step's values.
    const hold = { actor: 'data_shard', phase: 'wal_apply', kind: 'delay', delay_ms: 6000, group: 'bk', times: 2 };
    await src.injectFault('d2', hold as never);
    const tailReply = await write(points(hosts, STEPS - 1, (h) => 7000 + h));
    // A writer streams meanwhile (hosts `live*`): what it wrote is kept or not, never invented or doubled.
    const acked = new Set<string>();
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop && i < 500; i++) {
        const pts = [{ ts: T0 + i * 1000, tags: { host: `live${i % 3}` }, fields: { value: i } }];
        await write(pts).then(
          () => acked.add(`live${i % 3}@${T0 + i * 1000}`),
          () => undefined,
        );
      }
    })();
    const created = await runCli(src.lc.natsUrl, ['backup', 'create', join(dir, 'b1'), '--json'], {
      timeoutMs: 120_000,
    });
    stop = true;
    await writer;
    // Asked after the backup: a query with the token waits for d2's held-back applies.
    const expected = sorted((await query(src, { write_token: tailReply.write_token })).rows!);
    assert.equal(created.code, 0, created.stderr + created.stdout);
    const manifest = JSON.parse(created.stdout) as {
      groups: { name: string; shards: { wal_messages: number; rows: number }[] }[];
    };
    assert.deepEqual(manifest.groups.map((g) => g.name).sort(), ['bk', 'ev']);
    const bk = manifest.groups.find((g) => g.name === 'bk')!;
    assert.equal(bk.shards.length, 4);
    assert.ok(
      bk.shards.some((s) => s.wal_messages > 0),
      `a shard of d2 has a WAL tail: ${created.stdout}`,
    );
    assert.ok(bk.shards.some((s) => s.rows > 0));

    // Into a non-empty directory: refused, nothing written there.
    const again = await runCli(src.lc.natsUrl, ['backup', 'create', join(dir, 'b1')]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /FailedPrecondition.*not empty/);

    dst = await TestCluster.start({ liaisons: 1, dataNodes: 2 });
    const restored = await runCli(dst.lc.natsUrl, ['backup', 'restore', join(dir, 'b1'), '--json'], {
      timeoutMs: 120_000,
    });
    assert.equal(restored.code, 0, restored.stderr + restored.stdout);
    const summary = JSON.parse(restored.stdout) as { groups: number; measures: number; streams: number; rows: number };
    assert.deepEqual([summary.groups, summary.measures, summary.streams], [2, 1, 1]);

    // Every schema: the same resources (placement is the new cluster's own).
    const listed = await dst.api<{ items: { resource: { name: string; shards?: number } }[] }>(
      S.api.schema('group', 'list'),
      {},
    );
    assert.deepEqual(listed.items.map((g) => [g.resource.name, g.resource.shards]).sort(), [
      ['bk', 4],
      ['ev', 2],
    ]);
    // Every point: the backed-up hosts answer exactly as the source did (overwrites included).
    const got = (await query(dst, {})).rows!;
    const gotFixed = sorted(got.filter((r) => !String(r.tags?.host ?? '').startsWith('live')));
    assert.equal(gotFixed.length, STEPS * HOSTS);
    assert.ok(
      gotFixed.some((r) => r.includes('"value":7000')),
      'the WAL tail overwrite is there',
    );
    assert.deepEqual(
      gotFixed,
      expected.filter((r) => !r.includes('"live')),
    );
    const live = got.filter((r) => String(r.tags?.host ?? '').startsWith('live'));
    const liveKeys = live.map((r) => `${String(r.tags!.host)}@${r.ts}`);
    assert.equal(new Set(liveKeys).size, liveKeys.length, 'no writer point twice');
    for (const k of liveKeys) assert.ok(acked.has(k), `restored ${k} was acknowledged`);
    // Aggregates agree as well.
    const agg = {
      aggregations: [
        { fn: 'sum', field: 'value' },
        { fn: 'count', field: 'value' },
      ],
      group_by: ['host'],
      criteria: { tag: 'host', op: 'in', value: hosts },
    };
    const a = (await query(src, agg)).groups!;
    assert.equal(a.length, HOSTS);
    assert.deepEqual((await query(dst, agg)).groups, a);
    // Stream elements.
    const evq = { group: 'ev', name: 'log', from: T0 - 1, to: now + 60_000, limit: 10_000 };
    const evSrc = await src.api<QueryReply<StreamRow>>(S.api.query('stream'), evq, 20_000);
    const evDst = await dst.api<QueryReply<StreamRow>>(S.api.query('stream'), evq, 20_000);
    assert.equal(evDst.rows!.length, 300);
    assert.deepEqual(
      evDst.rows!.map((r) => JSON.stringify(r)).sort(),
      evSrc.rows!.map((r) => JSON.stringify(r)).sort(),
    );

    // Into a cluster that is not empty (now it holds bk): refused, naming the groups.
    const twice = await runCli(dst.lc.natsUrl, ['backup', 'restore', join(dir, 'b1')]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /FailedPrecondition.*empty cluster.*bk/);
  });

  it('a damaged backup file is refused before the cluster is touched, naming the file', async () => {
    const b = join(dir, 'b1');
    const shardDir = join(b, 'data', 'bk', 'shard-0');
    const seg = readdirSync(shardDir).find((n) => n.startsWith('seg-'))!;
    const meta = join(shardDir, seg, 'metadata');
    const bytes = readFileSync(meta);
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(meta, bytes);
    const empty = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
    try {
      const r = await runCli(empty.lc.natsUrl, ['backup', 'restore', b]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /InvalidArgument.*shard-0.*metadata.*SHA-256/);
      const groups = await empty.api<{ items: unknown[] }>(S.api.schema('group', 'list'), {});
      assert.equal(groups.items.length, 0, 'nothing was created');
    } finally {
      await empty.stop();
    }
  });
});
