// Stands in for Jaeger in the compose smoke (no Jaeger image or package is reachable here): an
// OTLP/HTTP trace receiver on :4318, where the nodes' OTEL_EXPORTER_OTLP_ENDPOINT points. It counts
// the spans posted to /v1/traces (OTLP JSON, what the nodes' exporter sends) by the resource's
// `lockstep.node` attribute, and answers GET /stats with {requests, spans, nodes: {name: spans}}.
import { createServer } from 'node:http';

const stats = { requests: 0, spans: 0, nodes: {} };

/** The string value of a resource attribute, or undefined. */
function attribute(resource, key) {
  const a = (resource?.attributes ?? []).find((x) => x.key === key);
  return a?.value?.stringValue;
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  if (req.method !== 'POST' || req.url !== '/v1/traces') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      stats.requests++;
      for (const rs of body.resourceSpans ?? []) {
        const node = attribute(rs.resource, 'lockstep.node') ?? '(unnamed)';
        for (const ss of rs.scopeSpans ?? []) {
          const n = (ss.spans ?? []).length;
          stats.spans += n;
          stats.nodes[node] = (stats.nodes[node] ?? 0) + n;
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } catch {
      res.writeHead(400).end();
    }
  });
});

server.listen(4318, '0.0.0.0');
// PID 1 of its container: exit at once on the signals `docker stop` sends (closing the server
// would wait for the exporters' keep-alive connections).
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
