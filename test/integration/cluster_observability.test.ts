/**
 * Tracing and metrics on a real cluster: one barrier call is one trace whose liaison span is the
 * parent of every member's probe span (exported over OTLP/HTTP to a local sink), and /metrics
 * shows the barrier histograms and the laggard counter.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestCluster } from '../harness/cluster.js';
import { OtlpSink } from '../harness/otlp_sink.js';
import { waitFor } from '../harness/wait.js';
import { call } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';

const S = subjectsFor();

describe('cluster observability (1 liaison + 2 data nodes)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let sink: OtlpSink;

  before(async () => {
    sink = await OtlpSink.start();
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2, env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } });
  });
  after(async () => {
    await c?.stop();
    await sink?.close();
  });

  it('tracing - one barrier call is one trace: the liaison span parents every member probe span', async () => {
    const g = await c.createGroup('gt');
    const traceId = randomBytes(16).toString('hex');
    const parent = randomBytes(8).toString('hex');
    const reply = await call<{ applied: boolean }>(
      c.bus,
      S.api.barrier('applied'),
      { keys: ['group:gt'], min_revisions: [g.revision], timeout_ms: 5000 },
      { timeoutMs: 10_000, headers: { traceparent: `00-${traceId}-${parent}-01` } },
    );
    assert.equal(reply.applied, true);
    const { barrier, probes } = await waitFor(
      () => {
        const inTrace = sink.spans.filter((s) => s.traceId === traceId);
        const barrier = inTrace.find((s) => s.name === 'barrier.applied');
        if (!barrier) return undefined;
        const probes = inTrace.filter((s) => s.name === 'schema_status.probe' && s.parentSpanId === barrier.spanId);
        const nodes = new Set(probes.map((p) => p.attributes['lockstep.node']));
        return ['l1', 'd1', 'd2'].every((n) => nodes.has(n)) ? { barrier, probes } : undefined;
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
    assert.match(text, /schema_await_schema_applied_duration_seconds_count\{result="applied"\} 1/);
    assert.match(text, /schema_await_schema_deleted_duration_seconds_count\{result="applied"\} 1/);
    assert.match(text, /schema_barrier_laggard_nodes_total\{barrier="revision",role="data",name="d2"\} 1/);
  });
});
