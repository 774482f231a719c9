/**
 * Tracing and metrics on a real cluster: one barrier call is one trace whose liaison span is the
 * parent of every member's probe span (exported over OTLP/HTTP to a local sink); each phase of a
 * migration is one trace parenting the data nodes' backfill spans and the barrier calls, with the
 * migration metrics on the claimer's /metrics; the spans carry
 * each node's resource as the standard OTEL_* variables shape it, and /metrics shows the barrier
 * histograms and the laggard counter. A second cluster samples nothing (`always_off`) and shows
 * that trace context still crosses it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TestCluster } from '../harness/cluster.js';
import { OtlpSink, type SinkSpan } from '../harness/otlp_sink.js';
import { exitWithin, waitFor } from '../harness/wait.js';
import { call } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';
import type { MigrationStatus } from '../../transport/migration_types.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** `applied` barrier calls made by `tracedBarrier` (the liaison's histogram counts each once). */
let appliedCalls = 0;

/** A barrier call continuing a caller's trace; `sampled` is the caller's sampling flag. */
async function tracedBarrier(c: TestCluster, revision: number, sampled: boolean) {
  appliedCalls += 1;
  const traceId = randomBytes(16).toString('hex');
  const parent = randomBytes(8).toString('hex');
  const reply = await call<{ applied: boolean }>(
    c.bus,
    S.api.barrier('applied'),
    { keys: ['group:gt'], min_revisions: [revision], timeout_ms: 5000 },
    { timeoutMs: 10_000, headers: { traceparent: `00-${traceId}-${parent}-${sampled ? '01' : '00'}` } },
  );
  return { reply, traceId, parent };
}

/** Waits until the sink holds a probe span of every one of `nodes` in the trace, and returns them by node. */
function probesOf(sink: OtlpSink, traceId: string, nodes: string[]): Promise<Map<string, SinkSpan>> {
  return waitFor(
    () => {
      const byNode = new Map<string, SinkSpan>();
      for (const s of sink.spans)
        if (s.traceId === traceId && s.name === 'schema_status.probe')
          byNode.set(String(s.attributes['lockstep.node']), s);
      return nodes.every((n) => byNode.has(n)) ? byNode : undefined;
    },
    { timeoutMs: 20_000, what: `probe spans of ${nodes.join(', ')} in the sink` },
  );
}

describe('cluster observability (1 liaison + 2 data nodes, OTEL_* set)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let sink: OtlpSink;
  let revision: number;

  before(async () => {
    sink = await OtlpSink.start();
    c = await TestCluster.start({
      liaisons: 1,
      dataNodes: 2,
      claimers: 1,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
        OTEL_SERVICE_NAME: 'lockstep-test',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
        OTEL_TRACES_SAMPLER: 'always_on',
        // Short batches so spans reach the sink quickly (the default delay is 5 s).
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    // One more data node whose OTEL_RESOURCE_ATTRIBUTES also names what the node sets itself.
    c.lc.spawnNode('d3', ['data'], [], {
      OTEL_RESOURCE_ATTRIBUTES:
        'deployment.environment=test,service.name=from-attributes,service.instance.id=data-three,service.version=9.9.9',
    });
    await c.lc.waitReady('d3');
    revision = (await c.createGroup('gt')).revision;
  });
  after(async () => {
    await c?.stop();
    await sink?.close();
  });

  it('tracing - one barrier call is one trace: the liaison span parents every member probe span', async () => {
    const { reply, traceId, parent } = await tracedBarrier(c, revision, true);
    assert.equal(reply.applied, true);
    const { barrier, probes } = await waitFor(
      () => {
        const inTrace = sink.spans.filter((s) => s.traceId === traceId);
        const barrier = inTrace.find((s) => s.name === 'barrier.applied');
        if (!barrier) return undefined;
        const probes = inTrace.filter((s) => s.name === 'schema_status.probe' && s.parentSpanId === barrier.spanId);
        const nodes = new Set(probes.map((p) => p.attributes['lockstep.node']));
        return ['l1', 'd1', 'd2', 'd3'].every((n) => nodes.has(n)) ? { barrier, probes } : undefined;
      },
      { timeoutMs: 20_000, what: 'barrier and probe spans in the sink' },
    );
    assert.equal(barrier.parentSpanId, parent, 'the barrier span continues the caller trace');
    assert.equal(barrier.service['lockstep.node'], 'l1');
    for (const p of probes)
      assert.equal(
        p.service['lockstep.node'],
        p.attributes['lockstep.node'],
        'each probe span is exported by its member',
      );
  });

  it('tracing - resource: OTEL_SERVICE_NAME, node name as service.instance.id, package version, OTEL_RESOURCE_ATTRIBUTES', async () => {
    // The caller did not sample this trace: only OTEL_TRACES_SAMPLER=always_on makes the nodes record it.
    const { reply, traceId } = await tracedBarrier(c, revision, false);
    assert.equal(reply.applied, true);
    const probes = await probesOf(sink, traceId, ['l1', 'd1', 'd2']);
    for (const [node, span] of probes) {
      if (node === 'd3') continue;
      assert.equal(span.service['service.name'], 'lockstep-test', `service.name of ${node}`);
      assert.equal(span.service['service.instance.id'], node, `service.instance.id of ${node}`);
      assert.equal(span.service['service.version'], VERSION, `service.version of ${node}`);
      assert.equal(span.service['deployment.environment'], 'test', `deployment.environment of ${node}`);
      assert.equal(span.service['lockstep.actor'], 'schema_watcher', `lockstep.actor of ${node}`);
    }
  });

  it('tracing - OTEL_RESOURCE_ATTRIBUTES overrides what a node sets, and OTEL_SERVICE_NAME overrides both', async () => {
    const { reply, traceId } = await tracedBarrier(c, revision, true);
    assert.equal(reply.applied, true);
    const d3 = (await probesOf(sink, traceId, ['d3'])).get('d3')!.service;
    assert.equal(d3['service.instance.id'], 'data-three');
    assert.equal(d3['service.version'], '9.9.9');
    assert.equal(d3['service.name'], 'lockstep-test', 'OTEL_SERVICE_NAME wins over service.name in the attributes');
    assert.equal(d3['lockstep.node'], 'd3');
  });

  it('metrics - /metrics shows the barrier histograms and the laggard counter', async () => {
    await c.control('d2', 'pause_watch');
    try {
      const m = await c.createMeasure('gt', 'lagging');
      const r = await c.barrier('revision', { min_revision: m.revision }, 300);
      assert.deepEqual(
        r.laggards.map((l) => l.node),
        ['data-d2'],
      );
    } finally {
      await c.control('d2', 'resume_watch');
    }
    await c.barrier('deleted', { keys: ['measure:gt/none'] });
    const { metrics_port } = await c.control<{ metrics_port: number }>('l1', 'actors');
    const text = await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text();
    assert.match(text, /schema_await_revision_applied_duration_seconds_count\{result="timeout"\} 1/);
    assert.ok(
      text.includes(`schema_await_schema_applied_duration_seconds_count{result="applied"} ${appliedCalls}\n`),
      `one observation per applied barrier call (${appliedCalls})`,
    );
    assert.match(text, /schema_await_schema_deleted_duration_seconds_count\{result="applied"\} 1/);
    assert.match(text, /schema_barrier_laggard_nodes_total\{barrier="revision",role="data",name="d2"\} 1/);
  });

  // After the metrics test: its barrier calls would count in the liaison's histogram.
  it("tracing - a rewrite's copy and cutover are one trace each: the claimer's span parents backfill and barrier spans", async () => {
    await c.createGroup('gm');
    await c.createMeasure('gm', 'cpu');
    const points = Array.from({ length: 50 }, (_, h) => ({ tags: { host: `h${h}` }, fields: { value: h }, ts: T0 }));
    await c.api(S.api.write('measure'), { group: 'gm', name: 'cpu', points }, 10_000);
    const { id } = await c.api<MigrationStatus>(S.api.migration('start'), {
      spec: { targets: ['gm'], change: { group: { shards: 3 } } },
    });
    const done = await waitFor(
      async () => {
        const st = await c.api<MigrationStatus>(S.api.migration('status'), { id });
        return ['completed', 'failed'].includes(st.state) && st;
      },
      { timeoutMs: 60_000, what: 'the migration to end' },
    );
    assert.equal(done.state, 'completed', JSON.stringify(done.operations[0]));
    const phase = (name: string) =>
      waitFor(
        () => {
          const span = sink.spans.find((s) => s.name === name && s.attributes['lockstep.migration.id'] === id);
          if (!span) return undefined;
          const children = sink.spans.filter((s) => s.traceId === span.traceId && s.parentSpanId === span.spanId);
          const backfills = children.filter((s) => s.name === 'shard.backfill');
          const barriers = children.filter((s) => s.name === 'barrier.applied');
          if (barriers.length === 0 || (name === 'migration.copy' && backfills.length < 2)) return undefined;
          return { span, backfills, barriers };
        },
        { timeoutMs: 20_000, what: `${name} with its children in the sink` },
      );
    const copy = await phase('migration.copy');
    assert.equal(copy.span.service['lockstep.node'], 'c1');
    assert.equal(copy.span.parentSpanId, '', 'a phase is its own trace');
    for (const b of copy.backfills)
      assert.match(String(b.service['lockstep.node']), /^d[123]$/, 'backfill spans are exported by data nodes');
    assert.equal(copy.barriers[0]!.service['lockstep.node'], 'l1');
    const cutover = await phase('migration.cutover');
    assert.notEqual(cutover.span.traceId, copy.span.traceId);
    assert.equal(cutover.span.attributes['lockstep.migration.target'], 'gm');

    const { metrics_port } = await c.control<{ metrics_port: number }>('c1', 'actors');
    const text = await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text();
    assert.match(text, /lockstep_migration_operations\{state="completed"\} 1\n/);
    assert.match(text, /lockstep_migration_operations\{state="running"\} 0\n/);
    assert.ok(
      text.includes(`lockstep_migration_copied_rows_total{group="gm"} ${done.operations[0]!.rows_copied}\n`),
      `copied rows ${done.operations[0]!.rows_copied}`,
    );
    assert.equal(done.operations[0]!.rows_copied, 50);
    assert.match(text, /lockstep_migration_cutover_duration_seconds_count 1\n/);
    assert.match(text, /lockstep_migration_lease_lost_total 0\n/);
  });

  it('metrics - a holder that finds its lease gone (stopped mid-copy) counts it in lease_lost_total', async () => {
    await c.createGroup('gs');
    await c.createMeasure('gs', 'cpu');
    for (let d = 0; d < 3; d++) {
      const ts = T0 + d * 86_400_000;
      const points = Array.from({ length: 20 }, (_, h) => ({ tags: { host: `h${h}` }, fields: { value: h }, ts }));
      await c.api(S.api.write('measure'), { group: 'gs', name: 'cpu', points }, 10_000);
    }
    // Each segment's copy takes a while, so the holder writes its progress after the stop.
    for (const n of ['d1', 'd2', 'd3']) {
      await c.injectFault(n, {
        actor: 'data_shard',
        phase: 'backfill',
        kind: 'delay',
        delay_ms: 500,
        group: 'gs',
      } as never);
    }
    const { id } = await c.api<MigrationStatus>(S.api.migration('start'), {
      spec: { targets: ['gs'], change: { group: { shards: 3 } } },
    });
    const status = () => c.api<MigrationStatus>(S.api.migration('status'), { id });
    await waitFor(async () => (await status()).state === 'running', { timeoutMs: 30_000, what: 'the copy' });
    await c.api(S.api.migration('stop'), { id });
    await waitFor(async () => (await status()).state === 'stopped', { timeoutMs: 30_000, what: 'stopped' });
    const { metrics_port } = await c.control<{ metrics_port: number }>('c1', 'actors');
    await waitFor(
      async () =>
        /lockstep_migration_lease_lost_total 1\n/.test(
          await (await fetch(`http://127.0.0.1:${metrics_port}/metrics`)).text(),
        ),
      { timeoutMs: 20_000, what: 'lease_lost_total 1' },
    );
    for (const n of ['d1', 'd2', 'd3']) await c.control(n, 'clear_fault');
    await c.api(S.api.migration('cancel'), { id });
  });
});

describe('cluster observability (OTEL_TRACES_SAMPLER=always_off)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let sink: OtlpSink;

  before(async () => {
    sink = await OtlpSink.start();
    c = await TestCluster.start({
      liaisons: 1,
      dataNodes: 1,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
        OTEL_TRACES_SAMPLER: 'always_off',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    // d2 samples everything: its spans show what reached it through the unsampled liaison.
    // d3 samples everything too, but its SDK is disabled.
    c.lc.spawnNode('d2', ['data'], [], { OTEL_TRACES_SAMPLER: 'always_on' });
    c.lc.spawnNode('d3', ['data'], [], { OTEL_TRACES_SAMPLER: 'always_on', OTEL_SDK_DISABLED: 'true' });
    await Promise.all([c.lc.waitReady('d2'), c.lc.waitReady('d3')]);
  });
  after(async () => {
    await c?.stop();
    await sink?.close();
  });

  it('tracing - always_off exports no spans, yet the barrier succeeds and trace context still propagates', async () => {
    const g = await c.createGroup('gt');
    const { reply, traceId } = await tracedBarrier(c, g.revision, true);
    assert.equal(reply.applied, true, 'the barrier call succeeds');
    const d2 = (await probesOf(sink, traceId, ['d2'])).get('d2')!;
    assert.equal(d2.service['service.name'], 'lockstep', 'the default service name');
    assert.equal(d2.service['service.instance.id'], 'd2');
    assert.notEqual(d2.parentSpanId, '', "the probe's parent is the liaison's unsampled span");

    // A stopped node has flushed every span it had: nothing is left to arrive from them.
    for (const name of ['l1', 'd1', 'd3']) c.lc.kill(name);
    for (const name of ['l1', 'd1', 'd3']) await exitWithin(c.lc.nodes.get(name)!.exited, 20_000, `node ${name}`);
    const exporters = new Set(sink.spans.map((s) => String(s.service['lockstep.node'])));
    assert.deepEqual([...exporters], ['d2'], 'only the always_on node exported spans');
  });
});
