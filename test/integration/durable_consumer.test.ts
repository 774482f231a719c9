/**
 * Durable stream consumers (the WAL readers of shard owners) on a real JetStream: messages come in
 * stream order, acks are cumulative, and a restarted reader gets exactly what was not acknowledged.
 */
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { DurableConsumer, StreamMessage } from '../../transport/bus.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';

/** Takes the next `n` messages of a consumer, failing after `ms`. */
async function take(c: DurableConsumer, n: number, ms = 10_000): Promise<StreamMessage[]> {
  const out: StreamMessage[] = [];
  const it = c[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) =>
      (timer = setTimeout(() => reject(new Error(`only ${out.length} of ${n} messages within ${ms} ms`)), ms)),
  );
  try {
    while (out.length < n) {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done) break;
      out.push(r.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

describe('durable consumers', function () {
  this.timeout(30_000);
  let nats: NatsServer;
  let bus: NatsBus;
  const spec = { stream: 'dc_test', durable: 'reader', filterSubject: 'dc.>', ackWaitMs: 500, maxAckPending: 1000 };

  before(async () => {
    nats = await startNatsServer();
    bus = await NatsBus.connect({ url: nats.url, name: 'test' });
    await bus.ensureStream({ name: 'dc_test', subjects: ['dc.>'], maxAgeMs: 0, duplicateWindowMs: 60_000 });
    for (let i = 1; i <= 10; i++) await bus.streamPublish(`dc.${i % 2}`, new TextEncoder().encode(String(i)));
  });
  after(async () => {
    await bus?.close();
    await nats?.stop();
  });

  it('wal - a durable reader gets messages in order; after a restart it gets exactly what it did not ack', async () => {
    const first = await bus.consume(spec);
    const got = await take(first, 10);
    assert.deepEqual(
      got.map((m) => m.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    first.ackUpTo(5);
    await first.stop();

    // Unacknowledged messages come back once their ack wait (500 ms) has passed.
    const second = await bus.consume(spec);
    const again = await take(second, 5);
    assert.deepEqual(
      again.map((m) => m.seq),
      [6, 7, 8, 9, 10],
    );
    assert.ok(again.every((m) => m.redelivered));
    second.ackUpTo(10);
    await second.stop();

    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.consumers.info('dc_test', 'reader');
      assert.equal(info.num_ack_pending, 0);
      assert.equal(info.num_pending, 0);
      assert.equal(info.ack_floor.stream_seq, 10);
    } finally {
      await nc.close();
    }
  });

  it('wal - a reader restarted at the sequence its storage holds gets exactly the messages after it, at once', async () => {
    // Messages 8–10 were delivered to `reader` above; the reader's storage says it holds up to 7.
    const c = await bus.consume({ ...spec, ackWaitMs: 60_000, startSequence: 8 });
    const got = await take(c, 3, 5000);
    assert.deepEqual(
      got.map((m) => m.seq),
      [8, 9, 10],
    );
    await c.stop();
  });
});
