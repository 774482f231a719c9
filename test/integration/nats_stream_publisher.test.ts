/**
 * The WAL's JetStream publisher (transport/nats_stream_publisher.ts) on a real nats-server: many
 * publishes in flight on its one reply subscription each get their own acknowledgement, and every
 * way an acknowledgement can fail to come (no stream, a JetStream error, silence, a permission the
 * user lacks, a closed connection) is a typed error within the publish's deadline.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Code } from '../../transport/errors.js';
import { connectNats } from '../../transport/nats_connect.js';
import { NatsStreamPublisher } from '../../transport/nats_stream_publisher.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { useTempDir } from '../harness/temp_dir.js';

const bytes = (n: number) => new Uint8Array(n).fill(7);

/** Asserts `p` rejects with `code`, a message matching `re`, within `withinMs`. */
async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp, withinMs: number): Promise<number> {
  const t0 = performance.now();
  await assert.rejects(p, (e: { code?: string; message?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message ?? '', re);
    return true;
  });
  const took = performance.now() - t0;
  assert.ok(took < withinMs, `rejected after ${Math.round(took)} ms, expected within ${withinMs} ms`);
  return took;
}

describe('JetStream publisher (one reply subscription per connection)', function () {
  this.timeout(30_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  let pub: NatsStreamPublisher;
  const dir = useTempDir('pub');

  before(async () => {
    const conf = join(dir.path, 'nats.conf');
    writeFileSync(
      conf,
      [
        'authorization {',
        '  users = [',
        '    { user: w, password: wp, permissions: { publish: { allow: [">"], deny: ["pub.denied"] }, subscribe: ">" } }',
        '  ]',
        '}',
      ].join('\n'),
    );
    nats = await startNatsServer({ args: ['-c', conf] });
    nc = await connectNats({ servers: nats.url.replace('nats://', ''), user: 'w', pass: 'wp', noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'PUB', subjects: ['pub.s.>'], duplicate_window: 60_000_000_000 });
    await jsm.streams.add({ name: 'PUB_SMALL', subjects: ['pub.small'], max_msg_size: 16 });
    pub = new NatsStreamPublisher(nc, '_INBOX');
  });

  after(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('thousands in flight each get their own acknowledgement; a repeated id is a duplicate', async () => {
    const n = 3000;
    const acks = await Promise.all(
      Array.from({ length: n }, (_, i) => pub.publish(`pub.s.${i % 3}`, bytes(200), { msgId: `m${i}` })),
    );
    assert.ok(acks.every((a) => a.stream === 'PUB' && !a.duplicate));
    assert.deepEqual(
      acks.map((a) => a.seq).sort((a, b) => a - b),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    // Per subject, the stream's order is the order of the publishes.
    for (let s = 0; s < 3; s++) {
      const seqs = acks.filter((_, i) => i % 3 === s).map((a) => a.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
    }
    const again = await pub.publish('pub.s.0', bytes(200), { msgId: 'm42' });
    assert.deepEqual(again, { stream: 'PUB', seq: acks[42]!.seq, duplicate: true });
  });

  it('no stream on the subject, a JetStream error, silence: Unavailable naming the cause', async () => {
    await rejectsWith(pub.publish('pub.nostream', bytes(1)), Code.Unavailable, /no JetStream stream captures/, 2000);
    await rejectsWith(pub.publish('pub.small', bytes(100)), Code.Unavailable, /pub\.small failed: .*size/i, 2000);
    // A listener that never answers: the deadline, not the first failure of someone else, ends it.
    const silent = nc.subscribe('pub.silent', { callback: () => undefined });
    try {
      const took = await rejectsWith(
        pub.publish('pub.silent', bytes(1), { timeoutMs: 300 }),
        Code.Unavailable,
        /no acknowledgement within 300 ms/,
        3000,
      );
      assert.ok(took >= 290, `gave up after ${Math.round(took)} ms, before its 300 ms deadline`);
    } finally {
      silent.unsubscribe();
    }
    // Still working after all of that.
    assert.equal((await pub.publish('pub.s.9', bytes(1))).stream, 'PUB');
  });

  it('a subject the user may not publish to: PermissionDenied long before the deadline', async () => {
    await rejectsWith(
      pub.publish('pub.denied', bytes(1), { timeoutMs: 20_000 }),
      Code.PermissionDenied,
      /may not|not allow.*pub\.denied/,
      5000,
    );
  });

  it('a connection closed with publishes pending fails them at once', async () => {
    const other = await connectNats({ servers: nats.url.replace('nats://', ''), user: 'w', pass: 'wp' });
    const p2 = new NatsStreamPublisher(other, '_INBOX');
    const silent = nc.subscribe('pub.silent2', { callback: () => undefined });
    try {
      await nc.flush();
      const pending = p2.publish('pub.silent2', bytes(1), { timeoutMs: 20_000 });
      await other.flush();
      await other.close();
      await rejectsWith(pending, Code.Unavailable, /connection (closed|is closed)/, 5000);
      await rejectsWith(p2.publish('pub.s.0', bytes(1)), Code.Unavailable, /connection is closed/, 1000);
    } finally {
      silent.unsubscribe();
    }
  });
});
