/**
 * The client's pinned writer on a real cluster (1 liaison + 1 data node): it writes at the schema
 * revision it fetched; after the measure changes, the write a plain client would get refused
 * (`ExpiredSchema`) succeeds after one refresh, the caller sees the new resource, the batch goes out
 * again with the same batch_id and is stored once; the refresh bound holds; a deleted measure is
 * `NotFound`, not retried.
 */
import assert from 'node:assert/strict';
import { LockstepClient, type WriteOptions, type WritePoint } from '../../transport/client.js';
import { Code } from '../../transport/errors.js';
import { PinnedWriter, type PinnedWriterHost } from '../../transport/pinned_writer.js';
import type { Measure, StoredResource } from '../../transport/schema_types.js';
import type { WriteToken } from '../../transport/write_token.js';
import { TestCluster } from '../harness/cluster.js';
import { hostValueMeasure } from '../harness/fixtures.js';

const G = 'pw';

describe('client pinned writer (1 liaison + 1 data node)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let client: LockstepClient;
  const now = Date.now();
  const point = (host: string, value: number): WritePoint => ({ ts: now, tags: { host }, fields: { value } });
  const hasCode = (code: string) => (e: { code?: string }) => e.code === code;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
    client = await LockstepClient.connect({ natsUrl: c.lc.natsUrl });
    await c.createGroup(G);
  });
  after(async () => {
    await client?.close();
    await c?.stop();
  });

  /** Creates measure `name` (a `host` tag, a float `value`) and waits until every member applied it. */
  async function createMeasure(name: string): Promise<number> {
    const { revision } = await client.create('measure', hostValueMeasure(G, name));
    assert.equal((await client.awaitApplied([`measure:${G}/${name}`], { minRevisions: [revision] })).applied, true);
    return revision;
  }

  /** Adds an int field `count` to measure `name` (its revision moves) and waits until every member applied it. */
  async function addCountField(name: string): Promise<number> {
    const grown = {
      ...hostValueMeasure(G, name),
      fields: [...hostValueMeasure(G, name).fields, { name: 'count', type: 'int' }],
    };
    const { revision, changed } = await client.update('measure', grown);
    assert.equal(changed, true);
    assert.equal((await client.awaitApplied([`measure:${G}/${name}`], { minRevisions: [revision] })).applied, true);
    return revision;
  }

  /** The rows of host `host` in measure `name`, read after the write `token` names. */
  async function rowsOf(name: string, host: string, token: WriteToken) {
    const q = await client.queryMeasure({
      group: G,
      name,
      from: now - 60_000,
      to: now + 1,
      criteria: { tag: 'host', op: 'eq', value: host },
      write_token: token,
    });
    return q.rows ?? [];
  }

  it('pinned writer - after a schema change it refreshes once, tells the caller and stores the batch once', async () => {
    const created = await createMeasure('cpu');
    const seen: StoredResource<Measure>[] = [];
    const w = client.pinnedWriter('measure', G, 'cpu', { onRefresh: (r) => void seen.push(r) });
    const first = await w.write([point('h1', 1)]);
    assert.equal(first.schema_revision, created);
    assert.equal(w.revision, created);
    assert.equal(w.refreshes, 0);

    const changed = await addCountField('cpu');
    assert.ok(changed > created);
    await assert.rejects(
      client.writeMeasure(G, 'cpu', [point('h2', 2)], { schemaRevision: created }),
      hasCode(Code.ExpiredSchema),
      'a plain write at the old revision is refused',
    );

    const second = await w.write([point('h2', 2)]);
    assert.equal(second.schema_revision, changed);
    assert.equal(second.duplicate, false);
    assert.equal(w.refreshes, 1);
    assert.equal(w.revision, changed);
    assert.deepEqual(
      seen.map((r) => r.mod_revision),
      [changed],
    );
    assert.deepEqual(seen[0]!.resource.fields, [
      { name: 'value', type: 'float' },
      { name: 'count', type: 'int' },
    ]);
    const rows = await rowsOf('cpu', 'h2', second.write_token);
    assert.deepEqual(
      rows.map((r) => [r.ts, r.fields.value]),
      [[now, 2]],
      'stored exactly once',
    );
  });

  it('pinned writer - the batch is resent with the same batch_id, so sending it again stores nothing', async () => {
    const created = await createMeasure('mem');
    const sent: WriteOptions[] = [];
    const spy: PinnedWriterHost = {
      get: (kind, ref) => client.get(kind, ref),
      writeMeasure: (group, name, points, opts = {}) => {
        sent.push(opts);
        return client.writeMeasure(group, name, points, opts);
      },
      writeStream: (group, name, elements, opts) => client.writeStream(group, name, elements, opts),
    };
    const w = new PinnedWriter(spy, 'measure', G, 'mem');
    await w.refresh();
    const changed = await addCountField('mem');

    const r = await w.write([point('h1', 7)]);
    assert.deepEqual(
      sent.map((o) => [o.schemaRevision, o.batchId]),
      [
        [created, r.batch_id],
        [changed, r.batch_id],
      ],
    );
    const again = await client.writeMeasure(G, 'mem', [point('h1', 7)], { batchId: r.batch_id });
    assert.equal(again.duplicate, true);
    assert.deepEqual(
      (await rowsOf('mem', 'h1', again.write_token)).map((x) => x.fields.value),
      [7],
    );
  });

  it('pinned writer - past refreshesMax the ExpiredSchema is thrown', async () => {
    const created = await createMeasure('disk');
    const refreshed: number[] = [];
    const w = client.pinnedWriter('measure', G, 'disk', {
      refreshesMax: 0,
      onRefresh: (r) => void refreshed.push(r.mod_revision),
    });
    assert.equal((await w.refresh()).mod_revision, created);
    await addCountField('disk');
    await assert.rejects(w.write([point('h1', 1)]), hasCode(Code.ExpiredSchema));
    assert.equal(w.refreshes, 0);
    assert.deepEqual(refreshed, []);
    assert.equal(w.revision, created);
  });

  it('pinned writer - a deleted measure is NotFound at once, not refreshed', async () => {
    await createMeasure('gone');
    const refreshed: number[] = [];
    const w = client.pinnedWriter('measure', G, 'gone', { onRefresh: (r) => void refreshed.push(r.mod_revision) });
    await w.write([point('h1', 1)]);
    await client.delete('measure', { group: G, name: 'gone' });
    assert.equal((await client.awaitDeleted(['measure:pw/gone'])).applied, true);

    await assert.rejects(w.write([point('h1', 2)]), hasCode(Code.NotFound));
    assert.equal(w.refreshes, 0);
    assert.deepEqual(refreshed, []);
    await assert.rejects(w.refresh(), hasCode(Code.NotFound));
  });

  it('pinned writer - a bad kind or name fails before any I/O', () => {
    assert.throws(() => client.pinnedWriter('group' as 'measure', G, 'cpu'), hasCode(Code.InvalidArgument));
    assert.throws(() => client.pinnedWriter('measure', G, 'Bad.Name'), hasCode(Code.InvalidArgument));
    assert.throws(() => client.pinnedWriter('measure', G, 'cpu', { refreshesMax: -1 }), TypeError);
  });
});
