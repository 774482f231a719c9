/**
 * The barrier actor against a real nats-server, started in-process, watching fake members built
 * here: each fake publishes heartbeats and answers `P.node.<name>.status.>` as the test scripts.
 */
import assert from 'node:assert/strict';
import { propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { BarrierActor, EVICTED_REASON, type BarrierReply } from '../../actors/barrier/index.js';
import type { MembersReply } from '../../transport/api_types.js';
import type { ActorContext } from '../../runtime/actor.js';
import { systemClock } from '../../runtime/clock.js';
import { resolveNodeConfig } from '../../runtime/config.js';
import type { Heartbeat } from '../../runtime/membership.js';
import type { Role } from '../../runtime/roles.js';
import type { BusMessage, Subscription } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, errors, LockstepError } from '../../transport/errors.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { call, STATUS_HEADER } from '../../transport/rpc.js';
import { formatKey, type SchemaKey } from '../../transport/schema_types.js';
import { subjectsFor, lastToken, type Subjects } from '../../transport/subjects.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { waitFor } from '../harness/wait.js';

const PREFIX = 'lsbarrier';
const SELF = 'l1';

/** A scripted member over NATS. */
class FakeMember {
  revision = 0;
  readonly keys = new Map<string, { present: boolean; mod_revision: number }>();
  unimplemented = false;
  readonly calls: Record<string, number> = {};
  readonly requests: Array<{ method: string; keys: number; traceparent?: string }> = [];
  /** Runs after each status reply was sent (the reply goes out first). */
  afterReply?: (method: string) => void;
  private subs: Subscription[] = [];
  private beat?: NodeJS.Timeout;

  constructor(
    private readonly bus: NatsBus,
    private readonly s: Subjects,
    readonly name: string,
    readonly roles: Role[] = ['data'],
  ) {}

  /** Serves status; `heartbeat: false` for self, which the actor watches without heartbeats. */
  start(opts: { heartbeat?: boolean } = {}): this {
    this.subs.push(this.bus.subscribe(this.s.node.statusAll(this.name), (m) => this.onStatus(m)));
    if (opts.heartbeat !== false) {
      this.subs.push(this.bus.subscribe(this.s.members.discover, () => this.heartbeat()));
      this.heartbeat();
      this.beat = setInterval(() => this.heartbeat(), 100);
    }
    return this;
  }

  heartbeat(state: Heartbeat['state'] = 'active'): void {
    const hb: Heartbeat = {
      name: this.name,
      roles: this.roles,
      state,
      schema_cache: true,
      pid: process.pid,
      started_at: 0,
    };
    this.bus.publish(this.s.members.heartbeat, encode(hb));
  }

  stopHeartbeats(): void {
    clearInterval(this.beat);
    this.beat = undefined;
    for (const s of this.subs.splice(1)) s.unsubscribe(); // Also stop answering discovers.
  }

  /** Applies up to `revision` and announces it, as a schema watcher does. */
  advance(revision: number): void {
    this.revision = revision;
    this.bus.publish(this.s.events.schema, encode({ node: this.name, revision }));
  }

  /** Leaves gracefully so the next test's actor never sees this member. */
  stop(): void {
    const wasBeating = this.beat !== undefined;
    this.stopHeartbeats();
    if (wasBeating) this.heartbeat('leaving');
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }

  private onStatus(m: BusMessage): void {
    const method = lastToken(m.subject);
    const body = decode(m.data) as { keys?: SchemaKey[] } | undefined;
    const keys = body?.keys ?? [];
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    this.requests.push({ method, keys: keys.length, traceparent: m.headers['traceparent'] });
    const state = (k: SchemaKey) => this.keys.get(formatKey(k)) ?? { present: false, mod_revision: 0 };
    let reply: unknown;
    if (this.unimplemented) {
      const err = errors.unimplemented(`unknown status method ${method}`);
      m.respond(encode(err.toBody()), { [STATUS_HEADER]: err.code });
    } else {
      if (method === 'max_revision') reply = { node: this.name, revision: this.revision };
      else if (method === 'key_revisions') reply = { node: this.name, revision: this.revision, keys: keys.map(state) };
      else
        reply = {
          node: this.name,
          revision: this.revision,
          absent: keys.filter((k) => !state(k).present),
          still_present: keys.filter((k) => state(k).present),
        };
      m.respond(encode(reply));
    }
    this.afterReply?.(method);
  }
}

const noopSupervisor = { deliverSchema: async () => ({}), fatal: () => undefined };

describe('barrier members (nats)', function () {
  let server: NatsServer;
  let actorBus: NatsBus;
  let fakeBus: NatsBus;
  let client: NatsBus;
  let actor: BarrierActor | undefined;
  let registry: Registry;
  const fakes: FakeMember[] = [];
  const s = subjectsFor(PREFIX);

  before(async () => {
    server = await startNatsServer();
    actorBus = await NatsBus.connect({ url: server.url, name: 'barrier-actor' });
    fakeBus = await NatsBus.connect({ url: server.url, name: 'fake-members' });
    client = await NatsBus.connect({ url: server.url, name: 'client' });
  });

  after(async () => {
    await Promise.all([actorBus?.close(), fakeBus?.close(), client?.close()]);
    await server?.stop();
  });

  afterEach(async () => {
    await actor?.stop();
    actor = undefined;
    for (const f of fakes.splice(0)) f.stop();
    await fakeBus.flush();
  });

  function fake(name: string, roles: Role[] = ['data'], opts: { heartbeat?: boolean } = {}): FakeMember {
    const f = new FakeMember(fakeBus, s, name, roles).start(opts);
    fakes.push(f);
    return f;
  }

  /** Starts a fresh actor (and registry) and waits until it sees exactly `names` as members. */
  async function startActor(names: string[], fallbackPollMs = 200): Promise<void> {
    await fakeBus.flush();
    const config = resolveNodeConfig({
      name: SELF,
      roles: ['liaison'],
      natsUrl: server.url,
      subjectPrefix: PREFIX,
      heartbeatIntervalMs: 100,
      evictableAfterMs: 400,
      goneAfterMs: 2000,
      barrierFallbackPollMs: fallbackPollMs,
      threads: false,
    });
    registry = new Registry();
    const ctx: ActorContext = {
      id: 'barrier',
      kind: 'barrier',
      config,
      bus: actorBus,
      subjects: s,
      clock: systemClock,
      log: pino({ level: 'silent' }),
      metrics: registry,
      supervisor: noopSupervisor,
      faults: { check: () => 0 },
    };
    actor = new BarrierActor();
    await actor.start(ctx);
    assert.equal(actor.state, 'running');
    const want = [...names, SELF].sort().join(',');
    await waitFor(
      async () => {
        const r = await call<MembersReply>(client, s.api.members, {}, { timeoutMs: 1000 });
        return (
          r.members
            .filter((m) => m.state === 'active')
            .map((m) => m.name)
            .join(',') === want
        );
      },
      { timeoutMs: 5000, what: `members ${want}` },
    );
  }

  const barrier = (c: string, body: unknown, timeoutMs = 10_000) =>
    call<BarrierReply>(client, s.api.barrier(c), body, { timeoutMs });
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `measure:g1/m${i}`);

  it('barrier - revision converges on the advance event, long before the fallback poll', async () => {
    const self = fake(SELF, ['liaison'], { heartbeat: false });
    self.revision = 5;
    const d1 = fake('d1');
    d1.revision = 3;
    d1.afterReply = () => {
      d1.afterReply = undefined;
      d1.advance(5);
    };
    await startActor(['d1'], 5000);
    const t0 = performance.now();
    const reply = await barrier('revision', { min_revision: 5, timeout_ms: 3000 });
    const tookMs = performance.now() - t0;
    assert.deepEqual(reply, { applied: true, laggards: [] });
    assert.ok(tookMs < 1000, `took ${tookMs} ms: the advance event, not the 5 s poll, converged it`);
    assert.equal(d1.calls.max_revision, 1, 'the advance event itself carries the revision');
    assert.equal(self.calls.max_revision, 1, 'a converged member is not probed again');
  });

  it('barrier - revision timeout reports laggards with current_revision', async () => {
    fake(SELF, ['liaison'], { heartbeat: false }).revision = 9;
    fake('d1').revision = 4;
    await startActor(['d1']);
    const reply = await barrier('revision', { min_revision: 9, timeout_ms: 300 });
    assert.deepEqual(reply, { applied: false, laggards: [{ node: 'data-d1', current_revision: 4 }] });
  });

  it('barrier - applied and deleted report exactly the affected keys', async () => {
    const self = fake(SELF, ['liaison'], { heartbeat: false });
    const d1 = fake('d1');
    for (const k of ['measure:g1/a', 'measure:g1/b', 'measure:g1/c'])
      self.keys.set(k, { present: true, mod_revision: 20 });
    d1.keys.set('measure:g1/a', { present: true, mod_revision: 10 });
    d1.keys.set('measure:g1/b', { present: true, mod_revision: 12 });
    await startActor(['d1']);
    const applied = await barrier('applied', {
      keys: ['measure:g1/a', { kind: 'measure', group: 'g1', name: 'b' }, 'measure:g1/c'],
      min_revisions: [0, 13],
      timeout_ms: 300,
    });
    assert.deepEqual(applied, {
      applied: false,
      laggards: [{ node: 'data-d1', missing_keys: ['measure:g1/b', 'measure:g1/c'] }],
    });
    self.keys.clear();
    const deleted = await barrier('deleted', { keys: ['measure:g1/a', 'measure:g1/c'], timeout_ms: 300 });
    assert.deepEqual(deleted, {
      applied: false,
      laggards: [{ node: 'data-d1', still_present_keys: ['measure:g1/a'] }],
    });
    d1.keys.clear();
    assert.deepEqual(await barrier('deleted', { keys: ['measure:g1/a'], timeout_ms: 300 }), {
      applied: true,
      laggards: [],
    });
  });

  it('barrier - a member answering Unimplemented is ready', async () => {
    const self = fake(SELF, ['liaison'], { heartbeat: false });
    self.revision = 2;
    self.keys.set('group:g1', { present: true, mod_revision: 2 });
    const old = fake('old');
    old.unimplemented = true;
    await startActor(['old']);
    assert.deepEqual(await barrier('revision', { min_revision: 2, timeout_ms: 2000 }), { applied: true, laggards: [] });
    assert.deepEqual(await barrier('applied', { keys: ['group:g1'], timeout_ms: 2000 }), {
      applied: true,
      laggards: [],
    });
    assert.deepEqual(await barrier('deleted', { keys: ['group:g2'], timeout_ms: 2000 }), {
      applied: true,
      laggards: [],
    });
    assert.deepEqual(old.calls, { max_revision: 1, key_revisions: 1, absent_keys: 1 });
  });

  it('barrier - key lists reach a member in chunks of at most 1000 (1, 1, 2, 2 calls)', async () => {
    const self = fake(SELF, ['liaison'], { heartbeat: false });
    const d1 = fake('d1');
    for (const k of keys(2000)) {
      self.keys.set(k, { present: true, mod_revision: 1 });
      d1.keys.set(k, { present: true, mod_revision: 1 });
    }
    await startActor(['d1']);
    for (const [n, expected] of [
      [999, 1],
      [1000, 1],
      [1001, 2],
      [2000, 2],
    ] as const) {
      const before = d1.calls.key_revisions ?? 0;
      assert.deepEqual(await barrier('applied', { keys: keys(n), timeout_ms: 5000 }), { applied: true, laggards: [] });
      assert.equal((d1.calls.key_revisions ?? 0) - before, expected, `${n} keys`);
    }
    assert.ok(d1.requests.every((r) => r.keys <= 1000));
  });

  it('barrier - 10 001 keys get Lockstep-Status InvalidArgument and probe nothing', async () => {
    const self = fake(SELF, ['liaison'], { heartbeat: false });
    const d1 = fake('d1');
    await startActor(['d1']);
    const reply = await client.request(s.api.barrier('applied'), encode({ keys: keys(10_001) }), { timeoutMs: 5000 });
    assert.equal(reply.headers[STATUS_HEADER], Code.InvalidArgument);
    assert.equal((decode(reply.data) as { code: string }).code, Code.InvalidArgument);
    await assert.rejects(
      barrier('applied', { keys: ['measure:g1'] }),
      (e) => e instanceof LockstepError && e.code === Code.InvalidArgument,
    );
    assert.equal(self.requests.length + d1.requests.length, 0);
  });

  it('barrier - a member that stops heartbeating mid-call is reported once as evicted', async () => {
    fake(SELF, ['liaison'], { heartbeat: false }).revision = 5;
    fake('d1').revision = 5;
    const d2 = fake('d2', ['claimer']);
    d2.revision = 1;
    d2.afterReply = () => {
      d2.afterReply = undefined;
      d2.stopHeartbeats();
    };
    await startActor(['d1', 'd2']);
    const t0 = performance.now();
    const reply = await barrier('revision', { min_revision: 5, timeout_ms: 5000 });
    assert.deepEqual(reply, { applied: true, laggards: [{ node: 'claimer-d2', reason: EVICTED_REASON }] });
    assert.ok(performance.now() - t0 < 4000, 'dropping the evicted member let the call end before its timeout');
    const text = await registry.metrics();
    assert.match(text, /schema_barrier_laggard_nodes_total\{barrier="revision",role="claimer",name="d2"\} 1/);
  });

  it('barrier - metrics record every result, including invalid arguments', async () => {
    fake(SELF, ['liaison'], { heartbeat: false }).revision = 3;
    fake('d1').revision = 1;
    await startActor(['d1']);
    await barrier('revision', { min_revision: 1, timeout_ms: 1000 });
    await barrier('revision', { min_revision: 3, timeout_ms: 200 });
    await assert.rejects(barrier('applied', { keys: [], min_revisions: [1] }));
    await barrier('deleted', { keys: ['stream:g1/s'], timeout_ms: 1000 });
    const text = await registry.metrics();
    for (const name of [
      'schema_await_revision_applied_duration_seconds',
      'schema_await_schema_applied_duration_seconds',
      'schema_await_schema_deleted_duration_seconds',
      'schema_barrier_laggard_nodes_total',
    ]) {
      assert.match(text, new RegExp(`# TYPE ${name} `));
    }
    assert.match(text, /schema_await_revision_applied_duration_seconds_count\{result="applied"\} 1/);
    assert.match(text, /schema_await_revision_applied_duration_seconds_count\{result="timeout"\} 1/);
    assert.match(text, /schema_await_schema_applied_duration_seconds_count\{result="invalid_argument"\} 1/);
    assert.match(text, /schema_await_schema_deleted_duration_seconds_count\{result="applied"\} 1/);
    assert.match(text, /schema_barrier_laggard_nodes_total\{barrier="revision",role="data",name="d1"\} 1/);
  });

  it('barrier - members lists self and every heartbeating node; a leaving node is removed', async () => {
    fake(SELF, ['liaison'], { heartbeat: false });
    const d1 = fake('d1', ['standalone']);
    fake('d2');
    await startActor(['d1', 'd2']);
    const r = await call<MembersReply>(client, s.api.members, {}, { timeoutMs: 1000 });
    assert.deepEqual(
      r.members.map((m) => [m.name, m.label, m.state]),
      [
        ['d1', 'standalone-d1', 'active'],
        ['d2', 'data-d2', 'active'],
        [SELF, 'liaison-l1', 'active'],
      ],
    );
    d1.stop();
    await waitFor(
      async () =>
        !(await call<MembersReply>(client, s.api.members, {}, { timeoutMs: 1000 })).members.some(
          (m) => m.name === 'd1',
        ),
      {
        what: 'd1 removed after its leaving heartbeat',
      },
    );
  });

  it('barrier - every probe carries the trace context of the barrier span', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const ownTracer = trace.setGlobalTracerProvider(provider);
    const ownPropagator = propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      const self = fake(SELF, ['liaison'], { heartbeat: false });
      const d1 = fake('d1');
      d1.revision = 1;
      d1.afterReply = () => {
        d1.afterReply = undefined;
        d1.keys.set('group:g1', { present: true, mod_revision: 2 });
        d1.advance(2); // The re-probe starts from an event callback, not from the request.
      };
      self.revision = 2;
      self.keys.set('group:g1', { present: true, mod_revision: 2 });
      await startActor(['d1'], 5000);
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const clientSpanId = 'b7ad6b7169203331';
      const reply = await client.request(s.api.barrier('applied'), encode({ keys: ['group:g1'], timeout_ms: 3000 }), {
        timeoutMs: 5000,
        headers: { traceparent: `00-${traceId}-${clientSpanId}-01` },
      });
      assert.deepEqual(decode(reply.data), { applied: true, laggards: [] });
      const probes = [...self.requests, ...d1.requests];
      assert.equal(probes.length, 3);
      const parents = new Set(probes.map((p) => p.traceparent?.split('-')[2]));
      for (const p of probes) assert.equal(p.traceparent?.split('-')[1], traceId, 'same trace as the client request');
      assert.equal(parents.size, 1, 'every probe has the same parent span');
      assert.ok(!parents.has(clientSpanId), 'the parent is the barrier span, not the client span');
      if (ownTracer) {
        const span = exporter.getFinishedSpans().find((x) => x.name === 'barrier.applied');
        assert.ok(span, 'the barrier span was recorded');
        assert.ok(parents.has(span.spanContext().spanId));
      }
    } finally {
      if (ownTracer) trace.disable();
      if (ownPropagator) propagation.disable();
    }
  });
});
