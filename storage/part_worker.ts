/** The part pool's worker entry (piscina loads its compiled form): runs one task and hands the encoded bytes back without a copy. */
import { Piscina } from 'piscina';
import type { Result } from '../runtime/thread_envelope.js';
import type { EncodedPart } from './part_encode.js';
import { fromTransfer, runPartTask, type PartTask } from './part_tasks.js';

/** Runs `task` (as `forTransfer` sent it); a successful result's data and index buffers are transferred, not cloned. */
export default function runTask(task: PartTask): Result<EncodedPart> | ReturnType<typeof Piscina.move> {
  const r = runPartTask(fromTransfer(task));
  if (!r.ok) return r;
  const movable = {
    [Piscina.transferableSymbol]: [r.value.data.buffer, r.value.index.buffer],
    [Piscina.valueSymbol]: r,
  };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}
