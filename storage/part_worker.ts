/**
 * The part pool's worker entry (piscina loads it; from TypeScript sources part_pool.ts bundles it
 * into plain JS first). Runs one task and hands the encoded bytes back without a copy.
 */
import { Piscina } from 'piscina';
import { runPartTask, type PartTask, type PartTaskResult } from './part_tasks.js';

/** Runs `task`; a successful result's data and index buffers are transferred, not cloned. */
export default function runTask(task: PartTask): PartTaskResult | ReturnType<typeof Piscina.move> {
  const r = runPartTask(task);
  if (!r.ok) return r;
  const movable = { [Piscina.transferableSymbol]: [r.part.data.buffer, r.part.index.buffer], [Piscina.valueSymbol]: r };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}
