/**
 * A migration's state is never stored: it is a pure projection of its operations' states (SchemaBot's
 * `DeriveApplyState`), so it can never disagree with them. First match wins:
 *
 *   1. an operation failed and on_failure is halt          → failed
 *   2. an operation is failed_retryable                     → failed_retryable
 *   3. an operation was cancelled                           → cancelled
 *   4. an operation is stopped                              → stopped
 *   5. an operation failed (continue or pause):
 *        every operation ended                              → failed (the verdict stands)
 *        pause, not released, nothing copying or cutting    → paused
 *        otherwise                                          → running_degraded
 *   6. every operation completed                            → completed
 *   7. an operation is cutting over                         → cutting_over
 *   8. every operation not completed is parked              → waiting_for_cutover
 *   9. an operation has started                             → running
 *  10. otherwise                                            → pending
 */
import type { MigrationState, OnFailure, OperationRecord, OperationState } from '../../transport/migration_types.js';
import { TERMINAL_OPERATION_STATES } from '../../transport/migration_types.js';

/** What the projection reads of a migration besides its operations. */
export interface ProjectionInput {
  on_failure: OnFailure;
  released: boolean;
}

/** The migration's state, from its operations (in target order) and its failure policy. */
export function projectMigration(m: ProjectionInput, ops: readonly Pick<OperationRecord, 'state'>[]): MigrationState {
  const has = (s: OperationState) => ops.some((o) => o.state === s);
  const failed = has('failed');
  if (failed && m.on_failure === 'halt') return 'failed';
  if (has('failed_retryable')) return 'failed_retryable';
  if (has('cancelled')) return 'cancelled';
  if (has('stopped')) return 'stopped';
  if (failed) {
    if (ops.every((o) => TERMINAL_OPERATION_STATES.includes(o.state))) return 'failed';
    const active = has('running') || has('cutting_over');
    if (m.on_failure === 'pause' && !m.released && !active) return 'paused';
    return 'running_degraded';
  }
  if (ops.length > 0 && ops.every((o) => o.state === 'completed')) return 'completed';
  if (has('cutting_over')) return 'cutting_over';
  const open = ops.filter((o) => o.state !== 'completed');
  if (open.length > 0 && open.every((o) => o.state === 'waiting_for_cutover')) return 'waiting_for_cutover';
  if (ops.some((o) => o.state !== 'pending')) return 'running';
  return 'pending';
}
