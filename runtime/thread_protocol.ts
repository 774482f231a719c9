/**
 * The control protocol between a node's supervisor (main thread) and an actor runner (worker thread
 * or in-process). Control only — start, stop, health, pause, schema delivery — carried by comlink;
 * data moves over NATS. Every result is a plain value: errors cross as FailureInfo, never thrown,
 * because a thrown error loses its code when it crosses a thread.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ActorKind, DeliveryFilter, DeliveryOutcome, FaultSpec, Lifecycle, SchemaDelivery } from './actor.js';
import type { NodeConfig } from './config.js';
import type { FailureInfo } from './errors.js';

/** A call result: the one thread envelope. */
export type { Result } from './thread_envelope.js';
import type { Result } from './thread_envelope.js';

/** Health of one actor. */
export interface ActorHealth {
  id: string;
  kind: ActorKind;
  lifecycle: Lifecycle;
  threadId: number;
  details: Record<string, unknown>;
}

/** What the supervisor can call on a runner. */
export interface RunnerApi {
  start(): Promise<Result<{ threadId: number; schemaKinds: string[] }>>;
  stop(): Promise<void>;
  health(): Promise<ActorHealth>;
  deliverSchema(delivery: SchemaDelivery): Promise<FailureInfo | null>;
  control(op: string, args: unknown): Promise<Result<unknown>>;
  injectFault(fault: FaultSpec | null): Promise<void>;
  metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[]>;
}

/** What a runner can call on the supervisor. */
export interface SupervisorApi {
  deliverSchema(fromId: string, delivery: SchemaDelivery, filter?: DeliveryFilter): Promise<DeliveryOutcome>;
  fatal(fromId: string, failure: FailureInfo): void;
}

/** Data given to a worker thread at start. */
export interface WorkerInit {
  id: string;
  kind: ActorKind;
  config: NodeConfig;
  otlpEndpoint?: string;
}
