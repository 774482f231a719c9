/**
 * One host interface, two hosts: worker threads for real runs (thread_host.ts) and an in-process
 * twin for unit tests (inprocess_host.ts), so actor logic never knows where it runs.
 */
import type { ActorKind, FaultSpec, SchemaDelivery } from './actor.js';
import type { FailureInfo } from './errors.js';
import type { MetricsSource } from './metrics_server.js';
import type { ActorHealth, Result } from './thread_protocol.js';

/** How an actor ended without being asked to. */
export interface ExitInfo {
  code: number;
  error?: string;
}

/** A host running one actor. */
export interface ActorHost {
  readonly id: string;
  readonly kind: ActorKind;
  start(): Promise<Result<{ threadId: number; schemaKinds: string[] }>>;
  stop(): Promise<void>;
  health(): Promise<ActorHealth>;
  deliverSchema(delivery: SchemaDelivery): Promise<FailureInfo | null>;
  control(op: string, args: unknown): Promise<Result<unknown>>;
  injectFault(fault: FaultSpec | null): Promise<void>;
  metrics: MetricsSource;
  /** Registers the callback for an unexpected end (crash). */
  onExit(cb: (info: ExitInfo) => void): void;
}
