/**
 * Seeded faults of the in-memory bus twin (test/harness/memory_bus.ts). Invariants checked:
 * - with drops and duplicates off, every message reaches every subscriber exactly once, and
 *   messages from one connection to one subscription keep their order whatever the delays;
 * - duplicates and drops do happen at their rates; a request whose message or reply is lost times
 *   out, a duplicated one still resolves once;
 * - the same seed replays the same run (same deliveries at the same times), another seed does not;
 * - KV faults: a lost request is not applied, a lost reply is; compare-and-set still lets exactly
 *   one of several racing claimers win; a delayed watch still delivers in revision order.
 * The seed is printed (BUS_SEED replays it).
 */
import assert from 'node:assert/strict';
import type { Bus } from '../../transport/bus.js';
import { Code } from '../../transport/errors.js';
import { FakeClock } from '../harness/fake_clock.js';
import { MemoryNetwork } from '../harness/memory_bus.js';
import type { FaultOptions } from '../harness/memory_faults.js';
import { runSeed } from '../harness/random.js';

const SEED = runSeed('BUS_SEED');
const te = new TextEncoder();
const td = new TextDecoder();

const SENDERS = 3;
const MESSAGES_PER_SENDER = 50;

/**
 * Three senders publish 50 numbered messages each, one every few ms, to two subscribers on
 * another connection; returns what each subscriber saw, with times, once the network is idle.
 */
async function pubsubRun(seed: number, faults: FaultOptions) {
  const clock = new FakeClock(0);
  const net = new MemoryNetwork({ seed, clock, faults });
  const receiver = net.connect('receiver');
  const trace: string[] = [];
  const seen = { s1: [] as string[], s2: [] as string[] };
  for (const name of ['s1', 's2'] as const) {
    receiver.subscribe('sim.>', (m) => {
      const body = td.decode(m.data);
      seen[name].push(body);
      trace.push(`${clock.monotonic()} ${name} ${body}`);
    });
  }
  const senders = Array.from({ length: SENDERS }, (_, i) => net.connect(`sender-${i}`));
  for (const [i, bus] of senders.entries()) {
    for (let n = 0; n < MESSAGES_PER_SENDER; n++) {
      clock.setTimer(n * 3 + i, () => bus.publish(`sim.${i}`, te.encode(`${i}:${n}`)));
    }
  }
  await clock.runUntilIdle();
  return { trace, seen, stats: { ...net.stats } };
}

/** The message numbers of one sender, in the order a subscriber saw them. */
const fromSender = (seen: string[], i: number) =>
  seen.filter((b) => b.startsWith(`${i}:`)).map((b) => Number(b.split(':')[1]));

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('bus twin faults', function () {
  this.timeout(20_000);

  it(`bus twin - with drops off every message arrives once, in per-sender order (seed ${SEED})`, async () => {
    const { seen, stats } = await pubsubRun(SEED, { delay: { minMs: 0, maxMs: 40 } });
    for (const s of [seen.s1, seen.s2]) {
      assert.equal(s.length, SENDERS * MESSAGES_PER_SENDER);
      for (let i = 0; i < SENDERS; i++) assert.deepEqual(fromSender(s, i), range(MESSAGES_PER_SENDER));
    }
    assert.equal(stats.dropped + stats.duplicated, 0);
  });

  it(`bus twin - duplicates and drops happen at their rates; reorder lets messages overtake (seed ${SEED})`, async () => {
    const total = 2 * SENDERS * MESSAGES_PER_SENDER;
    const dup = await pubsubRun(SEED, { duplicateRate: 0.2, delay: { minMs: 0, maxMs: 10 } });
    // 300 deliveries at 20%: far outside these bounds only with a broken generator.
    assert.ok(dup.stats.duplicated > 20 && dup.stats.duplicated < 110, `duplicated ${dup.stats.duplicated}`);
    assert.equal(dup.seen.s1.length + dup.seen.s2.length, total + dup.stats.duplicated);
    for (let i = 0; i < SENDERS; i++) {
      const once = [...new Set(fromSender(dup.seen.s1, i))];
      assert.deepEqual(once, range(MESSAGES_PER_SENDER), 'duplicates stay in order behind their original');
    }

    const drop = await pubsubRun(SEED, { dropRate: 0.2 });
    assert.ok(drop.stats.dropped > 20 && drop.stats.dropped < 110, `dropped ${drop.stats.dropped}`);
    assert.equal(drop.seen.s1.length + drop.seen.s2.length, total - drop.stats.dropped);

    const shuffled = await pubsubRun(SEED, { reorder: true, delay: { minMs: 0, maxMs: 40 } });
    const orders = range(SENDERS).map((i) => fromSender(shuffled.seen.s1, i));
    assert.ok(
      orders.some((o) => o.some((n, k) => k > 0 && n < o[k - 1]!)),
      'some message overtook an earlier one',
    );
  });

  it(`bus twin - the same seed replays the same run, another seed does not (seed ${SEED})`, async () => {
    const faults: FaultOptions = { delay: { minMs: 0, maxMs: 25 }, dropRate: 0.05, duplicateRate: 0.05 };
    const one = await pubsubRun(SEED, faults);
    const two = await pubsubRun(SEED, faults);
    assert.deepEqual(two.trace, one.trace);
    assert.deepEqual(two.stats, one.stats);
    const other = await pubsubRun((SEED + 1) >>> 0, faults);
    assert.notDeepEqual(other.trace, one.trace);
  });

  it(`bus twin - lost requests or replies time out; a duplicated request still resolves once (seed ${SEED})`, async () => {
    for (const faults of [{ dropRate: 1 }, { duplicateRate: 1 }] satisfies FaultOptions[]) {
      const clock = new FakeClock();
      const net = new MemoryNetwork({ seed: SEED, clock, faults });
      const server = net.connect('server');
      let handled = 0;
      server.subscribe('svc', (m) => {
        handled++;
        m.respond(te.encode('ok'));
      });
      const outcome = net
        .connect('client')
        .request('svc', te.encode('x'), { timeoutMs: 100 })
        .then(
          (r) => td.decode(r.data),
          (e: { code: string }) => e.code,
        );
      await clock.advance(150);
      if (faults.dropRate) {
        assert.equal(await outcome, Code.DeadlineExceeded);
        assert.equal(handled, 0);
      } else {
        assert.equal(await outcome, 'ok');
        assert.equal(handled, 2, 'the responder saw the request twice');
      }
    }
  });

  it(`bus twin - a lost KV request is not applied, a lost reply is; Unavailable either way (seed ${SEED})`, async () => {
    const run = async (faults: FaultOptions) => {
      const net = new MemoryNetwork({ seed: SEED, faults });
      const kv = await net.connect().kv('leases');
      const err = await kv.create('lease.g1', te.encode('n1')).catch((e: { code: string }) => e.code);
      // Read the server's store directly: a read through the bus would meet the faults too.
      return { err, stored: net.bucket('leases', 1).last('lease.g1')?.revision ?? null };
    };
    assert.deepEqual(await run({ kvFailRate: 1 }), { err: Code.Unavailable, stored: null });
    assert.deepEqual(await run({ kvAmbiguousRate: 1 }), { err: Code.Unavailable, stored: 1 });
  });

  it(`bus twin - racing claimers with delays: compare-and-set lets exactly one win (seed ${SEED})`, async () => {
    const clock = new FakeClock();
    const net = new MemoryNetwork({ seed: SEED, clock, faults: { kvDelay: { minMs: 0, maxMs: 30 } } });
    const claims = range(5).map((i) => claimOnce(net.connect(`claimer-${i}`), `n${i}`));
    await clock.runUntilIdle();
    const results = await Promise.all(claims);
    assert.equal(results.filter((r) => r === 'won').length, 1, results.join(', '));
    assert.deepEqual(
      results.filter((r) => r !== 'won' && r !== 'lost'),
      [],
    );
    const kv = await net.connect().kv('claims');
    assert.deepEqual(await drive(clock, kv.lastRevision()), { revision: 1, messages: 1 });
    const holder = await drive(clock, kv.get('g1'));
    assert.equal(results[Number(td.decode(holder!.value).slice(1))], 'won', 'the stored holder is the winner');
  });

  it(`bus twin - a delayed watch still delivers every revision in order (seed ${SEED})`, async () => {
    const clock = new FakeClock();
    const net = new MemoryNetwork({ seed: SEED, clock, faults: { kvDelay: { minMs: 0, maxMs: 50 } } });
    const kv = await drive(clock, net.connect('writer').kv('w', { history: 10 }));
    const watch = await drive(clock, kv.watch(1));
    const revisions: number[] = [];
    const reading = (async () => {
      for await (const e of watch) if (revisions.push(e.revision) === 20) break;
    })();
    for (let i = 0; i < 20; i++) await drive(clock, kv.create(`k${i}`, te.encode('v')));
    await drive(clock, reading);
    assert.deepEqual(
      revisions,
      range(20).map((i) => i + 1),
    );
  });
});

/** Settles `p`, moving the clock 10 ms at a time (bounded: 1,000 steps). */
function drive<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  return clock.until(p, 'a twin call', 10, 1000);
}

/** One attempt to claim `claims/g1` by create: won, lost to another holder, or an error code. */
async function claimOnce(bus: Bus, me: string): Promise<string> {
  const kv = await bus.kv('claims');
  return kv.create('g1', te.encode(me)).then(
    () => 'won',
    (e: { code: string }) => (e.code === Code.AlreadyExists ? 'lost' : `error ${e.code}`),
  );
}
