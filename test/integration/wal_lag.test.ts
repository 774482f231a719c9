/**
 * WAL lag per shard (real processes): `lockstep_wal_lag{group, generation, shard}` on the data node's /metrics
 * and `published` / `wal_lag` per shard in its `node actors` health. A data node whose schema
 * watcher is paused holds records of a measure it has not applied at its shard-side gate, so the
 * published sequence runs ahead of what it applied; once it resumes, the lag returns to 0. Every
 * shard of every group shares one WAL stream: writes to one group leave the shards of another, and
 * a caught-up shard of the same group, at 0.
 */
import type { WriteReply } from '../../transport/api_types.js';
import assert from 'node:assert/strict';
import { readWalLag, type WalLagReading } from '../../actors/data_shard/wal_lag.js';
import type { DurableConsumer } from '../../transport/bus.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { TestCluster } from '../harness/cluster.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { waitFor } from '../harness/wait.js';
import { subjectsFor } from '../../transport/subjects.js';

const S = subjectsFor();
type ShardHealth = {
  shard: string;
  applied: number;
  flushed: number;
  published: number | null;
  wal_lag: number | null;
};
type Actors = { metrics_port: number; actors: { id: string; details: { shards?: ShardHealth[] } }[] };

describe('WAL lag per shard (1 liaison + 1 data node)', function () {
  this.timeout(90_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
    await c.createGroup('wl', { shards: 1 });
    await c.createGroup('wl_two', { shards: 2 });
    const m = await c.createMeasure('wl', 'cpu');
    assert.equal((await c.barrier('applied', { keys: ['measure:wl/cpu'], min_revisions: [m.revision] })).applied, true);
  });
  after(async () => {
    await c?.stop();
  });

  const write = (name: string, i: number) =>
    c.api<WriteReply>(S.api.write('measure'), {
      group: 'wl',
      name,
      points: [{ ts: Date.now() - 1000, tags: { host: `h${i}` }, fields: { value: i } }],
    });
  const allShardHealth = async () => {
    const a = await c.control<Actors>('d1', 'actors');
    return a.actors.find((x) => x.id === 'data_shard')!.details.shards!;
  };
  const shardHealth = async () => (await allShardHealth()).find((s) => s.shard === 'wl/0')!;
  const metricLag = async () => {
    const { metrics_port } = await c.control<Actors>('d1', 'actors');
    const text = await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text();
    const m = /^lockstep_wal_lag\{group="wl",generation="1",shard="0"\} (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  };

  it('wal lag - grows on an owner held behind its gate, shows in /metrics and health, and returns to 0 once it catches up', async () => {
    const first = (await write('cpu', 0)).write_token.shards['0']!;
    // Caught up: the reading saw the write and the owner applied it.
    await waitFor(
      async () => {
        const h = await shardHealth();
        return h.published !== null && h.published >= first && h.wal_lag === 0;
      },
      { what: 'lag 0 after the first write' },
    );
    assert.equal(await metricLag(), 0);

    await c.control('d1', 'pause_watch');
    let held: number;
    try {
      // d1 has not applied `mem`: its records (and every later one of the shard) wait at the gate.
      await c.createMeasure('wl', 'mem');
      await write('mem', 1);
      held = (await write('cpu', 2)).write_token.shards['0']!;
      const h = await waitFor(
        async () => {
          const x = await shardHealth();
          return x.published !== null && x.published >= held && x.wal_lag! > 0 ? x : undefined;
        },
        { what: 'lag > 0 in health while d1 is held' },
      );
      assert.ok(h.applied < held, `applied ${h.applied} is behind ${held}`);
      assert.equal(h.wal_lag, h.published! - h.applied);
      // The bus reads a subject's last sequence straight from the stream (0 for a subject never written).
      assert.equal(await c.bus.lastSequence(S.walStream, S.wal('wl', 0)), held);
      assert.equal(await c.bus.lastSequence(S.walStream, S.wal('wl', 7)), 0);
      await waitFor(async () => ((await metricLag()) ?? 0) > 0, { what: 'lag > 0 in /metrics' });
    } finally {
      await c.control('d1', 'resume_watch');
    }

    const caughtUp = await waitFor(
      async () => {
        const x = await shardHealth();
        return x.applied >= held && x.wal_lag === 0 ? x : undefined;
      },
      { what: 'lag back to 0 once d1 applied the schema' },
    );
    assert.ok(caughtUp.published! >= held);
    await waitFor(async () => (await metricLag()) === 0, { what: '/metrics lag back to 0' });
  });

  it('wal lag - writes to one group: the other group and a caught-up shard of the same group read 0', async () => {
    const m = await c.createMeasure('wl_two', 'cpu');
    assert.equal(
      (await c.barrier('applied', { keys: ['measure:wl_two/cpu'], min_revisions: [m.revision] })).applied,
      true,
    );
    // Hosts spread over both shards: one of them is caught up below the end of the stream.
    const points = Array.from({ length: 8 }, (_, i) => ({
      ts: Date.now() - 1000,
      tags: { host: `h${i}` },
      fields: { value: i },
    }));
    const token = (await c.api<WriteReply>(S.api.write('measure'), { group: 'wl_two', name: 'cpu', points }))
      .write_token.shards;
    assert.deepEqual(Object.keys(token).sort(), ['0', '1']);
    // A group created after the write: its owners' consumers start on a stream already holding
    // records of other subjects only.
    await c.createGroup('wl_idle', { shards: 2 });
    await waitFor(
      async () => {
        const all = await allShardHealth();
        const two = all.filter((x) => x.shard.startsWith('wl_two/'));
        const idle = all.filter((x) => x.shard.startsWith('wl_idle/'));
        return (
          two.length === 2 &&
          idle.length === 2 &&
          // A reading taken after the write (published reached the token) that says caught up.
          two.every((x) => {
            const seq = token[x.shard.slice('wl_two/'.length)]!;
            return x.applied >= seq && x.published !== null && x.published >= seq && x.wal_lag === 0;
          }) &&
          idle.every((x) => x.published === 0 && x.wal_lag === 0)
        );
      },
      { timeoutMs: 15_000, what: 'every shard of wl_two and wl_idle at lag 0' },
    );
    const { metrics_port } = await c.control<Actors>('d1', 'actors');
    const text = await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text();
    for (const [g, s] of [
      ['wl_two', 0],
      ['wl_two', 1],
      ['wl_idle', 0],
      ['wl_idle', 1],
    ] as const)
      assert.match(text, new RegExp(`^lockstep_wal_lag\\{group="${g}",generation="1",shard="${s}"\\} 0$`, 'm'));
  });
});

/** A shard owner reduced to what the lag sees: it receives its subject and applies unless held. */
class FakeOwner {
  applied = 0;
  received = 0;
  hold = false;
  reading: WalLagReading | null = null;
  private loop?: Promise<void>;

  private constructor(
    private readonly bus: NatsBus,
    readonly subject: string,
    private readonly consumer: DurableConsumer,
  ) {}

  /** Starts reading after `applied`, as a shard owner resumes after what its store committed. */
  static async open(bus: NatsBus, group: string, shard: number, applied = 0): Promise<FakeOwner> {
    const subject = S.wal(group, shard);
    const consumer = await bus.consume({
      stream: S.walStream,
      durable: `lag_${group}_${shard}`,
      filterSubject: subject,
      ackWaitMs: 60_000,
      maxAckPending: 1000,
      startSequence: applied + 1,
    });
    const owner = new FakeOwner(bus, subject, consumer);
    owner.applied = owner.received = applied;
    owner.loop = owner.run();
    return owner;
  }

  private async run(): Promise<void> {
    for await (const m of this.consumer) {
      this.received = m.seq;
      if (this.hold) continue;
      this.applied = m.seq;
      this.consumer.ackUpTo(m.seq);
    }
  }

  /** Applies everything received so far and stops holding. */
  release(): void {
    this.hold = false;
    this.applied = this.received;
    this.consumer.ackUpTo(this.received);
  }

  async read(): Promise<WalLagReading> {
    const src = { bus: this.bus, consumer: this.consumer, stream: S.walStream, subject: this.subject };
    this.reading = await readWalLag({ ...src, applied: () => this.applied }, this.reading);
    return this.reading;
  }

  deliveredSeq(): Promise<number> {
    return this.consumer.info().then((i) => (i.pending === 0 ? i.deliveredSeq : -1));
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
    await this.loop;
  }
}

describe('WAL lag on a stream shared by two groups (real nats-server, in-process owners)', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  let bus: NatsBus;
  const owners = new Map<string, FakeOwner>();

  before(async () => {
    nats = await startNatsServer();
    bus = await NatsBus.connect({ url: nats.url, name: 'wal-lag-test' });
    await bus.ensureStream({ name: S.walStream, subjects: [S.walAll], maxAgeMs: 0, duplicateWindowMs: 60_000 });
    for (const s of [0, 1]) owners.set(`g1/${s}`, await FakeOwner.open(bus, 'g1', s));
  });
  after(async () => {
    for (const o of owners.values()) await o.stop();
    await bus?.close();
    await nats?.stop();
  });

  const publish = async (group: string, shard: number) =>
    (await bus.streamPublish(S.wal(group, shard), new Uint8Array([1]))).seq;
  const lag = async (key: string) => {
    const { published, applied, lag } = await owners.get(key)!.read();
    return { published, applied, lag };
  };

  it('wal lag - only g1 written: every logs shard and a caught-up g1 shard read 0, a held g1 shard its true lag', async () => {
    // 80 records on g1 only, alternating shards: shard 1 holds the end of the stream.
    const last = [0, 0];
    for (let i = 0; i < 80; i++) last[i % 2] = await publish('g1', i % 2);
    assert.equal(last[1], 80);
    await waitFor(() => owners.get('g1/0')!.applied === last[0] && owners.get('g1/1')!.applied === 80, {
      what: 'g1 owners applied everything',
    });
    // The logs owners start now, and g1/0 restarts from what it applied: the server sets a consumer
    // with nothing left on its subject at the end of the stream (it also does so on its own a few
    // seconds later, when the client renews its pull).
    for (const s of [0, 1]) owners.set(`logs/${s}`, await FakeOwner.open(bus, 'logs', s));
    await owners.get('g1/0')!.stop();
    owners.set('g1/0', await FakeOwner.open(bus, 'g1', 0, last[0]));
    await waitFor(
      async () => {
        for (const o of owners.values()) if ((await o.deliveredSeq()) !== 80) return false;
        return true;
      },
      { what: 'every consumer delivered through the end of the stream (80), nothing pending' },
    );
    for (let round = 0; round < 2; round++) {
      // The second round reuses the first one's readings (nothing moved in between).
      assert.deepEqual(await lag('logs/0'), { published: 0, applied: 0, lag: 0 });
      assert.deepEqual(await lag('logs/1'), { published: 0, applied: 0, lag: 0 });
      assert.deepEqual(await lag('g1/0'), { published: 79, applied: 79, lag: 0 });
      assert.deepEqual(await lag('g1/1'), { published: 80, applied: 80, lag: 0 });
    }

    // g1/0 holds what it receives (as behind its gate): 3 records wait, the lag is their distance.
    owners.get('g1/0')!.hold = true;
    for (let i = 0; i < 3; i++) await publish('g1', 0);
    await waitFor(() => owners.get('g1/0')!.received === 83, { what: 'g1/0 received its 3 records' });
    assert.deepEqual(await lag('g1/0'), { published: 83, applied: 79, lag: 4 });
    assert.deepEqual(await lag('g1/1'), { published: 80, applied: 80, lag: 0 });
    assert.deepEqual(await lag('logs/0'), { published: 0, applied: 0, lag: 0 });

    owners.get('g1/0')!.release();
    assert.deepEqual(await lag('g1/0'), { published: 83, applied: 83, lag: 0 });
  });
});
