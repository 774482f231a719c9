/**
 * Health and readiness of a node process (runtime/readiness.ts, runtime/metrics_server.ts), against
 * a real nats-server killed with SIGKILL and started again on the same port and store: `/healthz`
 * answers 200 throughout; `/readyz` answers 200 when ready, 503 naming the cause within seconds of
 * NATS going away, and 200 again once it is back; the node logs the loss and counts the reconnect.
 * And a nats-server SIGKILLed under a writer loses no acknowledged point (README: what an
 * acknowledged write survives): a write the crash interrupted is retried with its batch id.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';
import type { WriteReply } from '../../transport/api_types.js';
import { Code, codeOf } from '../../transport/errors.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';

const S = subjectsFor();

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

describe('node health and readiness (1 liaison, 1 data node; nats-server killed and restarted)', function () {
  this.timeout(90_000);
  let dir: string;
  let nats: NatsServer;
  let c: TestCluster;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-health-'));
    nats = await startNatsServer({ dir: join(dir, 'nats') });
    c = await TestCluster.start({ natsUrl: nats.url, liaisons: 1, dataNodes: 1 });
  });
  after(async () => {
    await c?.stop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('readyz - 503 naming NATS within seconds of losing it, 200 again once it is back; healthz 200 throughout', async () => {
    const node = [...c.lc.nodes.keys()].find((n) => n.startsWith('d'))!;
    const { metrics_port: port } = await c.control<{ metrics_port: number }>(node, 'actors');
    assert.ok(port > 0, 'the node serves HTTP');
    await waitFor(async () => (await get(port, '/readyz')).status === 200, { timeoutMs: 20_000, what: 'ready' });
    assert.deepEqual(JSON.parse((await get(port, '/readyz')).body), { ready: true, reasons: [] });
    assert.equal((await get(port, '/healthz')).status, 200);
    assert.equal((await get(port, '/nosuch')).status, 404);

    const natsPort = Number(new URL(nats.url).port);
    process.kill(nats.pid, 'SIGKILL');
    const lost = Date.now();
    const down = await waitFor(
      async () => {
        const r = await get(port, '/readyz');
        return r.status === 503 && r;
      },
      { timeoutMs: 10_000, what: '/readyz to fail without NATS' },
    );
    assert.ok(Date.now() - lost < 10_000);
    assert.deepEqual(JSON.parse(down.body).reasons, ['not connected to NATS']);
    assert.equal((await get(port, '/healthz')).status, 200, 'alive without NATS');
    const downMetrics = (await get(port, '/metrics')).body;
    assert.match(downMetrics, /^lockstep_nats_connected 0$/m);
    assert.match(downMetrics, /^lockstep_node_ready 0$/m);

    nats = await startNatsServer({ dir: join(dir, 'nats'), args: ['-p', String(natsPort)] });
    await waitFor(async () => (await get(port, '/readyz')).status === 200, {
      timeoutMs: 30_000,
      what: '/readyz to pass again once NATS is back',
    });
    const metrics = (await get(port, '/metrics')).body;
    assert.match(metrics, /^lockstep_nats_connected 1$/m);
    assert.match(metrics, /^lockstep_node_ready 1$/m);
    // Process metrics keep their standard names, so stock dashboards work.
    assert.match(metrics, /^process_cpu_user_seconds_total \d/m);
    assert.match(metrics, /^nodejs_heap_size_used_bytes \d/m);
    assert.match(metrics, /^lockstep_nats_reconnects_total [1-9]\d*$/m);
    // Test nodes log warnings and up: the loss is one, the return is logged at info.
    assert.match(c.log(node), /NATS connection lost; reconnecting/);
  });

  it('nats crash - SIGKILL of nats-server under a writer: after its restart every acknowledged point is there once', async () => {
    const GROUP = 'crashy';
    // Right after the restart above, JetStream may still be recovering its store: retried (bounded).
    // (A create that timed out may have been stored: AlreadyExists then means done.)
    await waitFor(
      () =>
        c.createGroup(GROUP).then(
          () => true,
          (e: Error) => codeOf(e) === Code.AlreadyExists,
        ),
      {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'the group created',
      },
    );
    await c.createMeasure(GROUP, 'cpu');
    const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
    const BATCHES = 40;
    const POINTS = 25;
    const natsPort = Number(new URL(nats.url).port);
    const tokens: WriteToken[] = [];
    let retries = 0;
    for (let b = 0; b < BATCHES; b++) {
      const points = Array.from({ length: POINTS }, (_, h) => ({
        tags: { host: `h${h}` },
        fields: { value: b },
        ts: T0 + b * 1000,
      }));
      const send = () =>
        c.api<WriteReply>(S.api.write('measure'), { group: GROUP, name: 'cpu', points, batch_id: `crash-${b}` }, 3000);
      if (b === BATCHES / 2) {
        // The server dies with this write in flight, and comes back on its port and store.
        const inFlight = send().catch(() => null);
        process.kill(nats.pid, 'SIGKILL');
        nats = await startNatsServer({ dir: join(dir, 'nats'), args: ['-p', String(natsPort)] });
        await inFlight;
      }
      // A write the crash interrupted is sent again with its batch id until acknowledged (bounded).
      const reply = await waitFor(
        async () => {
          try {
            return await send();
          } catch {
            retries++;
            return false;
          }
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `batch ${b} acknowledged` },
      );
      tokens.push(reply.write_token);
    }
    const rows = await waitFor(
      async () =>
        (
          await c.api<QueryReply<MeasureRow>>(
            S.api.query('measure'),
            {
              group: GROUP,
              name: 'cpu',
              from: T0,
              to: T0 + 3_600_000,
              limit: 10_000,
              write_token: mergeTokens(GROUP, tokens),
            },
            10_000,
          )
        ).rows,
      { timeoutMs: 30_000, what: 'a query with the merged token' },
    );
    assert.equal(rows.length, BATCHES * POINTS, `every acknowledged point once (${retries} retried sends)`);
    assert.equal(new Set(rows.map((r) => `${String(r.tags.host)}@${r.ts}`)).size, rows.length);
  });
});
