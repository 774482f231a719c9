/**
 * How a migration is shown (the API's status, list and intent replies, and every event): its
 * projected state, its operations in target order with RFC 3339 times, and one headline for people.
 * A pure function of the stored records, shared by the liaison's API and the claimers' events.
 */
import type {
  MigrationRecord,
  MigrationStatus,
  OperationRecord,
  OperationStatus,
} from '../../transport/migration_types.js';
import { turn } from './gates.js';
import { projectMigration } from './projection.js';

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function names(ops: readonly OperationRecord[]): string {
  return ops.map((o) => o.target).join(', ');
}

/** One line for people that says where the migration stands and what it waits for. */
export function headline(m: MigrationRecord, ops: readonly OperationRecord[]): string {
  const state = projectMigration(m, ops);
  const failed = ops.find((o) => o.state === 'failed' || o.state === 'failed_retryable');
  const why = failed ? `${failed.target} failed: ${failed.error ?? 'unknown error'}` : '';
  const next = turn(m, ops);
  switch (state) {
    case 'completed':
      return `completed — ${names(ops)}`;
    case 'failed':
      return m.on_failure === 'halt' ? `halted — ${why}` : `finished with failures — ${why}`;
    case 'failed_retryable':
      return `retrying — ${why}`;
    case 'paused':
      return `paused — ${why}; \`migrate release\` lets the later targets go on`;
    case 'running_degraded':
      return `running without ${failed?.target ?? 'a failed target'} — ${why}`;
    case 'cancelled':
      return 'cancelled — targets not cut over keep their layout';
    case 'stopped': {
      const stopped = ops.find((o) => o.state === 'stopped');
      return `stopped${stopped?.error ? ` — ${stopped.target}: ${stopped.error}` : ''}; \`migrate resume\` goes on`;
    }
    case 'cutting_over':
      return `cutting over ${names(ops.filter((o) => o.state === 'cutting_over'))}`;
    case 'waiting_for_cutover':
      return next ? `ready for cutover — next: ${next.target}` : 'ready for cutover';
    case 'running': {
      const copying = ops.filter((o) => o.state === 'running');
      if (next?.state === 'waiting_for_cutover' && m.defer_cutover) return `ready for cutover — next: ${next.target}`;
      if (copying.length > 0) return `copying ${names(copying)}`;
      return next ? `waiting for ${next.target}` : 'running';
    }
    case 'pending':
      return `waiting for a claimer to start ${ops[0]?.target ?? 'the first target'}`;
  }
}

/** One operation as the API shows it. */
export function operationStatus(op: OperationRecord): OperationStatus {
  return {
    target: op.target,
    kind: op.kind,
    state: op.state,
    rows_copied: op.rows_copied,
    rows_total: op.rows_total,
    lease_owner: op.lease?.owner ?? null,
    copy_started_at: iso(op.copy_started_at),
    copy_completed_at: iso(op.copy_completed_at),
    cutover_started_at: iso(op.cutover_started_at),
    completed_at: iso(op.completed_at),
    error: op.error,
  };
}

/** A migration as the API shows it. */
export function migrationStatus(m: MigrationRecord, ops: readonly OperationRecord[]): MigrationStatus {
  return {
    id: m.id,
    state: projectMigration(m, ops),
    policy: m.policy,
    on_failure: m.on_failure,
    defer_cutover: m.defer_cutover,
    created_at: new Date(m.created_at).toISOString(),
    headline: headline(m, ops),
    operations: ops.map(operationStatus),
  };
}
