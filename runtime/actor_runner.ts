/**
 * Runs one actor in the current thread: builds its context (its own NATS connection, logger,
 * metrics registry, fault injector), drives its lifecycle and answers the supervisor's control calls.
 * The same runner serves the worker-thread host and the in-process twin.
 */
import { threadId } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { NatsBus } from '../transport/nats_bus.js';
import type { Bus } from '../transport/bus.js';
import { errors } from '../transport/errors.js';
import { subjectsFor } from '../transport/subjects.js';
import type { Actor, ActorContext, FaultSpec, Lifecycle, SchemaDelivery } from './actor.js';
import { actorFactory } from './actor_registry.js';
import { systemClock } from './clock.js';
import { toFailureInfo, type FailureInfo } from './errors.js';
import { ActorFaults } from './fault_injector.js';
import { createLogger, type Logger } from './log.js';
import type { Telemetry } from './telemetry.js';
import { failed, ok } from './thread_envelope.js';
import type { ActorHealth, Result, RunnerApi, SupervisorApi, WorkerInit } from './thread_protocol.js';

/** Runner options beyond the init data. */
export interface RunnerOptions {
  /** Called by a `crash` fault: the host makes the actor die as a thread would. */
  crash: () => void;
  /** Tracing started for this thread (flushed at stop), if any. */
  telemetry?: Telemetry;
}

/** One actor and its context. */
export class ActorRunner implements RunnerApi {
  private lifecycle: Lifecycle = 'initialized';
  private actor?: Actor;
  private bus?: Bus;
  private readonly metricsRegistry = new Registry();
  private readonly faults: ActorFaults;
  private readonly log: Logger;

  constructor(
    private readonly init: WorkerInit,
    private readonly supervisor: SupervisorApi,
    private readonly opts: RunnerOptions,
  ) {
    this.faults = new ActorFaults(init.kind, init.config.faultInjection ? init.config.faults : [], opts.crash);
    this.log = createLogger({ node: init.config.name, actor: init.id, level: init.config.logLevel });
  }

  async start(): Promise<Result<{ threadId: number; schemaKinds: string[] }>> {
    try {
      this.faults.check('init');
      const cfg = this.init.config;
      this.bus = await NatsBus.connect({
        url: cfg.natsUrl,
        auth: cfg.natsAuth,
        streamReplicas: cfg.streamReplicas,
        name: `${cfg.name}/${this.init.id}`,
      });
      const actor = (await actorFactory(this.init.kind))();
      this.actor = actor;
      const ctx: ActorContext = {
        id: this.init.id,
        kind: this.init.kind,
        config: cfg,
        bus: this.bus,
        subjects: subjectsFor(cfg.subjectPrefix),
        clock: systemClock,
        log: this.log,
        metrics: this.metricsRegistry,
        supervisor: {
          deliverSchema: (d, filter) => this.supervisor.deliverSchema(this.init.id, d, filter),
          fatal: (f) => this.supervisor.fatal(this.init.id, f),
        },
        faults: this.faults,
      };
      await actor.start(ctx);
      this.lifecycle = 'running';
      this.faults.afterStart();
      return ok({ threadId, schemaKinds: [...(actor.schema?.kinds ?? [])] });
    } catch (err) {
      this.lifecycle = 'failed';
      await this.bus?.close().catch(() => undefined);
      this.bus = undefined;
      return failed(err);
    }
  }

  async stop(): Promise<void> {
    if (this.lifecycle === 'stopped') return;
    this.lifecycle = 'draining';
    try {
      await this.actor?.stop();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'actor stop failed');
    }
    await this.bus?.close().catch(() => undefined);
    await this.opts.telemetry?.shutdown();
    this.lifecycle = 'stopped';
  }

  async health(): Promise<ActorHealth> {
    return {
      id: this.init.id,
      kind: this.init.kind,
      lifecycle: this.lifecycle,
      threadId,
      details: this.actor?.health?.() ?? {},
    };
  }

  async deliverSchema(delivery: SchemaDelivery): Promise<FailureInfo | null> {
    const consumer = this.actor?.schema;
    if (!consumer) return null;
    try {
      if (delivery.type === 'init') {
        this.faults.check('init');
        await consumer.onInit(delivery.snapshot);
      } else {
        if (!consumer.kinds.includes(delivery.event.key.kind)) return null;
        this.faults.check('apply');
        if (delivery.event.type === 'put') await consumer.onAddOrUpdate(delivery.event);
        else await consumer.onDelete(delivery.event);
      }
      return null;
    } catch (err) {
      return toFailureInfo(err);
    }
  }

  async control(op: string, args: unknown): Promise<Result<unknown>> {
    try {
      if (!this.actor?.control) throw errors.unimplemented(`actor ${this.init.id} has no control operations`);
      return ok(await this.actor.control(op, args));
    } catch (err) {
      return failed(err);
    }
  }

  async injectFault(fault: FaultSpec | null): Promise<void> {
    this.faults.set(fault);
  }

  async metrics() {
    return this.metricsRegistry.getMetricsAsJSON();
  }
}
