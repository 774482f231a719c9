/**
 * The node's supervisor: starts its actors, fans schema deliveries out from the watcher to the
 * other actors, restarts a crashed actor with backoff (bounded), and ends the node on a permanent
 * failure or a crash loop.
 */
import type { ActorKind, DeliveryFilter, DeliveryOutcome, FaultSpec, SchemaDelivery } from './actor.js';
import type { ActorHost, ExitInfo } from './actor_host.js';
import { backoffMs, retryWaitMs, type Clock } from './clock.js';
import type { NodeConfig } from './config.js';
import { Code } from '../transport/errors.js';
import { PermanentError, toFailureInfo, TransientError, type FailureInfo } from './errors.js';
import { InProcessActorHost } from './inprocess_host.js';
import type { Logger } from './log.js';
import type { MetricsSource } from './metrics_server.js';
import { ThreadActorHost } from './thread_host.js';
import type { ActorHealth, SupervisorApi, WorkerInit } from './thread_protocol.js';

/** The actor that owns the node's applied schema; it starts last and re-inits restarted actors. */
export const WATCHER_ID = 'schema_watcher';

/** Supervisor options. */
export interface SupervisorOptions {
  config: NodeConfig;
  log: Logger;
  clock: Clock;
  otlpEndpoint?: string;
  /** Ends the node: called once with the cause of a permanent failure. */
  onFatal: (message: string) => void;
}

interface Slot {
  id: string;
  kind: ActorKind;
  host?: ActorHost;
  schemaKinds: string[];
  threadId: number;
  restarts: number[];
  /** Set while the actor is down between a crash and its restart. */
  restarting: boolean;
  /** Set after a restart until the watcher handed the actor a schema snapshot. */
  needsInit: boolean;
}

/** Supervises the actors of one node. */
export class Supervisor implements SupervisorApi {
  private readonly slots = new Map<string, Slot>();
  private readonly starting = new Set<Promise<boolean>>();
  /** Hosts whose start is in flight: stopAll must not leave them behind. */
  private readonly hostsStarting = new Set<ActorHost>();
  private stopped = false;
  /** Faults armed at start; counted here so `times` spans restarts of an actor. */
  private readonly startFaults: FaultSpec[];

  constructor(private readonly opts: SupervisorOptions) {
    this.startFaults = opts.config.faultInjection ? opts.config.faults.map((f) => ({ ...f })) : [];
  }

  /** Starts actors in order (the watcher must come last: its init reaches the others). */
  async startAll(kinds: ActorKind[]): Promise<void> {
    for (const kind of kinds) {
      const slot: Slot = {
        id: kind,
        kind,
        schemaKinds: [],
        threadId: -1,
        restarts: [],
        restarting: false,
        needsInit: false,
      };
      this.slots.set(slot.id, slot);
      await this.startSlot(slot);
      if (this.stopped) return;
    }
  }

  private makeHost(slot: Slot): ActorHost {
    const config = {
      ...this.opts.config,
      faults: this.startFaults.filter((f) => f.times === undefined || f.times > 0),
    };
    const init: WorkerInit = { id: slot.id, kind: slot.kind, config, otlpEndpoint: this.opts.otlpEndpoint };
    return this.opts.config.threads ? new ThreadActorHost(init, this) : new InProcessActorHost(init, this);
  }

  /** Starts one actor, retrying transient failures with backoff until the init deadline. */
  private async startSlot(slot: Slot): Promise<boolean> {
    const { config, clock, log } = this.opts;
    const deadline = clock.monotonic() + config.schemaInitDeadlineMs;
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) return false;
      const host = this.makeHost(slot);
      this.hostsStarting.add(host);
      const res = await host.start().finally(() => this.hostsStarting.delete(host));
      if (res.ok && this.stopped) {
        // stopAll ran while this actor was starting: it must not outlive the node.
        await host.stop().catch(() => undefined);
        return false;
      }
      if (res.ok) {
        slot.host = host;
        slot.schemaKinds = res.value.schemaKinds;
        slot.threadId = res.value.threadId;
        host.onExit((info) => void this.onCrash(slot, info));
        log.info({ actor: slot.id, thread_id: res.value.threadId, attempt }, 'actor started');
        return true;
      }
      await host.stop().catch(() => undefined);
      const err = res.error;
      if (err.injected) this.consumeStartFault(slot.kind, err.injected);
      if (err.permanent) {
        this.fatal(slot.id, err);
        return false;
      }
      const wait = retryWaitMs(
        attempt,
        clock.monotonic(),
        deadline,
        config.restartBackoffBaseMs,
        config.restartBackoffMaxMs,
      );
      if (wait === null) {
        this.fatal(slot.id, {
          ...err,
          permanent: true,
          message: `actor ${slot.id} failed to start after ${attempt + 1} attempts over ${config.schemaInitDeadlineMs} ms: ${err.message}`,
        });
        return false;
      }
      log.warn({ actor: slot.id, attempt, retry_in_ms: wait, cause: err.message }, 'actor start failed; retrying');
      await clock.sleep(wait);
    }
  }

  private consumeStartFault(kind: ActorKind, phase: FaultSpec['phase']): void {
    const f = this.startFaults.find(
      (x) => x.actor === kind && x.phase === phase && (x.times === undefined || x.times > 0),
    );
    if (f?.times !== undefined) f.times -= 1;
  }

  private async onCrash(slot: Slot, info: ExitInfo): Promise<void> {
    if (this.stopped) return;
    const { config, clock, log } = this.opts;
    const now = clock.monotonic();
    slot.restarts = slot.restarts.filter((t) => now - t < config.restartWindowMs);
    slot.restarts.push(now);
    slot.restarting = true;
    slot.host = undefined;
    if (slot.restarts.length > config.maxRestarts) {
      const message = `actor ${slot.id} crashed ${slot.restarts.length} times within ${config.restartWindowMs} ms (last: ${info.error ?? `exit ${info.code}`}); not restarting it again`;
      this.fatal(slot.id, toFailureInfo(new PermanentError(message, { code: Code.Internal })));
      return;
    }
    const wait = backoffMs(slot.restarts.length - 1, config.restartBackoffBaseMs, config.restartBackoffMaxMs);
    log.warn(
      { actor: slot.id, cause: info.error ?? `exit ${info.code}`, restart_in_ms: wait },
      'actor crashed; restarting',
    );
    await clock.sleep(wait);
    if (this.stopped) return;
    const start = this.startSlot(slot);
    this.starting.add(start);
    const started = await start.finally(() => this.starting.delete(start));
    if (!started) return;
    // A restarted actor lost its view of the schema. Until the watcher hands it a snapshot, every
    // event delivery reports it as not acknowledged (so the node's revision cannot pass it), and
    // the watcher re-inits it in its own serial order; the nudge below covers a quiet registry.
    slot.needsInit = slot.id !== WATCHER_ID && slot.schemaKinds.length > 0;
    slot.restarting = false;
    if (slot.needsInit) {
      const res = await this.slots.get(WATCHER_ID)?.host?.control('reinit', { actors: [slot.id] });
      if (res && !res.ok)
        log.warn(
          { actor: slot.id, cause: res.error.message },
          'schema re-init of restarted actor failed; the watcher retries with the next event',
        );
    }
  }

  /** Fans a schema delivery out to every other actor that consumes it. */
  async deliverSchema(fromId: string, delivery: SchemaDelivery, filter: DeliveryFilter = {}): Promise<DeliveryOutcome> {
    const outcome: DeliveryOutcome = {};
    const targets: Slot[] = [];
    for (const s of this.slots.values()) {
      if (s.id === fromId || (filter.only && !filter.only.includes(s.id)) || filter.exclude?.includes(s.id)) continue;
      if (s.restarting) {
        // Down between a crash and its restart: it has not acknowledged anything.
        outcome[s.id] = toFailureInfo(new TransientError(`actor ${s.id} is restarting`));
        continue;
      }
      if (!s.host || s.schemaKinds.length === 0) continue;
      if (delivery.type === 'event') {
        if (!s.schemaKinds.includes(delivery.event.key.kind)) continue;
        if (s.needsInit) {
          outcome[s.id] = {
            ...toFailureInfo(new TransientError(`actor ${s.id} awaits its schema snapshot`)),
            needsInit: true,
          };
          continue;
        }
      }
      targets.push(s);
    }
    const results = await Promise.all(targets.map((s) => s.host!.deliverSchema(delivery)));
    targets.forEach((s, i) => {
      outcome[s.id] = results[i] ?? null;
      if (delivery.type === 'init' && outcome[s.id] === null) s.needsInit = false;
    });
    return outcome;
  }

  fatal(fromId: string, failure: FailureInfo): void {
    if (this.stopped) return;
    this.opts.log.error({ actor: fromId, code: failure.code, cause: failure.message }, 'permanent failure; node exits');
    this.opts.onFatal(`actor ${fromId}: ${failure.message}`);
  }

  /** The host of an actor, if running. */
  host(id: string): ActorHost | undefined {
    return this.slots.get(id)?.host;
  }

  /** Arms a fault in every actor of its kind. */
  async injectFault(fault: FaultSpec | null): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => s.host?.injectFault(fault).catch(() => undefined)));
  }

  /** Health of every actor, with restart counts. */
  async actors(): Promise<(ActorHealth & { restarts: number; restarting: boolean })[]> {
    return Promise.all(
      [...this.slots.values()].map(async (s) => {
        const h = await s.host?.health().catch(() => undefined);
        return {
          id: s.id,
          kind: s.kind,
          lifecycle: h?.lifecycle ?? (s.restarting ? 'failed' : 'stopped'),
          threadId: h?.threadId ?? s.threadId,
          details: h?.details ?? {},
          restarts: s.restarts.length,
          restarting: s.restarting,
        };
      }),
    );
  }

  /** Metrics sources of every running actor. */
  metricsSources(): MetricsSource[] {
    return [...this.slots.values()].filter((s) => s.host).map((s) => s.host!.metrics);
  }

  /** Stops every actor, the watcher first so no delivery is in flight to a stopping actor. */
  async stopAll(): Promise<void> {
    this.stopped = true;
    // Hosts still starting are stopped too (their start then fails); a restart in progress sees
    // `stopped` and gives up; wait for both.
    await Promise.all([...this.hostsStarting].map((h) => h.stop().catch(() => undefined)));
    await Promise.all([...this.starting]);
    const order = [...this.slots.values()].reverse();
    for (const s of order) await s.host?.stop().catch(() => undefined);
  }
}
