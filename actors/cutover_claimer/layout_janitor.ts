/**
 * Clears what ended operations leave in a group's layout (DESIGN §9): the `next` generation of a
 * cancelled or failed operation (dual writes stop, data nodes drop what was copied; the current
 * layout stays as it was) and the `retiring` generation once its operation completed and the grace
 * period passed. Each pass reads the layouts this claimer applied; which one to clear is decided by
 * `layoutCleanUp`, a pure function. Claimers may race on one layout: the write is compare-and-set
 * on its revision, and the loser's next pass finds nothing to do.
 */
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import type { MigrationStore } from '../../runtime/migration/store.js';
import type { SchemaCache } from '../../runtime/schema_cache.js';
import type { Layout } from '../../transport/layout_types.js';
import type { OperationRecord } from '../../transport/migration_types.js';
import type { LayoutDrive } from './layout_drive.js';

/** What to clear in a layout written by `op`, if anything. */
export function layoutCleanUp(
  layout: Layout,
  op: OperationRecord,
  nowMs: number,
  graceMs: number,
): 'drop_next' | 'drop_retiring' | null {
  const mine = op.layout !== null;
  if (layout.next && mine && op.layout!.next.generation === layout.next.generation) {
    if (op.state === 'cancelled' || op.state === 'failed') return 'drop_next';
  }
  if (layout.retiring && mine && op.layout!.next.generation === layout.current.generation) {
    if (op.state === 'completed' && op.completed_at !== null && nowMs - op.completed_at >= graceMs)
      return 'drop_retiring';
  }
  return null;
}

/** One claimer's layout janitor. */
export class LayoutJanitor {
  constructor(
    private readonly schema: SchemaCache,
    private readonly store: MigrationStore,
    private readonly drive: LayoutDrive,
    private readonly clock: Clock,
    private readonly graceMs: number,
    private readonly log: Logger,
  ) {}

  /** One pass over the applied layouts. */
  async pass(): Promise<void> {
    for (const stored of this.schema.list('layout')) {
      const layout = stored.resource as Layout;
      if ((!layout.next && !layout.retiring) || !layout.written_by) continue;
      const [id, index] = layout.written_by.split('/');
      const op = await this.store.operation(id!, Number(index));
      if (!op) continue;
      const action = layoutCleanUp(layout, op, this.clock.now(), this.graceMs);
      if (action === 'drop_next') {
        await this.drive.dropNext(op);
        this.log.info(
          { group: layout.group, generation: layout.next!.generation },
          'layout generation dropped (its migration ended)',
        );
      } else if (action === 'drop_retiring') {
        await this.drive.retire(op);
        this.log.info(
          { group: layout.group, generation: layout.retiring!.generation },
          'retired layout generation dropped',
        );
      }
    }
  }
}
