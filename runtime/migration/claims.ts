/**
 * Claims, leases and the transitions of an operation (DESIGN §9), as pure functions: the claimer's
 * tick picks at most one action from a snapshot, and every change of an operation is a function
 * from its record to the next one. The store (store.ts) makes them durable with compare-and-set.
 *
 * A tick's order: retry expiry → user intents (stop, resume, cancel, release) → cutover claim →
 * copy claim. A claim installs a fresh lease token; the holder's heartbeat is the record's
 * `lease.heartbeat_at`, stale after the lease timeout. The copy claim never takes a parked
 * operation (waiting_for_cutover without a lease); only the cutover claim does, when the gates say
 * it is its turn. A stale cutting_over operation is re-claimed by the cutover claim without
 * re-gating (it already passed its gate). A deferred operation (defer_cutover) keeps its lease
 * while it waits for its `cutover` intent; a stale one is re-taken by the copy claim.
 */
import { backoffMs } from '../clock.js';
import { LockstepError } from '../../transport/errors.js';
import { isTransientCode } from '../../transport/rpc.js';
import type {
  CopyPosition,
  IntentRecord,
  MigrationRecord,
  OperationRecord,
  OperationState,
} from '../../transport/migration_types.js';
import { mayCutOver, mayStartCopy, parksAfterCopy } from './gates.js';

/** How long a lease lives without a heartbeat. */
export const DEFAULT_LEASE_TIMEOUT_MS = 30_000;
/** First and largest wait before a failed_retryable operation is retried. */
export const RETRY_BACKOFF_BASE_MS = 1000;
export const RETRY_BACKOFF_MAX_MS = 60_000;
/** Retries of a failed_retryable operation before it fails for good. */
export const MAX_RETRIES = 5;

/** One migration as a tick sees it: its record, its operations in target order, its pending intents. */
export interface MigrationView {
  migration: MigrationRecord;
  ops: OperationRecord[];
  intents: (IntentRecord & { key: string })[];
}

/** What a claimer does in one tick, and the migration (as given to `nextAction`) it is about. */
export type TickAction<V extends MigrationView = MigrationView> =
  | { kind: 'retry'; view: V; op: OperationRecord }
  | { kind: 'intent'; view: V; intent: IntentRecord & { key: string } }
  | { kind: 'claim'; view: V; claim: 'cutover' | 'copy'; op: OperationRecord };

/** A fresh pending operation of `m` for its target at `index`, with what its plan found (none by default). */
export function newOperation(
  m: MigrationRecord,
  index: number,
  plan: Pick<OperationRecord, 'kind' | 'reason' | 'resources'> & Partial<Pick<OperationRecord, 'layout'>> = {
    kind: 'rewrite',
    reason: '',
    resources: [],
  },
): OperationRecord {
  return {
    migration_id: m.id,
    index,
    target: m.targets[index]!,
    kind: plan.kind,
    state: 'pending',
    policy: m.policy,
    on_failure: m.on_failure,
    defer_cutover: m.defer_cutover,
    rows_copied: 0,
    rows_total: 0,
    lease: null,
    copy_started_at: null,
    copy_completed_at: null,
    cutover_started_at: null,
    completed_at: null,
    error: null,
    attempts: 0,
    retry_at: null,
    reason: plan.reason,
    resources: plan.resources,
    applied: {},
    layout: plan.layout ?? null,
  };
}

/** True while `op`'s lease has a heartbeat younger than the timeout. */
export function leaseLive(op: Pick<OperationRecord, 'lease'>, nowMs: number, timeoutMs: number): boolean {
  return op.lease !== null && nowMs - op.lease.heartbeat_at < timeoutMs;
}

/** Intents a claimer reconciles itself; `cutover` is consumed by the deferred operation's holder. */
const RECONCILED: ReadonlySet<string> = new Set(['stop', 'resume', 'cancel', 'release']);

/** True when the cutover claim may take the operation at `index`. */
function cutoverClaimable(v: MigrationView, index: number, nowMs: number, timeoutMs: number): boolean {
  const op = v.ops[index]!;
  if (op.state === 'cutting_over') return !leaseLive(op, nowMs, timeoutMs);
  // A deferred operation cuts over only on its `cutover` intent, by its holder.
  if (v.migration.defer_cutover) return false;
  return op.state === 'waiting_for_cutover' && op.lease === null && mayCutOver(v.migration, v.ops, index);
}

/** True when the copy claim may take the operation at `index`. */
function copyClaimable(v: MigrationView, index: number, nowMs: number, timeoutMs: number): boolean {
  const op = v.ops[index]!;
  if (op.state === 'pending') return mayStartCopy(v.migration, v.ops, index);
  if (op.state === 'running') return !leaseLive(op, nowMs, timeoutMs);
  // A deferred operation nobody holds (its holder died, or it was resumed): someone must keep
  // waiting for its cutover intent. A parked one (not deferred) is the cutover claim's.
  return v.migration.defer_cutover && op.state === 'waiting_for_cutover' && !leaseLive(op, nowMs, timeoutMs);
}

/** The one action of a tick over `views` (oldest migration first), or null when there is nothing to do. */
export function nextAction<V extends MigrationView>(
  views: readonly V[],
  nowMs: number,
  timeoutMs: number,
): TickAction<V> | null {
  for (const v of views) {
    for (const op of v.ops) {
      if (op.state === 'failed_retryable' && op.retry_at !== null && op.retry_at <= nowMs) {
        return { kind: 'retry', view: v, op };
      }
    }
  }
  for (const v of views) {
    const intent = v.intents.find((i) => RECONCILED.has(i.kind));
    if (intent) return { kind: 'intent', view: v, intent };
  }
  for (const v of views) {
    for (let i = 0; i < v.ops.length; i++) {
      if (cutoverClaimable(v, i, nowMs, timeoutMs)) return { kind: 'claim', view: v, claim: 'cutover', op: v.ops[i]! };
    }
  }
  for (const v of views) {
    for (let i = 0; i < v.ops.length; i++) {
      if (copyClaimable(v, i, nowMs, timeoutMs)) return { kind: 'claim', view: v, claim: 'copy', op: v.ops[i]! };
    }
  }
  return null;
}

/** The record after a claim by `owner` with a fresh `token`. */
export function claimed(
  op: OperationRecord,
  claim: 'cutover' | 'copy',
  owner: string,
  token: string,
  nowMs: number,
): OperationRecord {
  const lease = { owner, token, heartbeat_at: nowMs };
  if (claim === 'cutover' && op.state === 'waiting_for_cutover') {
    return { ...op, lease, state: 'cutting_over', cutover_started_at: nowMs };
  }
  if (claim === 'copy' && op.state === 'pending') {
    return { ...op, lease, state: 'running', copy_started_at: op.copy_started_at ?? nowMs };
  }
  return { ...op, lease };
}

/** The record with the holder's heartbeat (and copy progress, when given). */
export function heartbeat(
  op: OperationRecord,
  nowMs: number,
  progress?: { copied: number; total: number; position?: CopyPosition },
): OperationRecord {
  const next = { ...op, lease: op.lease && { ...op.lease, heartbeat_at: nowMs } };
  if (progress) {
    next.rows_copied = progress.copied;
    next.rows_total = progress.total;
    if (progress.position) next.copy_position = progress.position;
  }
  return next;
}

/**
 * The record once the copy finished: parked (waiting_for_cutover, lease released) in a multi-target
 * migration under barrier or parallel, waiting with its lease under defer_cutover, else straight
 * into its cutover with the same lease.
 */
export function copied(m: MigrationRecord, op: OperationRecord, nowMs: number): OperationRecord {
  const done = { ...op, copy_completed_at: nowMs, rows_copied: Math.max(op.rows_copied, op.rows_total) };
  if (m.defer_cutover) return { ...done, state: 'waiting_for_cutover', lease: heartbeat(op, nowMs).lease };
  if (parksAfterCopy(m, m.targets.length)) return { ...done, state: 'waiting_for_cutover', lease: null };
  return { ...done, state: 'cutting_over', cutover_started_at: nowMs, lease: heartbeat(op, nowMs).lease };
}

/** The record of a copy claim undone before anything was copied (it raced a failure elsewhere). */
export function unclaimed(op: OperationRecord): OperationRecord {
  return { ...op, state: 'pending', lease: null, copy_started_at: null };
}

/** The record with a heartbeat and the revisions its cutover wrote so far. */
export function withApplied(op: OperationRecord, applied: Record<string, number>, nowMs: number): OperationRecord {
  return { ...heartbeat(op, nowMs), applied: { ...op.applied, ...applied } };
}

/** The record of a deferred operation whose cutover was not asked for in time: stopped, until `resume`. */
export function deferTimedOut(op: OperationRecord, timeoutMs: number): OperationRecord {
  return { ...op, state: 'stopped', lease: null, error: `no cutover within ${timeoutMs} ms` };
}

/** The record of a deferred operation whose `cutover` intent came and whose turn it is. */
export function cutoverStarted(op: OperationRecord, nowMs: number): OperationRecord {
  return { ...op, state: 'cutting_over', cutover_started_at: nowMs, lease: heartbeat(op, nowMs).lease };
}

/** The record once the cutover was certified: completed, lease released. */
export function completed(op: OperationRecord, nowMs: number): OperationRecord {
  return { ...op, state: 'completed', completed_at: nowMs, lease: null, error: null };
}

/**
 * Whether a drive's failure may be retried: as the error says (`retryable`), else by its code — a
 * store or peer that was unreachable or slow (Unavailable, DeadlineExceeded) is worth another try.
 */
export function isRetryableFailure(err: unknown): boolean {
  const flag = (err as { retryable?: unknown } | null)?.retryable;
  if (typeof flag === 'boolean') return flag;
  return err instanceof LockstepError && isTransientCode(err.code);
}

/** The record after a failure: failed_retryable with a retry time while retries remain, else failed. */
export function failedWith(op: OperationRecord, error: string, retryable: boolean, nowMs: number): OperationRecord {
  if (retryable && op.attempts < MAX_RETRIES) {
    return {
      ...op,
      state: 'failed_retryable',
      error,
      lease: null,
      retry_at: nowMs + backoffMs(op.attempts, RETRY_BACKOFF_BASE_MS, RETRY_BACKOFF_MAX_MS),
    };
  }
  return { ...op, state: 'failed', error, lease: null, retry_at: null };
}

/** The record of a retried operation: back where its progress says, without a lease. */
export function retried(op: OperationRecord): OperationRecord {
  return { ...resumedState(op), attempts: op.attempts + 1, retry_at: null, error: null, lease: null };
}

/** Where a stopped or retried operation resumes: parked after its copy, running during it, else pending. */
function resumedState(op: OperationRecord): OperationRecord {
  let state: OperationState = 'pending';
  if (op.copy_completed_at !== null) state = 'waiting_for_cutover';
  else if (op.copy_started_at !== null) state = 'running';
  return { ...op, state };
}

/**
 * The operations after reconciling a stop, resume or cancel intent (release changes the migration
 * record instead: see `released`). Operations already completed stay so; leases are dropped, which
 * fences out any holder still driving. Cancel undoes only what has not begun to cut over (DESIGN §9:
 * "cancel before cutover"): a cutover under way may have switched the layout already, so it keeps its
 * lease and completes, as if the cancel had come just after it. A stopped cutover resumes by
 * running again (the cutover drive is idempotent).
 */
export function reconciled(kind: 'stop' | 'resume' | 'cancel', ops: readonly OperationRecord[]): OperationRecord[] {
  return ops.map((op) => {
    if (op.state === 'completed' || op.state === 'cancelled') return op;
    if (kind === 'cancel') return op.state === 'cutting_over' ? op : { ...op, state: 'cancelled', lease: null };
    if (kind === 'stop') return op.state === 'failed' ? op : { ...op, state: 'stopped', lease: null };
    return op.state === 'stopped' ? { ...resumedState(op), lease: null } : op;
  });
}
