/**
 * Canned migration replies (transport/migration_types.ts) for the CLI's tests: a three-target
 * re-shard of metrics_eu, metrics_us and metrics_ap, at whatever stage a test needs.
 */
import type { MigrationEvent, MigrationStatus, OperationStatus, PlanReply } from '../../transport/migration_types.js';

/** The migration's id in every fixture. */
export const MIGRATION_ID = 'mig_0001';
/** When the fixtures' migration was created (epoch ms). */
export const T0 = Date.parse('2025-05-01T10:00:00Z');
/** The targets, in cutover order. */
export const TARGETS = ['metrics_eu', 'metrics_us', 'metrics_ap'] as const;

/** `ms` after T0 as RFC 3339 (as the API shows times). */
export function at(ms: number): string {
  return new Date(T0 + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One pending rewrite of 1,000,000 rows, with `o` on top. */
export function operation(target: string, o: Partial<OperationStatus> = {}): OperationStatus {
  return {
    target,
    kind: 'rewrite',
    state: 'pending',
    rows_copied: 0,
    rows_total: 1_000_000,
    lease_owner: null,
    copy_started_at: null,
    copy_completed_at: null,
    cutover_started_at: null,
    completed_at: null,
    error: null,
    ...o,
  };
}

/** The migration under policy barrier, with its operations as given (all pending by default). */
export function migrationStatus(o: Partial<MigrationStatus> = {}): MigrationStatus {
  return {
    id: MIGRATION_ID,
    state: 'pending',
    policy: 'barrier',
    on_failure: 'halt',
    defer_cutover: false,
    created_at: at(0),
    headline: 'pending — nothing claimed yet',
    operations: TARGETS.map((t) => operation(t)),
    ...o,
  };
}

/** Mid-copy: metrics_eu parked, metrics_us a quarter copied 100 s after its start, metrics_ap pending. */
export function copyingStatus(): MigrationStatus {
  return migrationStatus({
    state: 'running',
    headline: 'copying metrics_us',
    operations: [
      operation('metrics_eu', {
        state: 'waiting_for_cutover',
        rows_copied: 1_000_000,
        copy_started_at: at(0),
        copy_completed_at: at(50_000),
      }),
      operation('metrics_us', {
        state: 'running',
        rows_copied: 250_000,
        lease_owner: 'claimer-c1',
        copy_started_at: at(50_000),
      }),
      operation('metrics_ap', { kind: 'instant', rows_total: 0 }),
    ],
  });
}

/** Every target completed (metrics_ap's change was instant). */
export function completedStatus(): MigrationStatus {
  const done = { state: 'completed', rows_copied: 1_000_000, completed_at: at(300_000) } as const;
  return migrationStatus({
    state: 'completed',
    headline: 'completed — 3 of 3 targets cut over',
    operations: [
      operation('metrics_eu', done),
      operation('metrics_us', done),
      operation('metrics_ap', { ...done, kind: 'instant', rows_copied: 0, rows_total: 0 }),
    ],
  });
}

/** Halted: metrics_us failed. */
export function failedStatus(): MigrationStatus {
  const s = copyingStatus();
  s.state = 'failed';
  s.headline = 'halted — metrics_us failed: disk full on data-d2';
  s.operations[1] = { ...s.operations[1]!, state: 'failed', lease_owner: null, error: 'disk full on data-d2' };
  return s;
}

/** The plan of the re-shard: two rewrites and one instant change. */
export function planReply(): PlanReply {
  return {
    policy: 'barrier',
    on_failure: 'halt',
    defer_cutover: false,
    targets: [
      { target: 'metrics_eu', kind: 'rewrite', reason: 'shards 2 → 4', rows_total: 1_200_000 },
      { target: 'metrics_us', kind: 'rewrite', reason: 'shards 2 → 4', rows_total: 800_000 },
      { target: 'metrics_ap', kind: 'instant', reason: 'ttl 7d → 14d', rows_total: 0 },
    ],
  };
}

/** An event `ms` after T0 carrying `status`. */
export function migrationEvent(
  kind: MigrationEvent['kind'],
  ms: number,
  status: MigrationStatus,
  target?: string,
): MigrationEvent {
  return { id: status.id, at: T0 + ms, kind, ...(target === undefined ? {} : { target }), status };
}
