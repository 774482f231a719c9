/**
 * OpenTelemetry tracing, per thread: OTel state does not cross worker threads, so every actor thread
 * starts its own `@opentelemetry/sdk-node` and shuts it down (flushing batched spans) before it ends.
 *
 * - W3C trace-context propagation is registered here, not by the SDK, so trace context flows
 *   through NATS headers even when nothing is exported or `OTEL_SDK_DISABLED=true` turns the SDK off.
 * - Spans are exported over OTLP/HTTP to `<endpoint>/v1/traces` only when the composition root
 *   passes an endpoint. Without one the SDK is not even loaded: sdk-node imports every exporter it
 *   knows, and each actor thread would pay for that at start (roughly 100–200 ms here).
 * - The SDK reads the standard variables itself (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
 *   `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*`, `OTEL_SDK_DISABLED`, `OTEL_LOG_LEVEL`); that is the
 *   library's reading of the environment, not ours. Metrics stay with prom-client and logs with
 *   pino, so the SDK's metric and log exporters are off, as are auto-instrumentations.
 */
import { packageVersion } from './package_version.js';
import { propagation } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** A started tracing setup; `shutdown()` flushes batched spans and must run before the thread ends. */
export interface Telemetry {
  /** True when an endpoint is configured and the SDK was started (OTEL_SDK_DISABLED may still keep it off). */
  enabled: boolean;
  shutdown(): Promise<void>;
}

/** Options of `startTelemetry`: the endpoint comes from the composition root (env). */
export interface TelemetryOptions {
  /** OTLP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); spans go to `<otlpEndpoint>/v1/traces`. */
  otlpEndpoint?: string;
  /** The node's name: `service.instance.id` and `lockstep.node`. */
  node: string;
  /** The actor whose thread this is: `lockstep.actor`. */
  actor?: string;
}

/**
 * Stable semantic-convention names, spelled out: imported from ESM, @opentelemetry/semantic-conventions
 * would be a second copy beside the CommonJS one the SDK loads, parsed again in every thread.
 */
const ATTR = {
  serviceName: 'service.name',
  serviceInstanceId: 'service.instance.id',
  serviceVersion: 'service.version',
} as const;

/** `service.name` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names another. */
const DEFAULT_SERVICE_NAME = 'lockstep';

/** Starts tracing for this thread. */
export async function startTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!opts.otlpEndpoint) return { enabled: false, shutdown: async () => undefined };

  const [{ NodeSDK }, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  // What a node sets is a default: the SDK merges what its detectors find over this resource, and
  // the environment detector runs last, so OTEL_RESOURCE_ATTRIBUTES overrides any of it and
  // OTEL_SERVICE_NAME overrides service.name from both (the precedence the OTel spec gives).
  const nodeResource = resources.resourceFromAttributes({
    [ATTR.serviceName]: DEFAULT_SERVICE_NAME,
    [ATTR.serviceInstanceId]: opts.node,
    [ATTR.serviceVersion]: packageVersion(),
    'lockstep.node': opts.node,
    ...(opts.actor ? { 'lockstep.actor': opts.actor } : {}),
  });
  const sdk = new NodeSDK({
    resource: resources.defaultResource().merge(nodeResource),
    // The process detector is left out on purpose: it exports the command line, and `--nats-url`
    // may carry a password. The host detector names the machine.
    resourceDetectors: [resources.hostDetector, resources.envDetector],
    // One exporter, wrapped by the SDK in a batch span processor that honours OTEL_BSP_*.
    traceExporter: new OTLPTraceExporter({ url: `${opts.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
    // Registered above, independent of the SDK (null: the SDK registers none).
    textMapPropagator: null,
    // Empty lists, not undefined: undefined makes the SDK build OTLP exporters from the environment.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return {
    enabled: true,
    async shutdown() {
      await sdk.shutdown().catch(() => undefined);
    },
  };
}
