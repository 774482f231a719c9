/**
 * A rewrite migration that reshapes a measure's rows (1 liaison, 2 data nodes, 1 claimer; real
 * processes): its entity gains a tag (re-keying every series) and a field turns from float to int,
 * while plain writes go on during the copy and a probe with the TypeScript client's pinned writer
 * (holding the measure's revision from before) writes through the cutover without one failure. Afterwards the registry holds the new shape, every point is read exactly once
 * in it (values rounded, one series per new entity), a write with the measure's old revision is
 * `ExpiredSchema`, and a plain schema update still may not change the entity.
 */
import assert from 'node:assert/strict';
import type { WritePoint, WriteReply } from '../../transport/api_types.js';
import { LockstepClient } from '../../transport/client.js';
import { Code, codeOf } from '../../transport/errors.js';
import type { Layout } from '../../transport/layout_types.js';
import type { MigrationStatus } from '../../transport/migration_types.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';
import type { Measure, StoredResource } from '../../transport/schema_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { TestCluster } from '../harness/cluster.js';
import { tagFamily } from '../harness/fixtures.js';
import { waitFor } from '../harness/wait.js';

const S = subjectsFor();
/** Six days ago at midnight: every point is inside the group's 7-day ttl and not in the future. */
const T0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 6 * 86_400_000;
/** Hours of points written before the probe; the probe's batches are a minute apart after them. */
const HOURLY = 34;
const tsOf = (i: number) => (i < HOURLY ? T0 + i * 3_600_000 : T0 + HOURLY * 3_600_000 + (i - HOURLY) * 60_000);
const indexOf = (ts: number) =>
  ts < T0 + HOURLY * 3_600_000 ? (ts - T0) / 3_600_000 : HOURLY + (ts - T0 - HOURLY * 3_600_000) / 60_000;
const DAY = 86_400_000;
const HOSTS = 20;
const GROUP = 'reshape';

describe('reshaping a measure online (1 liaison, 2 data nodes, 1 claimer)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let probeClient: LockstepClient;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2, claimers: 1 });
    probeClient = await LockstepClient.connect({ natsUrl: c.lc.natsUrl });
    await c.createGroup(GROUP);
    await c.api(S.api.schema('measure', 'create'), {
      resource: {
        group: GROUP,
        name: 'cpu',
        entity: ['host'],
        tag_families: [tagFamily('default', { host: 'string', region: 'string' })],
        fields: [{ name: 'value', type: 'float' }],
      },
    });
  });
  after(async () => {
    await probeClient?.close();
    await c?.stop();
  });

  const measure = async () =>
    (await c.api<StoredResource>(S.api.schema('measure', 'get'), { group: GROUP, name: 'cpu' })) as StoredResource & {
      resource: Measure;
    };
  const write = (points: WritePoint[], revision?: number) =>
    c.api<WriteReply>(
      S.api.write('measure'),
      { group: GROUP, name: 'cpu', points, ...(revision !== undefined ? { schema_revision: revision } : {}) },
      10_000,
    );
  // The probe's last write token: a read carrying it sees every acknowledged probe write.
  let lastToken: WriteReply['write_token'] | undefined;
  // Every row: a reply cut to fit one message says has_more, and its cursor asks for the next page.
  const rows = async (criteria?: unknown): Promise<MeasureRow[]> => {
    const out: MeasureRow[] = [];
    let cursor: string | undefined;
    // Bounded: 100 pages of at least one row each far exceed the points written.
    for (let page = 0; page < 100; page++) {
      const reply = await c.api<QueryReply<MeasureRow>>(
        S.api.query('measure'),
        {
          group: GROUP,
          name: 'cpu',
          from: T0,
          to: T0 + 6 * DAY,
          limit: 100_000,
          ...(criteria ? { criteria } : {}),
          ...(lastToken ? { write_token: lastToken } : {}),
          ...(cursor ? { cursor } : {}),
        },
        10_000,
      );
      out.push(...reply.rows!);
      if (!reply.has_more) return out;
      cursor = reply.cursor;
    }
    throw new Error('more than 100 pages of rows');
  };
  // Host h's points alternate between regions eu and us: under entity [host, region] each host is two series.
  const region = (i: number) => (i % 2 === 0 ? 'eu' : 'us');
  const batch = (i: number, value: (h: number) => number): WritePoint[] =>
    Array.from({ length: HOSTS }, (_, h) => ({
      tags: { host: `h${h}`, region: region(i) },
      fields: { value: value(h) },
      ts: tsOf(i),
    }));

  it('reshape - entity [host] → [host, region] and value float → int under a pinned-writer probe; every point once, in the new shape', async () => {
    const old = await measure();
    const BEFORE = 30; // 30 hours: two segments of one day
    for (let i = 0; i < BEFORE; i++) await write(batch(i, (h) => h + 0.4));
    // The copy's first segment is held 2 s between read and append: the writes below land during the copy.
    const slow = { actor: 'data_shard', phase: 'backfill', kind: 'delay', delay_ms: 2000, group: GROUP, times: 1 };
    for (const n of ['d1', 'd2']) await c.injectFault(n, slow as never);
    const { id } = await c.api<MigrationStatus>(S.api.migration('start'), {
      spec: {
        targets: [GROUP],
        change: { measures: { cpu: { entity: ['host', 'region'], fields: { value: 'int' } } } },
      },
    });
    const status = () => c.api<MigrationStatus>(S.api.migration('status'), { id });
    await waitFor(() => ['d1', 'd2'].some((n) => c.log(n).includes('injected backfill delay: segment read')), {
      timeoutMs: 30_000,
      what: 'a segment read by the copy',
    });
    // Dual writes during the copy: validated as float, stored in the new shape rounded.
    const DURING = HOURLY - BEFORE;
    for (let i = BEFORE; i < BEFORE + DURING; i++) await write(batch(i, (h) => h + 0.6));
    assert.equal((await status()).operations[0]!.copy_completed_at, null, 'written during the copy');

    // The probe: its own connection, a pinned writer holding the revision from before, integral values
    // (valid as float and as int), one batch at a time from the copy until after the cutover.
    const refreshed: Measure[] = [];
    const writer = probeClient.pinnedWriter('measure', GROUP, 'cpu', {
      onRefresh: (r) => void refreshed.push(r.resource),
    });
    await writer.refresh();
    assert.equal(writer.revision, old.mod_revision);
    let probeHours = 0;
    let failures = 0;
    let done: MigrationStatus | null = null;
    let afterDone = 0;
    // Bounded: at most 2,000 batches, and until 5 batches after the migration ended.
    for (let i = BEFORE + DURING; i < BEFORE + DURING + 2000 && afterDone < 5; i++) {
      try {
        lastToken = (await writer.write(batch(i, (h) => h + 1))).write_token;
        probeHours++;
      } catch (err) {
        failures++;
        assert.fail(`probe write ${i} failed: ${String(err)}`);
      }
      if (done) afterDone++;
      else {
        const s = await status();
        if (['completed', 'failed'].includes(s.state)) done = s;
      }
    }
    assert.ok(done, 'the migration ended while the probe wrote');
    assert.equal(done.state, 'completed', JSON.stringify(done.operations[0]));
    assert.equal(done.operations[0]!.kind, 'rewrite');
    assert.equal(failures, 0);
    assert.ok(writer.refreshes >= 1, 'the probe met ExpiredSchema at the cutover and refreshed');
    assert.deepEqual(refreshed.at(-1)?.fields, [{ name: 'value', type: 'int' }]);

    const now = await measure();
    assert.deepEqual(now.resource.entity, ['host', 'region']);
    assert.deepEqual(now.resource.fields, [{ name: 'value', type: 'int' }]);
    assert.equal(writer.revision, now.mod_revision);
    const layout = (await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: GROUP })).resource as Layout;
    assert.equal(layout.current.measures, undefined, 'the registry holds the shape; the generation no longer does');
    assert.equal(layout.retiring?.measures?.cpu?.fields[0]?.type, 'float', 'the retiring rows keep their shape');

    const hours = BEFORE + DURING + probeHours;
    const all = await rows();
    assert.equal(all.length, hours * HOSTS, 'every point once');
    for (const r of all) {
      const i = indexOf(r.ts);
      const h = Number(String(r.tags.host).slice(1));
      assert.equal(r.tags.region, region(i));
      assert.equal(r.fields.value, i < BEFORE ? h : h + 1, `h${h} at hour ${i}: rounded to an int`);
    }
    // The new entity is a series key: one host in one region.
    const h3eu = await rows({
      and: [
        { tag: 'host', op: 'eq', value: 'h3' },
        { tag: 'region', op: 'eq', value: 'eu' },
      ],
    });
    assert.equal(h3eu.length, Math.ceil(hours / 2));

    // The old revision is refused now, and a plain update still may not change the entity.
    await assert.rejects(
      write(
        batch(0, () => 1),
        old.mod_revision,
      ),
      (e) => codeOf(e) === Code.ExpiredSchema,
    );
    await assert.rejects(
      c.api(S.api.schema('measure', 'update'), { resource: { ...now.resource, entity: ['host'] } }),
      (e: Error) => codeOf(e) === Code.FailedPrecondition && /lockstep migrate/.test(e.message),
    );
  });
});
