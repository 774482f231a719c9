/**
 * The barrier actor (DESIGN §5) on every liaison: keeps a membership table from heartbeats, hears
 * applied-revision advances, and serves `P.api.barrier.<call>` and `P.api.cluster.members`.
 * The logic of one call lives in scatter.ts; this file only wires it to the bus.
 */
import { setMaxListeners } from 'node:events';
import type { Context } from '@opentelemetry/api';
import type { Actor, ActorContext, Lifecycle } from '../../runtime/actor.js';
import { MemberTable, type Heartbeat } from '../../runtime/membership.js';
import { memberLabel } from '../../runtime/roles.js';
import type { MemberInfo, MembersReply } from '../../transport/api_types.js';
import type { BusMessage, Subscription } from '../../transport/bus.js';
import { decode } from '../../transport/codec.js';
import { errors } from '../../transport/errors.js';
import { call, serve, type RpcRequest } from '../../transport/rpc.js';
import type { SchemaAppliedEvent } from '../../transport/status_types.js';
import { isValidNodeName, LIAISON_QUEUE } from '../../transport/subjects.js';
import { BarrierMetrics, resultOfError, type BarrierResult } from './barrier_metrics.js';
import {
  BARRIER_CALLS,
  parseBarrierRequest,
  scatter,
  type BarrierCall,
  type BarrierReply,
  type ProbeFn,
  type WatchedMember,
} from './scatter.js';
import { freezeSnapshot, MemberSignalHub, type SelfMember } from './snapshot.js';

/** Extra wait after one heartbeat interval at start, so heartbeats answering our discover arrive. */
const WARMUP_EXTRA_MS_MAX = 250;

/** The scatter-gather barrier of a liaison. */
export class BarrierActor implements Actor {
  private ctx?: ActorContext;
  private table?: MemberTable;
  private hub?: MemberSignalHub;
  private metrics?: BarrierMetrics;
  private self?: SelfMember;
  private readonly feedSubs: Subscription[] = [];
  private readonly serveSubs: Subscription[] = [];
  private readonly calls = new Set<Promise<unknown>>();
  // Aborting it ends every running call with `applied: false`, and the start-up wait.
  /** Errors `handle` already recorded, so the serve-level hook does not count them twice. */
  private readonly handledInvalid = new WeakSet<object>();
  private readonly stopping = (() => {
    // Every concurrent call listens on this one signal: lift the default cap of 10 listeners.
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  })();
  private lifecycle: Lifecycle = 'initialized';

  /** The lifecycle state, for tests and health. */
  get state(): Lifecycle {
    return this.lifecycle;
  }

  async start(ctx: ActorContext): Promise<void> {
    ctx.faults.check('init');
    this.ctx = ctx;
    const { config, bus, subjects, clock } = ctx;
    this.self = { name: config.name, roles: [...config.roles] };
    this.metrics = new BarrierMetrics(ctx.metrics);
    const table = new MemberTable(clock, {
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      evictableAfterMs: config.evictableAfterMs,
      goneAfterMs: config.goneAfterMs,
    });
    this.table = table;
    this.hub = new MemberSignalHub(table, config.name);
    this.feedSubs.push(bus.subscribe(subjects.members.heartbeat, (m) => this.onHeartbeat(m)));
    this.feedSubs.push(bus.subscribe(subjects.events.schema, (m) => this.onSchemaEvent(m)));
    table.start();
    // Every node answers a discover with a heartbeat at once, so the table fills without waiting
    // for the next regular beat of each node.
    bus.publish(subjects.members.discover, new Uint8Array(0));
    await bus.flush();
    // Serving before the table is warm would freeze snapshots that miss members: wait one
    // heartbeat interval (every live node beats within it) plus a little for delivery.
    const warmupMs = config.heartbeatIntervalMs + Math.min(WARMUP_EXTRA_MS_MAX, config.heartbeatIntervalMs / 2);
    try {
      await clock.sleep(warmupMs, this.stopping.signal);
    } catch {
      return; // stop() was called during start.
    }
    for (const c of BARRIER_CALLS) {
      this.serveSubs.push(
        serve(bus, subjects.api.barrier(c), (req) => this.track(this.handle(c, req)), {
          queue: LIAISON_QUEUE,
          spanName: `barrier.${c}`,
          // A body that does not even decode never reaches `handle`: record it here.
          onError: (err) => {
            if (err.code === 'InvalidArgument' && !this.handledInvalid.delete(err)) {
              this.metrics?.record(c, 'invalid_argument', 0, []);
            }
          },
          attributes: { 'lockstep.barrier.call': c, 'lockstep.node': config.name },
        }),
      );
    }
    this.serveSubs.push(
      serve(bus, subjects.api.members, () => this.members(), { queue: LIAISON_QUEUE, spanName: 'cluster.members' }),
    );
    this.lifecycle = 'running';
    ctx.log.info({ members: table.all().length, warmup_ms: warmupMs }, 'barrier serving');
  }

  async stop(): Promise<void> {
    if (this.lifecycle === 'stopped') return;
    this.lifecycle = 'draining';
    for (const s of this.serveSubs.splice(0)) s.unsubscribe();
    this.stopping.abort(errors.unavailable('the barrier actor is stopping'));
    // Running calls answer `applied: false` promptly once aborted; let their replies go out.
    await Promise.allSettled([...this.calls]);
    for (const s of this.feedSubs.splice(0)) s.unsubscribe();
    this.table?.stop();
    this.hub?.close();
    this.lifecycle = 'stopped';
  }

  health(): Record<string, unknown> {
    return { state: this.lifecycle, members: this.table?.all().length ?? 0, calls_in_flight: this.calls.size };
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.calls.add(p);
    const forget = () => this.calls.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** One barrier call; its metrics are recorded on every path. */
  private async handle(c: BarrierCall, req: RpcRequest): Promise<BarrierReply> {
    const ctx = this.ctx!;
    const started = ctx.clock.monotonic();
    let result: BarrierResult = 'error';
    let laggardMembers: readonly WatchedMember[] = [];
    try {
      const spec = parseBarrierRequest(c, req.body);
      const deadlineMs = started + spec.timeoutMs;
      const members = freezeSnapshot(this.table!, this.self);
      const outcome = await scatter(spec, {
        members,
        probe: this.prober(req.ctx),
        clock: ctx.clock,
        deadlineMs,
        fallbackPollMs: ctx.config.barrierFallbackPollMs,
        signal: this.stopping.signal,
        signals: this.hub,
      });
      result = outcome.applied ? 'applied' : 'timeout';
      laggardMembers = outcome.laggardMembers;
      if (outcome.laggards.length > 0)
        ctx.log.debug({ call: c, applied: outcome.applied, laggards: outcome.laggards }, 'barrier laggards');
      return { applied: outcome.applied, laggards: outcome.laggards };
    } catch (err) {
      result = resultOfError(err);
      if (err && typeof err === 'object') this.handledInvalid.add(err);
      throw err;
    } finally {
      this.metrics!.record(c, result, (ctx.clock.monotonic() - started) / 1000, laggardMembers);
    }
  }

  /**
   * Probes over NATS. The call's trace context is passed explicitly: probes also start from timer
   * and event callbacks, where the active context is no longer the request's.
   */
  private prober(traceCtx: Context): ProbeFn {
    const { bus, subjects, clock } = this.ctx!;
    return (member, method, keys, deadlineMs) =>
      call(bus, subjects.node.status(member.name, method), keys === undefined ? {} : { keys }, {
        timeoutMs: Math.max(1, deadlineMs - clock.monotonic()),
        ctx: traceCtx,
      });
  }

  private members(): MembersReply {
    const self = this.self!;
    const out = new Map<string, MemberInfo>();
    out.set(self.name, {
      name: self.name,
      roles: self.roles,
      label: memberLabel(self.roles, self.name),
      state: 'active',
    });
    for (const m of this.table!.all()) {
      if (!out.has(m.name)) out.set(m.name, { name: m.name, roles: m.roles, label: m.label, state: m.state });
    }
    return { members: [...out.values()].sort((a, b) => a.name.localeCompare(b.name)) };
  }

  private onHeartbeat(msg: BusMessage): void {
    let hb: Heartbeat;
    try {
      hb = decode(msg.data) as Heartbeat;
    } catch {
      return; // A malformed heartbeat says nothing about anyone.
    }
    if (!hb || typeof hb !== 'object' || !isValidNodeName(hb.name)) return; // it becomes a subject token of the probes
    this.table?.observe(hb);
  }

  private onSchemaEvent(msg: BusMessage): void {
    let ev: SchemaAppliedEvent;
    try {
      ev = decode(msg.data) as SchemaAppliedEvent;
    } catch {
      return;
    }
    if (!ev || typeof ev.node !== 'string' || typeof ev.revision !== 'number') return;
    this.hub?.advance(ev.node, ev.revision);
  }
}
