/**
 * Layout generations in the data path (DESIGN §9), on a cluster of real processes (1 liaison, 2
 * data nodes). The steps a rewrite migration takes are written here by hand into the registry:
 * register `next` (re-shard 2 → 4), cut over (`next` becomes current, the old one retiring), drop
 * retiring. Checked as a user sees it: every write during `next` goes to both generations in one
 * acknowledged step and its token names both; reads follow `current` only; a token taken before the
 * cutover still makes a query after it wait for and see its write; data nodes open the shards they
 * own in every live generation and remove a dropped generation from disk. The backfill is not part
 * of this: the new generation holds only what was written while it existed.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SchemaRegistry } from '../../actors/liaison/schema_registry.js';
import type { ActorsReply, WritePoint, WriteReply } from '../../transport/api_types.js';
import { Code, LockstepError } from '../../transport/errors.js';
import { firstGeneration, type Layout, type LayoutGeneration } from '../../transport/layout_types.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';
import type { Group, StoredResource } from '../../transport/schema_types.js';
import { subjectsFor, walDurableName } from '../../transport/subjects.js';
import type { WriteToken } from '../../transport/write_token.js';
import { shardOfSeries } from '../../storage/routing.js';
import { VERSION_COLUMN } from '../../storage/point_version.js';
import { encode } from '../../transport/codec.js';
import { walColumns, type WalRecord } from '../../transport/wal_record.js';
import type { Measure } from '../../transport/schema_types.js';
import { TestCluster } from '../harness/cluster.js';
import { hostValueMeasure } from '../harness/fixtures.js';
import { nodeShards } from '../harness/node_shards.js';
import { consumerNames } from '../harness/stream_info.js';
import { waitFor } from '../harness/wait.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
const G = 'lg';
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);

describe('layout generations in the data path (1 liaison, 2 data nodes)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let registry: SchemaRegistry;
  let gen1: LayoutGeneration;
  let gen2: LayoutGeneration;
  let layoutRevision = 0;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2 });
    registry = await SchemaRegistry.open(c.bus);
    await c.createGroup(G);
    await c.createMeasure(G, 'mem');
    const m = await c.createMeasure(G, 'cpu');
    await waitFor(() => c.measureApplied(G, 'cpu', m.revision), { what: 'the measure on every node' });
    const group = (await registry.get({ kind: 'group', group: G, name: '' })).resource as Group;
    gen1 = firstGeneration(group);
    gen2 = { ...gen1, generation: 2, shards: 4, placement: { data_nodes: ['d1', 'd2'], strategy: 'balanced' } };
  });
  after(async () => c?.stop());

  const points = (from: number, n: number, t: number): WritePoint[] =>
    Array.from({ length: n }, (_, i) => ({ tags: { host: `h${from + i}` }, fields: { value: from + i }, ts: t }));
  const write = (p: WritePoint[], name = 'cpu') =>
    c.api<WriteReply>(S.api.write('measure'), { group: G, name, points: p }, 10_000);
  /** The value of mem{host=h1} at T0, read with `token`. */
  const memValue = async (token: WriteToken) => {
    const r = await c.api<QueryReply>(
      S.api.query('measure'),
      { group: G, name: 'mem', from: T0, to: T0 + 1, write_token: token },
      10_000,
    );
    return r.rows!.map((row) => (row as MeasureRow).fields.value);
  };
  const memPoint = (value: number): WritePoint[] => [{ tags: { host: 'h1' }, fields: { value }, ts: T0 }];
  let firstMemSeq = 0;
  let backfillToken: WriteToken;
  const hosts = async (token?: WriteToken): Promise<string[]> => {
    const r = await c.api<QueryReply>(
      S.api.query('measure'),
      { group: G, name: 'cpu', from: T0, to: T0 + 3_600_000, limit: 1000, ...(token ? { write_token: token } : {}) },
      10_000,
    );
    return r.rows!.map((row) => String(row.tags.host)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  };
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => `h${from + i}`);
  /** Writes the layout at the revision last written (0: none yet), then waits until every node applied it. */
  const putLayout = async (layout: Omit<Layout, 'group'>) => {
    const r = await registry.writeLayout({ group: G, ...layout }, layoutRevision);
    layoutRevision = r.revision;
    const b = await c.barrier('applied', { keys: [`layout:${G}`], min_revisions: [r.revision] }, 10_000);
    assert.ok(b.applied, `every node applied layout:${G}@${r.revision}: ${JSON.stringify(b)}`);
  };
  const shardsOpen = async (node: string): Promise<string[]> => {
    return nodeShards(await c.control<ActorsReply>(node, 'actors'))
      .map((s) => s.shard)
      .filter((s) => s.startsWith(`${G}/`));
  };
  const allShardsOpen = async () => [...(await shardsOpen('d1')), ...(await shardsOpen('d2'))].sort();
  const dataDir = (node: string) => join(c.lc.opts.dir, 'data', node, G);

  it('layout - a group without a layout record writes and reads its first generation under the old names', async () => {
    const r = await write(points(0, 10, T0));
    assert.deepEqual(Object.keys(r.write_token), ['group', 'shards'], 'a token as before generations existed');
    assert.deepEqual(await hosts(r.write_token), range(0, 10));
    assert.deepEqual(await allShardsOpen(), [`${G}/0`, `${G}/1`]);
    // mem{h1} = 1, written before generation 2 exists: a backfill would copy it later.
    const w = await write(memPoint(1), 'mem');
    firstMemSeq = Object.values(w.write_token.shards)[0]!;
  });

  it('layout - with `next` registered, every write goes to both generations and the token names both', async () => {
    await putLayout({ current: gen1, next: gen2 });
    await waitFor(async () => (await allShardsOpen()).length === 6, { what: 'the 4 shards of generation 2 open' });
    assert.deepEqual(await allShardsOpen(), [`${G}/0`, `${G}/1`, `${G}/g2/0`, `${G}/g2/1`, `${G}/g2/2`, `${G}/g2/3`]);
    // Each owner of a generation-2 shard reads the WAL through a durable consumer of its own name.
    const durables = await consumerNames(c.bus, S.walStream);
    const want: string[] = [];
    for (const node of ['d1', 'd2']) {
      for (const s of await shardsOpen(node)) {
        if (s.startsWith(`${G}/g2/`)) want.push(walDurableName(G, 2, Number(s.split('/')[2]), node));
      }
    }
    assert.equal(want.length, 4);
    for (const d of want) assert.ok(durables.includes(d), `${d} among ${durables.join(', ')}`);
    const r = await write(points(10, 20, T0 + 1000));
    const t = r.write_token;
    assert.equal(t.generation, undefined, 'shards are those of the generation serving reads, 1');
    assert.deepEqual(Object.keys(t.generations ?? {}).sort(), ['1', '2']);
    assert.deepEqual(t.generations!['1'], t.shards);
    assert.equal(Object.values(t.generations!['2']!).length > 0, true);
    // Reads still come from generation 1: all 30 points.
    assert.deepEqual(await hosts(t), range(0, 30));
    ddualToken = t;
    // Overwrite during the copy: mem{h1} = 2 goes to both generations. Then the copy of the old
    // value arrives in generation 2 the way a backfill sends it: a record carrying the old write's
    // version (its WAL sequence) in `_v`. The newer value must survive it.
    await write(memPoint(2), 'mem');
    const cols = walColumns('measure', hostValueMeasure(G, 'mem') as Measure, memPoint(1), [0]);
    cols.fields[VERSION_COLUMN] = Float64Array.of(firstMemSeq);
    const shard = shardOfSeries('mem', '["h1"]', gen2.shards);
    const record: WalRecord = { kind: 'measure', group: G, name: 'mem', revision: 1, batch_id: 'backfill', cols };
    const ack = await c.bus.streamPublish(S.wal(G, shard, 2), encode(record));
    backfillToken = { group: G, shards: { [String(shard)]: ack.seq }, generation: 2 };
  });
  let ddualToken: WriteToken;

  it('layout - after the cutover reads come from the new generation, and a token from before it still waits for its write', async () => {
    await putLayout({ current: gen2, retiring: gen1 });
    // Generation 2 holds what was written while it existed (no backfill here): h10–h29, which the
    // token taken before the cutover makes visible through the generation-2 sequences it holds.
    assert.deepEqual(await hosts(ddualToken), range(10, 20));
    // Generation 2 applied the backfilled old value after the newer one, and reads the newer one.
    assert.deepEqual(await memValue(backfillToken), [2]);
    // Writes go on to both: current (2) and retiring (1).
    const r = await write(points(30, 5, T0 + 2000));
    assert.equal(r.write_token.generation, 2);
    assert.deepEqual(Object.keys(r.write_token.generations ?? {}).sort(), ['1', '2']);
    assert.deepEqual(await hosts(r.write_token), range(10, 25));
  });

  it('layout - dropping the retiring generation closes its shards and removes its directories from disk', async () => {
    // Flushed parts of generation 1 exist on disk before the drop (2 s age flush).
    await waitFor(
      async () => {
        const names = [...(await readdir(dataDir('d1'))), ...(await readdir(dataDir('d2')))];
        return names.includes('shard-0') || names.includes('shard-1');
      },
      { what: 'generation 1 directories on disk' },
    );
    await putLayout({ current: gen2 });
    await waitFor(async () => (await allShardsOpen()).every((s) => s.startsWith(`${G}/g2/`)), {
      what: 'generation 1 shards closed',
    });
    await waitFor(
      async () => {
        const names = [...(await readdir(dataDir('d1'))), ...(await readdir(dataDir('d2')))];
        return names.every((n) => n === 'gen-2');
      },
      { what: 'generation 1 removed from disk' },
    );
    const r = await write(points(35, 5, T0 + 3000));
    assert.deepEqual(Object.keys(r.write_token).sort(), ['generation', 'group', 'shards']);
    assert.deepEqual(await hosts(r.write_token), range(10, 30));
  });

  it('layout - the schema API refuses to write a layout outside a migration, and a group delete takes it along', async () => {
    const refused = async (p: Promise<unknown>) =>
      assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof LockstepError, String(err));
        assert.equal(err.code, Code.FailedPrecondition, err.message);
        assert.match(err.message, /lockstep migrate|has no operation 0 on group lg/);
        return true;
      });
    const layout = { group: G, current: gen1 };
    await refused(c.api(S.api.schema('layout', 'create'), { resource: layout }));
    await refused(c.api(S.api.schema('layout', 'update'), { resource: layout, expected_revision: layoutRevision }));
    await refused(
      c.api(S.api.schema('layout', 'update'), {
        resource: layout,
        expected_revision: layoutRevision,
        migration: { id: 'mnone', index: 0, token: 'forged' },
      }),
    );
    await refused(c.api(S.api.schema('layout', 'delete'), { group: G }));
    await refused(c.api(S.api.schemaApply, { resources: [{ kind: 'layout', resource: layout }] }));
    const got = await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: G });
    assert.equal((got.resource as Layout).current.generation, 2, 'nothing written');
    const d = await c.api<{ deleted: string[] }>(S.api.schema('group', 'delete'), { group: G, cascade: true });
    assert.ok(d.deleted.includes(`layout:${G}`), JSON.stringify(d.deleted));
    await assert.rejects(c.api(S.api.schema('layout', 'get'), { group: G }), (e: unknown) => {
      return e instanceof LockstepError && e.code === Code.NotFound;
    });
  });
});
