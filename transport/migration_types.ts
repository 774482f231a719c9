/**
 * Migrations (DESIGN §9) on the wire and in the `lockstep_ops` bucket: one schema change run over an
 * ordered list of targets (groups), one operation per target. The API, the claimers and the CLI
 * compile against these definitions.
 */

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
