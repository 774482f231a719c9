/** The in-process twin of the thread host, for unit tests: same runner, no thread. */
import type { ActorKind, FaultSpec, SchemaDelivery } from './actor.js';
import type { ActorHost, ExitInfo } from './actor_host.js';
import { ActorRunner } from './actor_runner.js';
import type { FailureInfo } from './errors.js';
import type { ActorHealth, Result, SupervisorApi, WorkerInit } from './thread_protocol.js';

/** Hosts one actor on the calling thread. */
export class InProcessActorHost implements ActorHost {
  readonly id: string;
  readonly kind: ActorKind;
  private readonly runner: ActorRunner;
  private exitCb?: (info: ExitInfo) => void;

  constructor(init: WorkerInit, supervisor: SupervisorApi) {
    this.id = init.id;
    this.kind = init.kind;
    // A crash here cannot kill a thread: stop the actor and report the exit as a thread would.
    this.runner = new ActorRunner(init, supervisor, {
      crash: () =>
        setImmediate(() => {
          void this.runner.stop().then(() => this.exitCb?.({ code: 1, error: `injected crash of actor ${this.id}` }));
        }),
    });
  }

  onExit(cb: (info: ExitInfo) => void): void {
    this.exitCb = cb;
  }

  start(): Promise<Result<{ threadId: number; schemaKinds: string[] }>> {
    return this.runner.start();
  }
  stop(): Promise<void> {
    return this.runner.stop();
  }
  health(): Promise<ActorHealth> {
    return this.runner.health();
  }
  deliverSchema(delivery: SchemaDelivery): Promise<FailureInfo | null> {
    return this.runner.deliverSchema(delivery);
  }
  control(op: string, args: unknown): Promise<Result<unknown>> {
    return this.runner.control(op, args);
  }
  injectFault(fault: FaultSpec | null): Promise<void> {
    return this.runner.injectFault(fault);
  }
  metrics = () => this.runner.metrics();
}
