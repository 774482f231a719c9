/**
 * The node's HTTP endpoint: `/metrics` (Prometheus) aggregates the registries of every actor thread
 * (collected over the control channel) with the supervisor's own; `/healthz` answers 200 while the
 * process runs; `/readyz` answers 200 when the node is ready (runtime/readiness.ts), else 503 with
 * the reasons, as JSON either way.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { Readiness } from './readiness.js';

/** Something that yields metric snapshots (an actor host, or the supervisor's own registry). */
export type MetricsSource = () => Promise<MetricObjectWithValues<MetricValue<string>>[]>;

/** A running metrics endpoint. */
export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Renders every source as one Prometheus text page. */
export async function renderMetrics(sources: MetricsSource[]): Promise<string> {
  const snapshots = await Promise.all(sources.map((s) => s().catch(() => [])));
  const merged: Registry = AggregatorRegistry.aggregate(snapshots);
  return merged.metrics();
}

/** Serves `/metrics`, `/healthz` and `/readyz` on host:port (0 = ephemeral). */
export async function startMetricsServer(
  host: string,
  port: number,
  sources: () => MetricsSource[],
  ready: () => Promise<Readiness> = async () => ({ ready: true, reasons: [] }),
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const json = (code: number, body: unknown) =>
      res.writeHead(code, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    if (path === '/healthz') return json(200, { alive: true });
    if (path === '/readyz') {
      ready()
        .then((r) => json(r.ready ? 200 : 503, r))
        .catch((err: Error) => json(503, { ready: false, reasons: [`readiness check failed: ${err.message}`] }));
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      return;
    }
    renderMetrics(sources())
      .then((text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text))
      .catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
