/**
 * The actor contract. An actor processes its work one message at a time, knows nothing of the
 * thread it runs on, and talks to the world through its own bus connection.
 */
import type { Registry } from 'prom-client';
import type { Bus } from '../transport/bus.js';
import type { Subjects } from '../transport/subjects.js';
import type { Resource, SchemaKey, SchemaKind, StoredResource } from '../transport/schema_types.js';
import type { Clock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { FailureInfo } from './errors.js';
import type { Logger } from './log.js';

/** Actor kinds, each with a module under `actors/`. */
export const ACTOR_KINDS = ['schema_watcher', 'api', 'barrier', 'data_shard', 'cutover_claimer'] as const;
export type ActorKind = (typeof ACTOR_KINDS)[number];

/** The lifecycle a host reports and tests assert. */
export type Lifecycle = 'initialized' | 'running' | 'draining' | 'stopped' | 'failed';

/** One schema change, delivered in revision order. */
export interface SchemaEvent {
  type: 'put' | 'delete';
  key: SchemaKey;
  revision: number;
  /** The new resource of a `put`. */
  resource?: Resource;
}

/** The applied schema at one revision, handed to `onInit`. */
export interface SchemaSnapshot {
  revision: number;
  resources: StoredResource[];
}

/** An actor that keeps a view of the schema. Throw a PermanentError for a failure no retry fixes. */
export interface SchemaConsumer {
  readonly kinds: readonly SchemaKind[];
  onInit(snapshot: SchemaSnapshot): Promise<void>;
  onAddOrUpdate(event: SchemaEvent): Promise<void>;
  onDelete(event: SchemaEvent): Promise<void>;
}

/** A schema delivery from the watcher to the node's other actors. */
export type SchemaDelivery = { type: 'init'; snapshot: SchemaSnapshot } | { type: 'event'; event: SchemaEvent };

/** Which actors a delivery goes to: only these, or all but these. */
export interface DeliveryFilter {
  only?: string[];
  exclude?: string[];
}

/** Outcome of a delivery per actor: null when it acknowledged. */
export type DeliveryOutcome = Record<string, FailureInfo | null>;

/** What an actor may ask of its node's supervisor. */
export interface SupervisorLink {
  /**
   * Delivers to every other local actor consuming the event's kind (an init goes to every schema
   * consumer), narrowed by `filter`. Resolves with each actor's outcome.
   */
  deliverSchema(delivery: SchemaDelivery, filter?: DeliveryFilter): Promise<DeliveryOutcome>;
  /** Reports a permanent failure: the node logs it and exits non-zero. */
  fatal(failure: FailureInfo): void;
}

/** A fault injected for tests (enabled only with `--enable-fault-injection`). */
export interface FaultSpec {
  /** Actor kind the fault applies to. */
  actor: ActorKind;
  /**
   * `init` = while starting or at onInit; `apply` = while applying a schema event; `crash` = the
   * thread dies; `backfill` = a data node answering a migration's backfill request (a failed copy);
   * `wal_apply` = a data shard applying a WAL record (delay only: a shard owner that lags).
   */
  phase: 'init' | 'apply' | 'crash' | 'backfill' | 'wal_apply';
  /**
   * `delay` (backfill and wal_apply only): a segment's rows are appended `delay_ms` after they were
   * read; a WAL record is applied `delay_ms` after it arrived.
   */
  kind: 'transient' | 'permanent' | 'delay';
  /** `delay` only: how late, in ms (1–60000). */
  delay_ms?: number;
  /** How many times it fires (default: until cleared). */
  times?: number;
  /** `backfill` and `wal_apply` only: fire for this group alone. */
  group?: string;
  /** `wal_apply` only: fire for this layout generation of the group alone. */
  generation?: number;
}

/** Everything an actor gets at start. */
export interface ActorContext {
  /** Unique id of this actor in its node (its kind, today). */
  id: string;
  kind: ActorKind;
  config: NodeConfig;
  bus: Bus;
  subjects: Subjects;
  clock: Clock;
  log: Logger;
  /** The actor's own metrics registry; the node's /metrics aggregates every actor's. */
  metrics: Registry;
  supervisor: SupervisorLink;
  faults: FaultInjector;
}

/** Checks injected faults; a no-op unless fault injection is enabled. */
export interface FaultInjector {
  /** Throws the fault for `phase` when one is armed for this actor; a `delay` fault returns its ms (else 0). */
  check(phase: FaultSpec['phase'], group?: string, generation?: number): number;
}

/** An actor. */
export interface Actor {
  start(ctx: ActorContext): Promise<void>;
  stop(): Promise<void>;
  /** Present when the actor keeps a view of the schema. */
  readonly schema?: SchemaConsumer;
  /** Admin operations (pause, resume, …); unknown → throw `Unimplemented`. */
  control?(op: string, args: unknown): Promise<unknown>;
  /** Free-form health details. */
  health?(): Record<string, unknown>;
}

/** Builds an actor of a kind. */
export type ActorFactory = () => Actor;
