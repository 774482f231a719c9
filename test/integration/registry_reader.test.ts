/**
 * The watcher's registry reader on a real JetStream bucket: init ends when the watch has caught up,
 * even when the bucket's last message no longer exists (purged or deleted by an operator).
 */
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { openRegistryStream } from '../../actors/schema_watcher/registry_reader.js';
import { encode } from '../../transport/codec.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';

describe('registry reader', function () {
  this.timeout(30_000);
  let nats: NatsServer;
  let bus: NatsBus;
  before(async () => {
    nats = await startNatsServer();
    bus = await NatsBus.connect({ url: nats.url, name: 'test' });
  });
  after(async () => {
    await bus?.close();
    await nats?.stop();
  });

  const value = (name: string) =>
    encode({
      kind: 'group',
      resource: { name, catalog: 'measure', shards: 1, segment_interval: '1d', ttl: '1d', replicas: 1 },
    });

  it('watcher - init reads the whole bucket, then hands over the live watch', async () => {
    const kv = await bus.kv('reader_live');
    await kv.create('group.a', value('a'));
    await kv.create('group.b', value('b'));
    const s = await openRegistryStream(kv, 5000);
    assert.deepEqual(
      s.initial.map((c) => [c.kvKey, c.revision]),
      [
        ['group.a', 1],
        ['group.b', 2],
      ],
    );
    assert.equal(s.initRevision, 2);
    await kv.create('group.c', value('c'));
    const next = await s.iterator.next();
    assert.equal(next.value.revision, 3);
    s.watch.stop();
  });

  it('watcher - init does not hang when the last message of the bucket is gone', async () => {
    const kv = await bus.kv('reader_purged');
    await kv.create('group.a', value('a'));
    await kv.create('group.b', value('b'));
    const last = await kv.create('group.c', value('c'));
    // An operator removes the newest message: the stream's last sequence stays 3.
    const jsm = await jetstreamManager((bus as unknown as { nc: never }).nc);
    await jsm.streams.deleteMessage('KV_reader_purged', last);
    const t0 = Date.now();
    const s = await openRegistryStream(kv, 5000);
    assert.ok(Date.now() - t0 < 2000, 'init finished once the watch caught up');
    assert.deepEqual(
      s.initial.map((c) => c.kvKey),
      ['group.a', 'group.b'],
    );
    assert.equal(s.initRevision, 3);
    s.watch.stop();
  });

  it('watcher - an empty bucket inits at once at revision 0', async () => {
    const kv = await bus.kv('reader_empty');
    const s = await openRegistryStream(kv, 5000);
    assert.deepEqual([s.initial.length, s.initRevision], [0, 0]);
    s.watch.stop();
  });
});
