/**
 * One host interface, two hosts: worker threads for real runs (thread_host.ts) and an in-process
 * twin for unit tests (inprocess_host.ts), so actor logic never knows where it runs.
 */
import type { ActorKind } from './actor.js';
import type { MetricsSource } from './metrics_server.js';
import type { RunnerApi } from './thread_protocol.js';

/** How an actor ended without being asked to. */
export interface ExitInfo {
  code: number;
  error?: string;
}

/** A host running one actor: the runner's calls (as the supervisor makes them), plus its identity and exit. */
export interface ActorHost extends Omit<RunnerApi, 'metrics'> {
  readonly id: string;
  readonly kind: ActorKind;
  metrics: MetricsSource;
  /** Registers the callback for an unexpected end (crash). */
  onExit(cb: (info: ExitInfo) => void): void;
}
