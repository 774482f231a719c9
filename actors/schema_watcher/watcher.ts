/**
 * The schema watcher (DESIGN §4): loads the registry, hands it to every local actor, then delivers
 * each change in revision order. The node's applied revision advances to R only when every local
 * actor acknowledged every event ≤ R; a transient failure is retried without advancing, a permanent
 * one ends the node.
 */
import type { Subscription } from '../../transport/bus.js';
import { encode } from '../../transport/codec.js';
import { errors } from '../../transport/errors.js';
import type { SchemaAppliedEvent } from '../../transport/status_types.js';
import { SCHEMA_BUCKET } from '../../transport/subjects.js';
import type { Actor, ActorContext, DeliveryOutcome, SchemaEvent } from '../../runtime/actor.js';
import { backoffMs } from '../../runtime/clock.js';
import { isPermanent, PermanentError, toFailureInfo, type FailureInfo } from '../../runtime/errors.js';
import { Mailbox } from '../../runtime/mailbox.js';
import { KeyState } from './key_state.js';
import { decodeEntry, openRegistryStream, type RegistryChange, type RegistryStream } from './registry_reader.js';
import { serveNodeStatus } from './status_service.js';

const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 2000;

/** The schema watcher actor. */
export class SchemaWatcher implements Actor {
  private ctx!: ActorContext;
  private keys = new KeyState();
  private applied = 0;
  private paused = false;
  private resume?: { promise: Promise<void>; resolve: () => void };
  private readonly mailbox = new Mailbox();
  private stream?: RegistryStream;
  private status?: Subscription;
  private loop?: Promise<void>;
  private readonly abort = new AbortController();
  /** Actors whose last delivery failed transiently (shown in health). */
  private lagging: Record<string, string> = {};

  async start(ctx: ActorContext): Promise<void> {
    this.ctx = ctx;
    await this.init();
    this.status = serveNodeStatus(ctx.bus, ctx.subjects, {
      node: ctx.config.name,
      appliedRevision: () => this.applied,
      keyState: this.keys,
    });
    await ctx.bus.flush();
    this.publishApplied();
    this.loop = this.run().catch((err) => {
      if (this.abort.signal.aborted) return;
      ctx.supervisor.fatal(
        toFailureInfo(isPermanent(err) ? err : new PermanentError(`schema watch failed: ${(err as Error).message}`)),
      );
    });
  }

  /** Init with bounded retry of transient failures; a permanent one fails at once. */
  private async init(): Promise<void> {
    const { clock, config, log } = this.ctx;
    const deadline = clock.monotonic() + config.schemaInitDeadlineMs;
    for (let attempt = 0; ; attempt++) {
      let stream: RegistryStream | undefined;
      try {
        const bucket = await this.ctx.bus.kv(SCHEMA_BUCKET, { history: 1 });
        stream = await openRegistryStream(bucket, Math.max(1, deadline - clock.monotonic()));
        // Recorded into a fresh state, kept only once every actor took the snapshot.
        const keys = new KeyState();
        for (const c of stream.initial) if (c.key && c.kind) keys.apply(c.kvKey, c.kind, c.revision, c.resource);
        const snapshot = { revision: stream.initRevision, resources: keys.snapshot() };
        this.raise(await this.ctx.supervisor.deliverSchema({ type: 'init', snapshot }));
        this.keys = keys;
        this.stream = stream;
        this.applied = stream.initRevision;
        log.info({ revision: this.applied, resources: snapshot.resources.length }, 'schema init done');
        return;
      } catch (err) {
        stream?.watch.stop();
        if (isPermanent(err)) throw err;
        const wait = backoffMs(attempt, RETRY_BASE_MS * 4, RETRY_MAX_MS);
        if (clock.monotonic() + wait > deadline) {
          throw new PermanentError(
            `schema init gave up after ${config.schemaInitDeadlineMs} ms (${attempt + 1} attempts): ${(err as Error).message}`,
          );
        }
        log.warn({ attempt, retry_in_ms: wait, cause: (err as Error).message }, 'schema init failed; retrying');
        await clock.sleep(wait);
      }
    }
  }

  /** Throws the worst failure of a delivery: permanent first, then transient. */
  private raise(outcome: DeliveryOutcome): void {
    const failures = Object.entries(outcome).filter((e): e is [string, FailureInfo] => e[1] !== null);
    const permanent = failures.find(([, f]) => f.permanent);
    if (permanent)
      throw new PermanentError(`actor ${permanent[0]}: ${permanent[1].message}`, { code: permanent[1].code });
    if (failures.length > 0) throw errors.unavailable(`actor ${failures[0]![0]}: ${failures[0]![1].message}`);
  }

  private record(c: RegistryChange): void {
    if (c.key && c.kind) this.keys.apply(c.kvKey, c.kind, c.revision, c.resource);
  }

  private async run(): Promise<void> {
    const stream = this.stream!;
    if (stream.carry) await this.next(stream.carry);
    for (;;) {
      const n = await stream.iterator.next();
      if (this.abort.signal.aborted) return;
      // The watch never ends by itself; if it does (bucket removed), the node must not sit on a
      // frozen revision while claiming to be current.
      if (n.done) throw new PermanentError('the schema registry watch ended unexpectedly (was the bucket deleted?)');
      await this.next(decodeEntry(n.value));
    }
  }

  private async next(change: RegistryChange): Promise<void> {
    await this.whilePaused();
    if (this.abort.signal.aborted) return;
    await this.mailbox.post(() => this.apply(change));
  }

  private async whilePaused(): Promise<void> {
    while (this.paused && !this.abort.signal.aborted) await this.resume!.promise;
  }

  /** Delivers one change to every local actor until all acknowledged, then advances. */
  private async apply(change: RegistryChange): Promise<void> {
    // Out-of-order guard: never apply an event older than what the key already holds.
    const stale = change.key !== null && this.keys.revisionOf(change.kvKey) >= change.revision;
    if (change.key && !stale) {
      const event: SchemaEvent = {
        type: change.resource ? 'put' : 'delete',
        key: change.key,
        revision: change.revision,
        ...(change.resource ? { resource: change.resource } : {}),
      };
      if (!(await this.deliverUntilAcknowledged(event, change))) return;
      this.record(change);
    }
    this.applied = Math.max(this.applied, change.revision);
    this.publishApplied();
  }

  /**
   * Retries a delivery until every actor acknowledged it (each actor gets it until it did, and only
   * once after), re-initialising actors that lost their view. False when stopped first.
   */
  private async deliverUntilAcknowledged(event: SchemaEvent, change: RegistryChange): Promise<boolean> {
    const acked = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      // A pause takes effect between retries too, not only between events.
      await this.whilePaused();
      if (this.abort.signal.aborted) return false;
      let outcome: DeliveryOutcome;
      try {
        this.ctx.faults.check('apply');
        outcome = await this.ctx.supervisor.deliverSchema({ type: 'event', event }, { exclude: [...acked] });
      } catch (err) {
        outcome = { [this.ctx.id]: toFailureInfo(err) };
      }
      const failed: [string, FailureInfo][] = [];
      for (const [id, f] of Object.entries(outcome)) {
        if (f === null) acked.add(id);
        else failed.push([id, f]);
      }
      const permanent = failed.find(([, f]) => f.permanent);
      if (permanent) {
        throw new PermanentError(
          `actor ${permanent[0]} cannot apply ${change.kvKey}@${change.revision}: ${permanent[1].message}`,
        );
      }
      if (failed.length === 0) {
        this.lagging = {};
        return true;
      }
      this.lagging = Object.fromEntries(failed.map(([id, f]) => [id, f.message]));
      // A restarted actor first gets the state before this event; then the event is retried.
      const needInit = failed.filter(([, f]) => f.needsInit).map(([id]) => id);
      if (needInit.length > 0) {
        const snapshot = { revision: this.applied, resources: this.keys.snapshot() };
        const res = await this.ctx.supervisor.deliverSchema({ type: 'init', snapshot }, { only: needInit });
        if (needInit.length === failed.length && Object.values(res).every((f) => f === null)) continue;
      }
      const wait = backoffMs(attempt, RETRY_BASE_MS, RETRY_MAX_MS);
      this.ctx.log.warn(
        { key: change.kvKey, revision: change.revision, failed: this.lagging, retry_in_ms: wait },
        'schema apply failed; retrying',
      );
      try {
        await this.ctx.clock.sleep(wait, this.abort.signal);
      } catch {
        return false;
      }
    }
  }

  private publishApplied(): void {
    const ev: SchemaAppliedEvent = { node: this.ctx.config.name, revision: this.applied };
    try {
      this.ctx.bus.publish(this.ctx.subjects.events.schema, encode(ev));
    } catch (err) {
      this.ctx.log.warn({ cause: (err as Error).message }, 'cannot publish schema applied event');
    }
  }

  async control(op: string, args: unknown): Promise<unknown> {
    switch (op) {
      case 'pause':
        if (!this.paused) {
          this.paused = true;
          let resolve!: () => void;
          const promise = new Promise<void>((r) => (resolve = r));
          this.resume = { promise, resolve };
        }
        return { paused: true, revision: this.applied };
      case 'resume':
        if (this.paused) {
          this.paused = false;
          this.resume?.resolve();
        }
        return { paused: false, revision: this.applied };
      case 'reinit': {
        const actors = (args as { actors?: string[] })?.actors ?? [];
        return this.mailbox.post(async () => {
          const snapshot = { revision: this.applied, resources: this.keys.snapshot() };
          this.raise(await this.ctx.supervisor.deliverSchema({ type: 'init', snapshot }, { only: actors }));
          return { revision: this.applied };
        });
      }
      case 'status':
        return this.health();
      default:
        throw errors.unimplemented(`unknown watcher control ${JSON.stringify(op)}`);
    }
  }

  health(): Record<string, unknown> {
    return { applied_revision: this.applied, paused: this.paused, keys: this.keys.presentCount, lagging: this.lagging };
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.resume?.resolve();
    this.stream?.watch.stop();
    this.status?.unsubscribe();
    await this.loop;
  }
}
