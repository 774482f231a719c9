/** A local OTLP/HTTP trace sink: collects the spans nodes export, for assertions on traces. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One exported span, ids in hex. */
export interface SinkSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
  service: Record<string, unknown>;
}

function hex(id: unknown): string {
  if (typeof id !== 'string' || id === '') return '';
  if (/^[0-9a-f]+$/i.test(id) && (id.length === 32 || id.length === 16)) return id.toLowerCase();
  return Buffer.from(id, 'base64').toString('hex');
}

type Attr = { key: string; value: Record<string, unknown> };
function attrs(list: Attr[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list ?? []) out[a.key] = Object.values(a.value ?? {})[0];
  return out;
}

/** A running sink. */
export class OtlpSink {
  readonly spans: SinkSpan[] = [];
  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<OtlpSink> {
    let sink!: OtlpSink;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            resourceSpans?: {
              resource?: { attributes?: Attr[] };
              scopeSpans?: { spans?: Record<string, unknown>[] }[];
            }[];
          };
          for (const rs of body.resourceSpans ?? []) {
            const service = attrs(rs.resource?.attributes);
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                sink.spans.push({
                  name: String(s.name),
                  traceId: hex(s.traceId),
                  spanId: hex(s.spanId),
                  parentSpanId: hex(s.parentSpanId),
                  attributes: attrs(s.attributes as Attr[]),
                  service,
                });
              }
            }
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    sink = new OtlpSink(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return sink;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}
