/**
 * The claimer role's actor (DESIGN §9): runs one ClaimerEngine over the migrations bucket, woken
 * by `P.events.migration_wake`, and publishes every step on `P.events.migration.<id>`. Drives:
 * a layout rewrite copies through LayoutDrive (register `next`, backfill, swap); every cutover then
 * writes the planned resources through the public schema API with the revisions they were planned
 * against, and waits until the barrier certifies every key on every node. A measure rewrite
 * (entity, a field's type) is a layout rewrite whose new generation holds the new shape; a tag's
 * type change is refused by the API. Each phase is one trace span and feeds the migration metrics
 * (migration_metrics.ts).
 */
import { randomBytes } from 'node:crypto';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { MigrationStore, opKey } from '../../runtime/migration/store.js';
import { migrationStatus } from '../../runtime/migration/status.js';
import { keyOfResource, SchemaCache } from '../../runtime/schema_cache.js';
import type { Subscription } from '../../transport/bus.js';
import { LockstepClient } from '../../transport/client.js';
import { encode } from '../../transport/codec.js';
import type { MigrationEvent, MigrationStatus, OperationRecord } from '../../transport/migration_types.js';
import { formatKey, type SchemaKey } from '../../transport/schema_types.js';
import { ClaimerEngine, type DriveHooks, type EngineEvent } from './engine.js';
import { LayoutDrive } from './layout_drive.js';
import { LayoutJanitor } from './layout_janitor.js';
import { MigrationMetrics } from './migration_metrics.js';
import { every } from '../../runtime/periodic.js';
import type { TimerHandle } from '../../runtime/clock.js';

/** Heartbeats per lease timeout: a holder misses five before its lease may be taken over. */
const HEARTBEATS_PER_LEASE = 6;
/** The tick period without wake events. */
const TICK_MS = 2_000;
/** How long a deferred operation waits for its `cutover` before it is stopped. */
const DEFER_TIMEOUT_MS = 24 * 3_600_000;
/** Between passes of the layout janitor. */
const JANITOR_MS = 2_000;
/** One barrier call's wait; the cutover keeps calling until every node applied (or its lease is lost). */
const BARRIER_CALL_MS = 10_000;

const tracer = trace.getTracer('lockstep.migration');

/**
 * Runs one phase of a drive as its own trace span (`migration.copy`, `migration.cutover`): the
 * backfill requests, schema writes and barrier calls it makes carry the span's context, so the
 * data nodes' backfill spans and the barrier's spans are its children.
 */
function phaseSpan<T>(phase: 'copy' | 'cutover', op: OperationRecord, fn: () => Promise<T>): Promise<T> {
  const attributes = {
    'lockstep.migration.id': op.migration_id,
    'lockstep.migration.target': op.target,
    'lockstep.migration.index': op.index,
    'lockstep.migration.kind': op.kind,
  };
  // A root span: a drive is not part of whatever tick claimed it.
  return tracer.startActiveSpan(`migration.${phase}`, { attributes, root: true }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * What an operation's stored change means to a watcher, given the state this claimer last showed
 * for it: a cutover is announced once, when it begins (a claim that starts it, or the write that
 * moves the operation into it); the writes during it are progress.
 */
export function eventKind(
  op: OperationRecord,
  change: 'claimed' | 'wrote',
  shownState: string | undefined,
): MigrationEvent['kind'] {
  if (change === 'claimed') {
    const starts = op.state === 'cutting_over' && op.cutover_started_at === op.lease?.heartbeat_at;
    return starts ? 'cutover_started' : 'claimed';
  }
  if (op.state === 'completed') return 'completed';
  if (op.state === 'failed' || op.state === 'failed_retryable') return 'failed';
  if (op.state === 'cutting_over') return shownState === 'cutting_over' ? 'progress' : 'cutover_started';
  if (op.state === 'waiting_for_cutover' && op.lease === null) return 'parked';
  return 'progress';
}

/** The cutover claimer. */
export class CutoverClaimer implements Actor {
  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule', 'layout']);
  private engine?: ClaimerEngine;
  private wakeSub?: Subscription;
  private janitor?: TimerHandle;

  async start(ctx: ActorContext): Promise<void> {
    const store = await MigrationStore.open(ctx.bus, ctx.subjects.opsBucket, ctx.config.name);
    const client = LockstepClient.onBus(ctx.bus, { prefix: ctx.subjects.prefix, timeoutMs: BARRIER_CALL_MS });
    const layouts = new LayoutDrive({ bus: ctx.bus, subjects: ctx.subjects, client, log: ctx.log });
    const metrics = new MigrationMetrics(ctx.metrics);
    const copy: DriveHooks['copy'] = async (op, progress, signal) => {
      if (op.layout) {
        let last = op.rows_copied;
        return layouts.copy(
          op,
          async (copied, total, position) => {
            metrics.copied(op.target, copied - last);
            last = copied;
            await progress(copied, total, position);
          },
          signal,
        );
      }
    };
    const cutover: DriveHooks['cutover'] = async (op, signal, record) => {
      if (op.layout) await layouts.cutover(op, signal, record);
      const keys: SchemaKey[] = [];
      const revisions: number[] = [];
      for (const r of op.resources) {
        const key = keyOfResource(r);
        const name = formatKey(key);
        const cur = await client.get(r.kind, { group: key.group, ...(key.name ? { name: key.name } : {}) });
        let revision: number;
        if (cur.mod_revision === r.mod_revision) {
          revision = (await client.update(r.kind, r.resource, { expectedRevision: r.mod_revision })).revision;
          await record({ [name]: revision });
        } else if (op.applied[name] === cur.mod_revision) {
          revision = cur.mod_revision; // this operation wrote it before a crash or retry
        } else {
          throw new Error(
            `${name} changed since the migration planned it (revision ${r.mod_revision}, now ${cur.mod_revision}); ` +
              'cancel this migration and start it again',
          );
        }
        keys.push(key);
        revisions.push(revision);
      }
      // Certified only once every watched node applied every key: the next target waits for it.
      while (keys.length > 0) {
        signal.throwIfAborted();
        const b = await client.awaitApplied(keys, { minRevisions: revisions, timeoutMs: BARRIER_CALL_MS });
        if (b.applied) break;
        ctx.log.warn({ target: op.target, laggards: b.laggards }, 'cutover waits for the barrier');
      }
      // The registry now holds the reshaped measures: the current generation stops holding its own.
      if (op.layout?.next.measures) await layouts.settle(op, signal, record);
    };
    const hooks: DriveHooks = {
      copy: (op, progress, signal) => phaseSpan('copy', op, () => copy(op, progress, signal)),
      cutover: (op, signal, record) =>
        phaseSpan('cutover', op, async () => {
          const started = ctx.clock.monotonic();
          await cutover(op, signal, record);
          metrics.cutover((ctx.clock.monotonic() - started) / 1000);
        }),
    };
    // What was last published per operation: a heartbeat alone changes nothing a watcher shows.
    const shown = new Map<string, string>();
    const send = (id: string, kind: MigrationEvent['kind'], target: string | undefined, status: MigrationStatus) => {
      const event: MigrationEvent = { id, at: ctx.clock.now(), kind, status, ...(target ? { target } : {}) };
      ctx.bus.publish(ctx.subjects.events.migration(id), encode(event));
    };
    const publish = async (e: EngineEvent) => {
      if (e.kind === 'changed') {
        for (const op of e.ops) shown.delete(opKey(op.migration_id, op.index));
        send(e.migration.id, 'state', undefined, migrationStatus(e.migration, e.ops));
        return;
      }
      if (e.kind !== 'claimed' && e.kind !== 'wrote') return;
      const op = e.op;
      const key = opKey(op.migration_id, op.index);
      const seen = `${op.state}/${op.lease?.token ?? ''}/${op.rows_copied}/${Object.keys(op.applied).length}`;
      const before = shown.get(key);
      if (before === seen) return;
      shown.set(key, seen);
      const kind = eventKind(op, e.kind, before?.split('/')[0]);
      const v = await store.view(op.migration_id);
      if (v) send(op.migration_id, kind, op.target, migrationStatus(v.migration, v.ops));
    };
    this.engine = new ClaimerEngine({
      store,
      clock: ctx.clock,
      owner: ctx.config.name,
      hooks,
      newToken: () => `${ctx.config.name}-${randomBytes(8).toString('hex')}`,
      leaseTimeoutMs: ctx.config.leaseTimeoutMs,
      heartbeatMs: Math.floor(ctx.config.leaseTimeoutMs / HEARTBEATS_PER_LEASE),
      tickMs: TICK_MS,
      deferTimeoutMs: DEFER_TIMEOUT_MS,
      wakeOthers: () => ctx.bus.publish(ctx.subjects.events.migrationWake, new Uint8Array(0)),
      onEvent: (e) => {
        if (e.kind === 'viewed') return metrics.sawOperations(e.ops);
        if (e.kind === 'wrote' || e.kind === 'claimed') metrics.sawOperations([e.op]);
        if (e.kind === 'changed') metrics.sawOperations(e.ops);
        if (e.kind === 'lease_lost') {
          metrics.lostLease();
          ctx.log.warn({ key: e.key }, 'migration lease lost');
        }
        void publish(e).catch((err: unknown) => ctx.log.warn({ cause: (err as Error).message }, 'event not published'));
      },
    });
    this.wakeSub = ctx.bus.subscribe(ctx.subjects.events.migrationWake, () => this.engine?.wake());
    this.engine.start();
    const janitor = new LayoutJanitor(this.schema, store, layouts, ctx.clock, ctx.config.retiringGraceMs, ctx.log);
    this.janitor = every(ctx.clock, JANITOR_MS, () => janitor.pass(), {
      onError: (err) =>
        ctx.log.debug({ cause: (err as Error).message }, 'layout clean-up pass failed; next pass retries'),
    });
  }

  async stop(): Promise<void> {
    this.janitor?.cancel();
    this.wakeSub?.unsubscribe();
    await this.engine?.stop();
  }

  health(): Record<string, unknown> {
    return {
      schema_revision: this.schema.appliedRevision,
      resources: this.schema.size,
      drives: this.engine ? [...this.engine.drives.keys()] : [],
    };
  }
}
