/**
 * Migrations (DESIGN §9) on the wire and in the `P_ops` bucket: one schema change run over an
 * ordered list of targets (groups), one operation per target. The API, the claimers and the CLI
 * compile against these definitions.
 */
import type { LayoutGeneration } from './layout_types.js';
import { errors } from './errors.js';

/** An operation's states (SchemaBot's vocabulary). */
export const OPERATION_STATES = [
  'pending',
  'running',
  'waiting_for_cutover',
  'cutting_over',
  'completed',
  'failed',
  'failed_retryable',
  'stopped',
  'cancelled',
] as const;
/** An operation's state. */
export type OperationState = (typeof OPERATION_STATES)[number];

/** A migration's states: its operations' states plus two that only a projection shows. */
export const MIGRATION_STATES = [...OPERATION_STATES, 'paused', 'running_degraded'] as const;
/** A migration's state, always the projection of its operations (runtime/migration/projection.ts). */
export type MigrationState = (typeof MIGRATION_STATES)[number];

/** A migration's states that never change again (a stopped one still resumes). */
export const MIGRATION_ENDED_STATES: readonly MigrationState[] = ['completed', 'failed', 'cancelled'];

/** True when a migration in `state` is over for good. */
export function migrationEnded(state: MigrationState): boolean {
  return MIGRATION_ENDED_STATES.includes(state);
}

/**
 * A migration id as the server makes them (`m`, the creation time in base 36, `_`, random hex): a
 * KV key segment and one subject token (`P.events.migration.<id>`).
 */
export const MIGRATION_ID_PATTERN = /^m[a-z0-9_]{1,62}$/;

/** Throws `InvalidArgument` unless `id` is a migration id (MIGRATION_ID_PATTERN). */
export function checkMigrationId(id: unknown): string {
  if (typeof id !== 'string' || !MIGRATION_ID_PATTERN.test(id)) {
    throw errors.invalidArgument(
      `migration id ${JSON.stringify(id)} is invalid: an id is m followed by 1–62 of a-z, 0-9 and _`,
      { field: 'id' },
    );
  }
  return id;
}

/** States an operation never leaves (stopped is left only by a `resume`). */
export const TERMINAL_OPERATION_STATES: readonly OperationState[] = ['completed', 'failed', 'stopped', 'cancelled'];

/** Cutover policies: when targets copy and how their cutovers are gated. */
export const POLICIES = ['rolling', 'barrier', 'parallel'] as const;
/** A cutover policy. */
export type Policy = (typeof POLICIES)[number];
/** The policy of a spec that names none. */
export const DEFAULT_POLICY: Policy = 'rolling';

/** What a failed operation does to the later targets. */
export const ON_FAILURE = ['halt', 'continue', 'pause'] as const;
/** A failure policy. */
export type OnFailure = (typeof ON_FAILURE)[number];
/** The failure policy of a spec that names none. */
export const DEFAULT_ON_FAILURE: OnFailure = 'halt';

/** `instant`: the registry update is the cutover; `rewrite`: copy into a new layout, then cut over. */
export type OperationKind = 'instant' | 'rewrite';

/** What a user asks of a migration; recorded durably, consumed by the claimers. */
export const INTENT_KINDS = ['stop', 'resume', 'cancel', 'cutover', 'release'] as const;
/** A user intent's kind. */
export type IntentKind = (typeof INTENT_KINDS)[number];

/** A lease on an operation: who drives it, with which fencing token, last heard of when. */
export interface Lease {
  owner: string;
  /** Fresh at every claim: every later write of the operation carries it and is refused once it changed. */
  token: string;
  /** Epoch ms of the holder's last heartbeat (a write of the record). */
  heartbeat_at: number;
}

/** A resource as a target's plan will write it at cutover, and the revision it was planned against. */
export interface PlannedResource {
  kind: 'group' | 'measure';
  resource: Record<string, unknown>;
  /** The resource's mod_revision when planned: the cutover refuses to overwrite a later change. */
  mod_revision: number;
}

/** One target's operation, as stored (times in epoch ms; the API shows RFC 3339). */
export interface OperationRecord {
  migration_id: string;
  /** The target's position in the migration's order, from 0. */
  index: number;
  target: string;
  kind: OperationKind;
  state: OperationState;
  /** Frozen from the migration at creation. */
  policy: Policy;
  on_failure: OnFailure;
  defer_cutover: boolean;
  rows_copied: number;
  rows_total: number;
  lease: Lease | null;
  copy_started_at: number | null;
  copy_completed_at: number | null;
  cutover_started_at: number | null;
  completed_at: number | null;
  error: string | null;
  /** Retries so far after `failed_retryable`. */
  attempts: number;
  /** When a `failed_retryable` operation may be retried (epoch ms). */
  retry_at: number | null;
  /** What the plan found changing (see PlannedTarget.reason). */
  reason: string;
  /** What the cutover writes (resources that already match the change are left out). */
  resources: PlannedResource[];
  /**
   * The revisions this operation's cutover wrote, by schema key: a retried cutover skips what it
   * already wrote and still refuses to overwrite anyone else's change.
   */
  applied: Record<string, number>;
  /**
   * A rewrite of the group's layout: the generation it builds and the layout key's revision when
   * planned (0: the group had no layout record), against which registering `next` is fenced.
   */
  layout: PlannedLayout | null;
  /** A layout copy's recorded position (absent in records written before it existed: from the start). */
  copy_position?: CopyPosition | null;
}

/**
 * Where a layout copy stands: shards before `shard` are copied, and `shard` up to and including the
 * segment starting at `after_segment` (null: none of it yet). A copy taken over after a crash, or
 * resumed after a stop, goes on from here.
 */
export interface CopyPosition {
  shard: number;
  after_segment: number | null;
}

/** The new layout generation a rewrite builds (transport/layout_types.ts). */
export interface PlannedLayout {
  next: LayoutGeneration;
  mod_revision: number;
}

/** One migration, as stored; its state is never stored, always projected from its operations. */
export interface MigrationRecord {
  id: string;
  targets: string[];
  policy: Policy;
  on_failure: OnFailure;
  defer_cutover: boolean;
  /** Epoch ms. */
  created_at: number;
  /** Under `on_failure: pause`: a `release` was consumed, later targets may go on. */
  released: boolean;
  /** The change applied to every target (the spec's `change`). */
  change: unknown;
}

/** A durable user intent (`P.api.migration.<verb>` records it; a claimer consumes it). */
export interface IntentRecord {
  migration_id: string;
  kind: IntentKind;
  /** The target a `cutover` is for. */
  target?: string;
  /** Epoch ms. */
  created_at: number;
}

/** A measure's part of a change: a new entity (re-key), fields and tags by name and type. */
export interface MeasureChange {
  entity?: string[];
  /** Field name → type (`int` | `float`): a new name adds the field, a new type changes it (rewrite). */
  fields?: Record<string, string>;
  /** Tag name → type: a new name adds the tag to the measure's first tag family. */
  tags?: Record<string, string>;
}

/** The change a migration applies to every target group. */
export interface MigrationChange {
  /** Group properties: `ttl` (instant); `shards`, `segment_interval`, `replicas`, `placement` (rewrite). */
  group?: {
    ttl?: string;
    shards?: number;
    segment_interval?: string;
    replicas?: number;
    placement?: { data_nodes: string[] };
  };
  /** Measures of every target, by name. */
  measures?: Record<string, MeasureChange>;
}

/** A migration as asked for (the CLI reads it from SPEC.yaml). */
export interface MigrationSpec {
  /** Groups in the order their cutovers run. */
  targets: string[];
  policy?: Policy;
  on_failure?: OnFailure;
  defer_cutover?: boolean;
  change: MigrationChange;
}

/** What one target's operation would do. */
export interface PlannedTarget {
  target: string;
  kind: OperationKind;
  /** Why this kind: the properties that change, e.g. "ttl 7d → 14d" or "shards 2 → 4". */
  reason: string;
  /**
   * Rows a rewrite copies, counted now (0 for instant; an upper bound: rows overwritten since their
   * parts last merged count more than once); null when a shard of the current layout has no live
   * owner or did not answer in time.
   */
  rows_total: number | null;
}

/** Reply of `P.api.migration.plan`. */
export interface PlanReply {
  policy: Policy;
  on_failure: OnFailure;
  defer_cutover: boolean;
  targets: PlannedTarget[];
}

/** One operation as the API shows it (times RFC 3339, null until they happen). */
export interface OperationStatus {
  target: string;
  kind: OperationKind;
  state: OperationState;
  rows_copied: number;
  rows_total: number;
  lease_owner: string | null;
  copy_started_at: string | null;
  copy_completed_at: string | null;
  cutover_started_at: string | null;
  completed_at: string | null;
  error: string | null;
}

/**
 * A migration as the API shows it: reply of `start`, `status` and of every intent
 * (`cutover`, `stop`, `resume`, `cancel`, `release`); `list` answers `{migrations: [...]}`.
 */
export interface MigrationStatus {
  id: string;
  state: MigrationState;
  policy: Policy;
  on_failure: OnFailure;
  defer_cutover: boolean;
  created_at: string;
  /** One line for people: "ready for cutover — next: metrics_us", "halted — metrics_us failed: …". */
  headline: string;
  operations: OperationStatus[];
}

/** Reply of `P.api.migration.list`, newest first. */
export interface MigrationListReply {
  migrations: MigrationStatus[];
}

/** What `P.events.migration.<id>` carries: what happened, and the migration after it. */
export interface MigrationEvent {
  id: string;
  /** Epoch ms. */
  at: number;
  kind: 'created' | 'claimed' | 'progress' | 'parked' | 'cutover_started' | 'completed' | 'failed' | 'intent' | 'state';
  target?: string;
  status: MigrationStatus;
}
