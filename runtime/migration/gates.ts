/**
 * When an operation may start copying and when it may cut over (DESIGN §9), as pure functions of the
 * migration's frozen policy and its operations in target order. The claimers gate their claims with
 * them and the API answers "whose turn is it" with them, so both read the same rules:
 *
 * - an operation is *settled* once completed, or failed where the failure does not hold the others
 *   (on_failure continue, or pause after a release);
 * - halt: once any operation failed, nothing starts and nothing cuts over;
 * - pause: a failure holds every later target (no start, no cutover) until `release`;
 * - a stopped or cancelled operation freezes the whole migration;
 * - rolling: a target starts copying only when every earlier target is settled;
 *   barrier and parallel: every target copies at once;
 * - cutovers run one at a time, in target order: a target cuts over only when every earlier target
 *   is settled; under barrier, only once no target is still copying.
 */
import type { MigrationRecord, OperationRecord } from '../../transport/migration_types.js';

/** What the gates read of a migration. */
export type GateInput = Pick<MigrationRecord, 'policy' | 'on_failure' | 'released'>;
/** What the gates read of an operation. */
export type GateOp = Pick<OperationRecord, 'state' | 'index'>;

/** True when `op` no longer holds the targets after it. */
export function settled(m: GateInput, op: GateOp): boolean {
  if (op.state === 'completed') return true;
  return op.state === 'failed' && (m.on_failure === 'continue' || (m.on_failure === 'pause' && m.released));
}

/** True when nothing of the migration may move: halted by a failure, stopped or cancelled. */
export function frozen(m: GateInput, ops: readonly GateOp[]): boolean {
  if (ops.some((o) => o.state === 'stopped' || o.state === 'cancelled')) return true;
  return m.on_failure === 'halt' && ops.some((o) => o.state === 'failed');
}

function earlierSettled(m: GateInput, ops: readonly GateOp[], index: number): boolean {
  for (let j = 0; j < index; j++) if (!settled(m, ops[j]!)) return false;
  return true;
}

/** True when a failure before `index` holds it (on_failure pause, not released). */
function heldByPause(m: GateInput, ops: readonly GateOp[], index: number): boolean {
  if (m.on_failure !== 'pause' || m.released) return false;
  for (let j = 0; j < index; j++) if (ops[j]!.state === 'failed') return true;
  return false;
}

/** True when the pending operation at `index` may start copying now. */
export function mayStartCopy(m: GateInput, ops: readonly GateOp[], index: number): boolean {
  const op = ops[index];
  if (!op || op.state !== 'pending' || frozen(m, ops) || heldByPause(m, ops, index)) return false;
  return m.policy !== 'rolling' || earlierSettled(m, ops, index);
}

/** True when the parked (or deferred) operation at `index` may begin its cutover now. */
export function mayCutOver(m: GateInput, ops: readonly GateOp[], index: number): boolean {
  const op = ops[index];
  if (!op || op.state !== 'waiting_for_cutover' || frozen(m, ops)) return false;
  if (ops.some((o) => o.state === 'cutting_over')) return false;
  if (!earlierSettled(m, ops, index)) return false;
  if (m.policy === 'barrier') {
    return ops.every((o) => o.state !== 'pending' && o.state !== 'running' && o.state !== 'failed_retryable');
  }
  return true;
}

/** The first operation that is not settled: the target whose turn it is to finish, or null when all are. */
export function turn<T extends GateOp>(m: GateInput, ops: readonly T[]): T | null {
  return ops.find((o) => !settled(m, o)) ?? null;
}

/** True when the operation's copy ends by parking (releasing its lease) instead of cutting over at once. */
export function parksAfterCopy(m: GateInput & { defer_cutover: boolean }, targets: number): boolean {
  return m.defer_cutover || (targets > 1 && m.policy !== 'rolling');
}
