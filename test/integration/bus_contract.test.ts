/**
 * Bus contract: the same cases run against NatsBus on a real nats-server and against the in-memory
 * twin (test/harness/memory_bus.ts, faults off, driven by a FakeClock), so simulations built on
 * the twin rely on what NATS really does. Invariants checked: KV revisions are one gap-free
 * sequence across keys; create/update/delete compare-and-set with the same error codes; a
 * tombstone has its own revision; history and watch replay-then-live agree; request/reply,
 * no-responders, timeouts, queue groups, wildcards and the WAL stream's durable consumers agree.
 */
import assert from 'node:assert/strict';
import type { Bus, BusMessage, KvEntry, KvWatch } from '../../transport/bus.js';
import { Code, errors, isNoResponders } from '../../transport/errors.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { call, serve } from '../../transport/rpc.js';
import { FakeClock } from '../harness/fake_clock.js';
import { MemoryNetwork } from '../harness/memory_bus.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { waitFor } from '../harness/wait.js';

const te = new TextEncoder();
const td = new TextDecoder();
const bytes = (s: string) => te.encode(s);

/** One implementation under test: two connections and a way to let its time pass. */
interface Target {
  a: Bus;
  b: Bus;
  /** Another connection to the same server. */
  connect(name: string): Promise<Bus>;
  /** Settles `p`, moving the target's clock if it has its own (the twin's FakeClock). */
  drive<T>(p: Promise<T>, maxMs: number): Promise<T>;
  /** Resolves once `probe` holds, moving the twin's clock or polling NATS in real time. */
  eventually(probe: () => boolean, what: string): Promise<void>;
  stop(): Promise<void>;
}

async function natsTarget(): Promise<Target> {
  const nats: NatsServer = await startNatsServer();
  const a = await NatsBus.connect({ url: nats.url, name: 'contract-a' });
  const b = await NatsBus.connect({ url: nats.url, name: 'contract-b' });
  return {
    a,
    b,
    connect: (name) => NatsBus.connect({ url: nats.url, name }),
    drive: (p) => p,
    eventually: async (probe, what) => void (await waitFor(() => probe(), { timeoutMs: 5000, what })),
    async stop() {
      await a.close();
      await b.close();
      await nats.stop();
    },
  };
}

async function memoryTarget(): Promise<Target> {
  const clock = new FakeClock();
  const net = new MemoryNetwork({ seed: 1, clock });
  const a = net.connect('contract-a');
  const b = net.connect('contract-b');
  const STEP_MS = 10;
  return {
    a,
    b,
    connect: async (name) => net.connect(name),
    drive: (p, maxMs) => clock.until(p, 'a twin call', STEP_MS, Math.ceil(maxMs / STEP_MS) + 1),
    async eventually(probe, what) {
      for (let i = 0; i < 100 && !probe(); i++) await clock.advance(STEP_MS);
      assert.ok(probe(), `never happened: ${what}`);
    },
    async stop() {
      await a.close();
      await b.close();
    },
  };
}

/** The next `n` entries of a watch, failing after a real-time safety deadline instead of hanging. */
async function take(it: AsyncIterator<KvEntry>, n: number): Promise<KvEntry[]> {
  const out: KvEntry[] = [];
  for (let i = 0; i < n; i++) {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`watch gave ${out.length} of ${n} entries`)), 5000);
    });
    const r = await Promise.race([it.next(), deadline]).finally(() => clearTimeout(timer));
    assert.ok(!r.done, 'watch ended early');
    out.push(r.value);
  }
  return out;
}

const brief = (es: KvEntry[]) => es.map((e) => [e.key, e.revision, e.operation, td.decode(e.value), e.pending]);
const codeOf = (code: string, reason?: string) => (e: unknown) => {
  const x = e as { code?: string; details?: { reason?: string } };
  return x.code === code && (reason === undefined || x.details?.reason === reason);
};

const TARGETS: [string, () => Promise<Target>][] = [
  ['NatsBus on nats-server', natsTarget],
  ['MemoryBus twin', memoryTarget],
];

for (const [label, open] of TARGETS) {
  describe(`bus contract — ${label}`, function () {
    this.timeout(30_000);
    let t: Target;
    let buckets = 0;
    /** A bucket no other case uses (the server is shared by the cases). */
    const kv = (history = 1) => t.a.kv(`contract_${++buckets}`, { history });

    before(async () => {
      t = await open();
    });
    after(async () => {
      await t?.stop();
    });

    it('kv - revisions are one gap-free sequence across keys; create refuses a live key', async () => {
      const b = await kv();
      assert.deepEqual(await b.lastRevision(), { revision: 0, messages: 0 });
      assert.equal(await b.get('a'), null);
      assert.equal(await b.create('a', bytes('1')), 1);
      assert.equal(await b.create('b', bytes('1')), 2);
      assert.equal(await b.update('a', bytes('2'), 1), 3);
      await assert.rejects(b.create('a', bytes('x')), codeOf(Code.AlreadyExists));
      assert.deepEqual(brief([(await b.get('a'))!]), [['a', 3, 'PUT', '2', undefined]]);
      assert.deepEqual(await b.lastRevision(), { revision: 3, messages: 2 });
    });

    it('kv - update is compare-and-set: stale or missing is FailedPrecondition, revision 0 Unavailable', async () => {
      const b = await kv();
      await b.create('k', bytes('1'));
      await b.update('k', bytes('2'), 1);
      await assert.rejects(b.update('k', bytes('3'), 1), (e: unknown) => {
        const x = e as { code: string; details?: Record<string, unknown> };
        return x.code === Code.FailedPrecondition && x.details?.expected_revision === 1;
      });
      await assert.rejects(b.update('never', bytes('3'), 5), codeOf(Code.FailedPrecondition));
      await assert.rejects(b.update('k', bytes('3'), 0), codeOf(Code.Unavailable));
      await assert.rejects(b.create('bad key', bytes('1')), codeOf(Code.Unavailable));
      assert.equal(td.decode((await b.get('k'))!.value), '2');
    });

    it('kv - a delete is a tombstone with its own revision; keys skip it; create and update reuse it', async () => {
      const b = await kv();
      await b.create('a', bytes('1'));
      await assert.rejects(b.delete('a', 7), codeOf(Code.FailedPrecondition));
      assert.equal(await b.delete('a', 1), 2);
      assert.deepEqual(brief([(await b.get('a'))!]), [['a', 2, 'DEL', '', undefined]]);
      assert.deepEqual(await b.keys(), []);
      assert.equal(await b.update('a', bytes('2'), 2), 3, 'update at the tombstone revision');
      assert.equal(await b.delete('a'), 4);
      assert.equal(await b.create('a', bytes('3')), 5, 'create over a tombstone');
      assert.equal(await b.delete('never', 0), 6, 'expected revision 0: the key was never written');
      await assert.rejects(b.delete('a', 0), codeOf(Code.FailedPrecondition));
    });

    it('kv - keys lists live keys under a dotted prefix; history keeps N entries per key', async () => {
      const b = await kv(3);
      for (const k of ['x.b', 'x.a', 'x', 'y.a', 'x.c.d']) await b.create(k, bytes('1'));
      await b.delete('x.b');
      assert.deepEqual(await b.keys('x'), ['x.a', 'x.c.d']);
      assert.deepEqual(await b.keys(), ['x', 'x.a', 'x.c.d', 'y.a']);
      for (let i = 0; i < 4; i++) await b.update('x', bytes(`v${i}`), (await b.get('x'))!.revision);
      // 5 creates + 1 tombstone + 4 updates; x keeps its last 3 of 5 entries.
      assert.deepEqual(await b.lastRevision(), { revision: 10, messages: 8 });
    });

    it('kv - watch replays stored entries with pending counting down, then goes live with deletes', async () => {
      const b = await kv();
      await b.create('a', bytes('1'));
      await b.create('b', bytes('1'));
      await b.update('a', bytes('2'), 1); // supersedes revision 1 (history 1)
      const w: KvWatch = await b.watch(1);
      const it = w[Symbol.asyncIterator]();
      assert.deepEqual(brief(await take(it, 2)), [
        ['b', 2, 'PUT', '1', 1],
        ['a', 3, 'PUT', '2', 0],
      ]);
      await b.delete('b');
      await b.create('c', bytes('9'));
      assert.deepEqual(brief(await take(it, 2)), [
        ['b', 4, 'DEL', '', 0],
        ['c', 5, 'PUT', '9', 0],
      ]);
      w.stop();
      assert.equal((await it.next()).done, true, 'stop ends the iteration');
    });

    it('kv - watch resumes from a revision; past the end it starts at the next one', async () => {
      const b = await kv();
      for (const k of ['a', 'b', 'c']) await b.create(k, bytes(k));
      const w = await b.watch(3);
      const it = w[Symbol.asyncIterator]();
      assert.deepEqual(brief(await take(it, 1)), [['c', 3, 'PUT', 'c', 0]]);
      w.stop();
      const late = await b.watch(100);
      const lit = late[Symbol.asyncIterator]();
      await b.create('d', bytes('d'));
      assert.deepEqual(brief(await take(lit, 1)), [['d', 4, 'PUT', 'd', 0]]);
      late.stop();
    });

    it('request - the reply carries data and headers as sent; the first reply wins', async () => {
      const sub = t.b.subscribe('contract.echo', (m) => {
        m.respond(m.data, { 'X-Case': m.headers['X-Case'] ?? 'none', empty: '' });
        m.respond(bytes('second'));
      });
      await t.b.flush();
      const r = await t.a.request('contract.echo', bytes('hi'), { timeoutMs: 2000, headers: { 'X-Case': 'v' } });
      assert.equal(td.decode(r.data), 'hi');
      assert.deepEqual(r.headers, { 'X-Case': 'v', empty: '' });
      assert.equal(r.reply, undefined);
      sub.unsubscribe();
    });

    it('request - nobody listening is Unavailable with reason no_responders; silence is DeadlineExceeded', async () => {
      const err = await t.a.request('contract.nobody', bytes('x'), { timeoutMs: 2000 }).catch((e: unknown) => e);
      assert.ok(isNoResponders(err), `got ${String(err)}`);
      assert.equal((err as { details: { subject: string } }).details.subject, 'contract.nobody');
      const sub = t.b.subscribe('contract.silent', () => undefined);
      await t.b.flush();
      await assert.rejects(
        t.drive(t.a.request('contract.silent', bytes('x'), { timeoutMs: 200 }), 1000),
        codeOf(Code.DeadlineExceeded),
      );
      sub.unsubscribe();
    });

    it('pubsub - wildcards, queue groups (one member each), own publishes and unsubscribe', async () => {
      const got: string[] = [];
      const on = (bus: Bus, subject: string, tag: string, queue?: string) =>
        bus.subscribe(subject, (m: BusMessage) => got.push(`${tag}:${m.subject}`), { queue });
      const subs = [
        on(t.b, 'contract.ps.*', 'star'),
        on(t.b, 'contract.ps.>', 'gt'),
        on(t.a, 'contract.ps.one', 'self'),
        on(t.b, 'contract.ps.one', 'q1', 'workers'),
        on(t.b, 'contract.ps.one', 'q2', 'workers'),
      ];
      await t.a.flush();
      await t.b.flush();
      t.a.publish('contract.ps.one', bytes('1'));
      t.a.publish('contract.ps.two.deep', bytes('2'));
      await t.eventually(() => got.length === 5, 'five deliveries');
      const sorted = [...got].sort();
      const q = sorted.filter((g) => g.startsWith('q'));
      assert.equal(q.length, 1, `one queue member: ${got.join(', ')}`);
      assert.deepEqual(
        sorted.filter((g) => !g.startsWith('q')),
        ['gt:contract.ps.one', 'gt:contract.ps.two.deep', 'self:contract.ps.one', 'star:contract.ps.one'],
      );
      for (const s of subs) s.unsubscribe();
      await t.b.flush();
      const err = await t.a.request('contract.ps.one', bytes('x'), { timeoutMs: 2000 }).catch((e: unknown) => e);
      assert.ok(isNoResponders(err), 'no subscription left after unsubscribe');
    });

    it('rpc - serve and call round trip a body and a coded error', async () => {
      const sub = serve(t.b, 'contract.rpc', (req) => {
        const body = req.body as { n: number };
        if (body.n < 0) throw errors.invalidArgument('n must be >= 0', { n: body.n });
        return { doubled: body.n * 2 };
      });
      await t.b.flush();
      assert.deepEqual(await call(t.a, 'contract.rpc', { n: 21 }, { timeoutMs: 2000 }), { doubled: 42 });
      await assert.rejects(call(t.a, 'contract.rpc', { n: -1 }, { timeoutMs: 2000 }), (e: unknown) => {
        const x = e as { code: string; details?: { n?: number } };
        return x.code === Code.InvalidArgument && x.details?.n === -1;
      });
      sub.unsubscribe();
    });

    it('stream - acks are gap-free, a repeated msg id is a duplicate, lastSequence is per subject', async () => {
      await t.a.ensureStream({
        name: 'CONTRACT_S',
        subjects: ['contract.s.>'],
        maxAgeMs: 0,
        duplicateWindowMs: 60_000,
      });
      const p = (s: string, id?: string) => t.a.streamPublish(`contract.s.${s}`, bytes(s), id ? { msgId: id } : {});
      assert.deepEqual(await p('a', 'm1'), { stream: 'CONTRACT_S', seq: 1, duplicate: false });
      assert.deepEqual(await p('b'), { stream: 'CONTRACT_S', seq: 2, duplicate: false });
      assert.deepEqual(await p('a', 'm1'), { stream: 'CONTRACT_S', seq: 1, duplicate: true });
      assert.equal((await p('a')).seq, 3);
      assert.equal(await t.a.lastSequence('CONTRACT_S', 'contract.s.a'), 3);
      assert.equal(await t.a.lastSequence('CONTRACT_S', 'contract.s.none'), 0);
      await assert.rejects(t.a.streamPublish('contract.nostream', bytes('x')), codeOf(Code.Unavailable));
    });

    it('stream - a durable delivers in order and resumes after the acknowledged position', async () => {
      await t.a.ensureStream({ name: 'CONTRACT_D', subjects: ['contract.d.>'], maxAgeMs: 0, duplicateWindowMs: 1000 });
      for (const s of ['x', 'y', 'x', 'x']) await t.a.streamPublish(`contract.d.${s}`, bytes(s));
      const spec = { stream: 'CONTRACT_D', durable: 'rd', filterSubject: 'contract.d.x', ackWaitMs: 1000 };
      const read = async (n: number, startSequence?: number) => {
        const c = await t.b.consume({ ...spec, maxAckPending: 10, startSequence });
        const it = c[Symbol.asyncIterator]();
        const got: string[] = [];
        for (let i = 0; i < n; i++) {
          const m = (await t.drive(it.next(), 5000)).value;
          got.push(`${m.seq}${m.redelivered ? ' again' : ''}`);
        }
        return { c, got };
      };
      const first = await read(3);
      assert.deepEqual(first.got, ['1', '3', '4']);
      first.c.ackUpTo(3);
      await t.b.flush();
      assert.deepEqual(await first.c.info(), { pending: 0, deliveredSeq: 4 });
      await first.c.stop();
      // Delivered but never acknowledged: the next reader gets it once the ack wait has passed.
      const second = await read(1);
      assert.deepEqual(second.got, ['4 again']);
      await second.c.stop();
      const restarted = await read(1, 3);
      assert.deepEqual(restarted.got, ['3'], 'a start sequence restarts the durable there');
      await restarted.c.stop();
    });

    it('close - requests and kv calls are Unavailable after close, publish throws', async () => {
      const extra = await t.connect('contract-closing');
      const b = await extra.kv(`contract_${++buckets}`);
      await extra.close();
      await assert.rejects(extra.request('contract.any', bytes('x'), { timeoutMs: 500 }), codeOf(Code.Unavailable));
      await assert.rejects(b.get('a'), codeOf(Code.Unavailable));
      assert.throws(() => extra.publish('contract.any', bytes('x')));
      await extra.closed();
    });
  });
}
