/**
 * The migration API of the client (DESIGN §9): plan, start and follow a migration, and record the
 * user's intents (cutover, stop, resume, cancel, release). `LockstepClient.migrations` is the one
 * instance; it lives apart from client.ts only to keep that file readable.
 */
import { headerOf, type Bus, type Subscription } from './bus.js';
import { CONTENT_TYPE_HEADER, decode, encodingOf } from './codec.js';
import { errors, toLockstepError, type LockstepError } from './errors.js';

export { checkMigrationId };
import {
  checkMigrationId,
  type MigrationEvent,
  type MigrationListReply,
  type MigrationSpec,
  type MigrationStatus,
  type PlanReply,
} from './migration_types.js';
import { call } from './rpc.js';
import { checkName } from './schema_types.js';
import type { MigrationVerb, Subjects } from './subjects.js';

/** A live subscription to one migration's events. */
export interface MigrationWatch {
  /** Stops delivery; no event reaches the handler after it returns. */
  stop(): void;
}

/** The migration calls of one client; every failure arrives as a LockstepError with the server's code. */
export class MigrationClient {
  /** Used by `LockstepClient`, which owns the bus. */
  constructor(
    private readonly bus: Bus,
    private readonly subjects: Subjects,
    private readonly timeoutMs: number,
  ) {}

  /** What `spec` would do per target (`instant` or `rewrite`, why, rows to copy); nothing is started. */
  async plan(spec: MigrationSpec): Promise<PlanReply> {
    return this.call<PlanReply>('plan', { spec: checkSpec(spec) });
  }

  /** Starts `spec`; the reply is the new migration (its `id` names it from then on). */
  async start(spec: MigrationSpec): Promise<MigrationStatus> {
    return this.call<MigrationStatus>('start', { spec: checkSpec(spec) });
  }

  /** One migration; `NotFound` when unknown. */
  async status(id: string): Promise<MigrationStatus> {
    return this.call<MigrationStatus>('status', { id: checkMigrationId(id) });
  }

  /** Every migration, newest first. */
  async list(): Promise<MigrationStatus[]> {
    return (await this.call<MigrationListReply>('list', {})).migrations;
  }

  /**
   * Asks for the cutover of a migration deferred with `defer_cutover`; with `target`, only if that
   * target is the one whose turn it is (the server refuses otherwise).
   */
  async cutover(id: string, target?: string): Promise<MigrationStatus> {
    const body: Record<string, unknown> = { id: checkMigrationId(id) };
    if (target !== undefined) body.target = checkName(target, 'target');
    return this.call<MigrationStatus>('cutover', body);
  }

  /** Stops a migration where it is; `resume` takes it up again. */
  async stop(id: string): Promise<MigrationStatus> {
    return this.intent('stop', id);
  }

  /** Resumes a stopped migration. */
  async resume(id: string): Promise<MigrationStatus> {
    return this.intent('resume', id);
  }

  /** Cancels a migration: targets not yet cut over drop their new layout. */
  async cancel(id: string): Promise<MigrationStatus> {
    return this.intent('cancel', id);
  }

  /** Under `on_failure: pause`, lets the later targets go on after a failure. */
  async release(id: string): Promise<MigrationStatus> {
    return this.intent('release', id);
  }

  /**
   * Subscribes to the events of migration `id` (progress and state changes), in the order the bus
   * delivers them. An event that cannot be decoded goes to `onError` (and is otherwise skipped):
   * one bad message must not end a watch. Subscribe before reading the status, so nothing that
   * happens in between is missed.
   */
  watch(id: string, onEvent: (ev: MigrationEvent) => void, onError?: (err: LockstepError) => void): MigrationWatch {
    const subject = this.subjects.events.migration(checkMigrationId(id));
    let sub: Subscription | undefined = this.bus.subscribe(subject, (msg) => {
      if (sub === undefined) return;
      let ev: MigrationEvent;
      try {
        ev = decode(msg.data, encodingOf(headerOf(msg.headers, CONTENT_TYPE_HEADER))) as MigrationEvent;
        if (ev === null || typeof ev !== 'object' || typeof ev.status !== 'object' || ev.status === null) {
          throw errors.invalidArgument(`migration event on ${subject} has no status`);
        }
      } catch (err) {
        onError?.(toLockstepError(err));
        return;
      }
      onEvent(ev);
    });
    return {
      stop: () => {
        sub?.unsubscribe();
        sub = undefined;
      },
    };
  }

  private async intent(verb: 'stop' | 'resume' | 'cancel' | 'release', id: string): Promise<MigrationStatus> {
    return this.call<MigrationStatus>(verb, { id: checkMigrationId(id) });
  }

  private async call<T>(verb: MigrationVerb, body: Record<string, unknown>): Promise<T> {
    return call<T>(this.bus, this.subjects.api.migration(verb), body, { timeoutMs: this.timeoutMs });
  }
}

// Only what a typed caller could still get wrong is checked here; the server validates the spec.
function checkSpec(spec: MigrationSpec): MigrationSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw errors.invalidArgument('spec must be an object', { field: 'spec' });
  }
  return spec;
}
