/**
 * A shard of an older version (standalone node, real nats-server): asked for the client's reply
 * page, it answers its plain result instead, without the `Lockstep-Reply-Page` header, and the
 * liaison merges and pages that result itself. The older shard is played by a subscriber of the
 * shard's query subject that answers at once; the node's own shard is kept waiting on a write token
 * it cannot reach, so the older shard's answer is the one the liaison gets.
 */
import assert from 'node:assert/strict';
import { LockstepClient } from '../../transport/client.js';
import { decode, encode } from '../../transport/codec.js';
import type { Subscription } from '../../transport/bus.js';
import { subjectsFor } from '../../transport/subjects.js';
import { seriesId } from '../../storage/series_id.js';
import type { ShardQueryRequest } from '../../storage/query/shard_request.js';
import type { ShardRows } from '../../storage/query/shard_rows.js';
import { TestCluster } from '../harness/cluster.js';
import { tagFamily } from '../harness/fixtures.js';

describe('a shard of an older version answers its result, not the page (standalone node)', function () {
  this.timeout(60_000);
  let c: TestCluster;
  let lc: LockstepClient;
  let sub: Subscription | undefined;
  const T0 = Date.now() - 3_600_000;
  const q = { group: 'older', name: 'cpu', from: T0, to: T0 + 60_000, timeout_ms: 5_000 };
  // A sequence the node's shard never reaches: it waits, the older shard answers first.
  const unreachable = { group: 'older', shards: { '0': 1_000_000_000 } };
  // The older shard's rows: three of one series, sent as its plain result.
  const rows: ShardRows = {
    ts: Float64Array.from([T0, T0 + 10_000, T0 + 20_000]),
    series: [seriesId('measure', 'cpu', JSON.stringify(['h9']))],
    si: new Uint8Array(3),
    eid: null,
    tags: { host: { values: ['h9'], codes: new Uint8Array(3) } },
    fields: { v: Float64Array.from([1.25, Number.NaN, 3.5]) },
  };
  const asked: ShardQueryRequest[] = [];

  before(async () => {
    c = await TestCluster.start({ liaisons: 0, dataNodes: 0 });
    c.lc.spawnNode('s1', ['standalone']);
    await c.lc.waitReady('s1');
    lc = await LockstepClient.connect({ natsUrl: c.lc.natsUrl });
    await lc.create('group', { name: 'older', catalog: 'measure', shards: 1, segment_interval: '1d', ttl: '7d' });
    const m = await lc.create('measure', {
      group: 'older',
      name: 'cpu',
      entity: ['host'],
      tag_families: [tagFamily('default', { host: 'string' })],
      fields: [{ name: 'v', type: 'float' }],
    });
    assert.equal((await lc.awaitRevision(m.revision, { timeoutMs: 10_000 })).applied, true);
    // Not in the owners' queue group: it hears every request, and answers before the node's shard.
    sub = c.bus.subscribe(subjectsFor().shardQuery('older', 0), (msg) => {
      asked.push(decode(msg.data) as ShardQueryRequest);
      msg.respond(encode({ rows }));
    });
  });
  after(async () => {
    sub?.unsubscribe();
    await lc?.close();
    await c?.stop();
  });

  it('rows: the liaison merges the result into the reply page', async () => {
    const r = await lc.queryMeasure({ ...q, write_token: unreachable });
    assert.ok(asked.at(-1)?.page, 'the only shard was asked for the page');
    assert.deepEqual(r.rows, [
      { ts: T0, tags: { host: 'h9' }, fields: { v: 1.25 } },
      { ts: T0 + 10_000, tags: { host: 'h9' }, fields: { v: null } },
      { ts: T0 + 20_000, tags: { host: 'h9' }, fields: { v: 3.5 } },
    ]);
    assert.equal(r.has_more, false);
  });

  it('columns, packed on the wire by the client: the liaison packs the page it builds', async () => {
    const r = await lc.queryMeasure({ ...q, write_token: unreachable, columns: true, limit: 2 });
    assert.equal(asked.at(-1)?.page?.columns, 'packed');
    assert.deepEqual(r.columns!.ts, Float64Array.from([T0, T0 + 10_000]));
    assert.deepEqual(r.columns!.tags.host, { values: ['h9'], codes: new Uint8Array(2) });
    assert.deepEqual(r.columns!.fields.v, Float64Array.from([1.25, Number.NaN]));
    assert.equal(r.has_more, true);
    assert.ok(r.cursor);
  });
});
