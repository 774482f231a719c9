/**
 * OpenTelemetry tracing, per thread (OTel state does not cross worker threads). Spans are exported
 * over OTLP HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; W3C propagation is always on so
 * trace context flows through NATS headers even when nothing is exported.
 */
import { propagation } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** A started tracing setup; `shutdown()` flushes batched spans and must run before the thread ends. */
export interface Telemetry {
  enabled: boolean;
  shutdown(): Promise<void>;
}

/** Options of `startTelemetry`: the endpoint comes from the composition root (env). */
export interface TelemetryOptions {
  otlpEndpoint?: string;
  node: string;
  actor?: string;
}

/** Starts tracing for this thread. */
export function startTelemetry(opts: TelemetryOptions): Telemetry {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!opts.otlpEndpoint) return { enabled: false, shutdown: async () => undefined };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: 'lockstep',
      'lockstep.node': opts.node,
      ...(opts.actor ? { 'lockstep.actor': opts.actor } : {}),
    }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }), {
        scheduledDelayMillis: 500,
      }),
    ],
  });
  provider.register();
  return {
    enabled: true,
    async shutdown() {
      await provider.shutdown().catch(() => undefined);
    },
  };
}
