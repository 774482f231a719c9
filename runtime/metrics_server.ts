/**
 * The node's Prometheus endpoint: one `/metrics` that aggregates the registries of every actor
 * thread (collected over the control channel) with the supervisor's own.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

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

/** Serves `/metrics` on host:port (0 = ephemeral). */
export async function startMetricsServer(
  host: string,
  port: number,
  sources: () => MetricsSource[],
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics' && !req.url?.startsWith('/metrics?')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
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
