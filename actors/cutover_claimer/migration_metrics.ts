/**
 * Migration metrics of a claimer (DESIGN §9, §10) on the actor's own registry. Recording never
 * throws: a metric must not turn a drive step into a failure.
 *
 * `lockstep_migration_operations{state}` counts the operations of every migration this claimer
 * has read, by state, as of its last tick: every claimer reads the same bucket, so each reports the
 * cluster's whole count (aggregate with `max`, not `sum`). The other three count what this claimer
 * itself did.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { OPERATION_STATES, type OperationRecord, type OperationState } from '../../transport/migration_types.js';

export const OPERATIONS_GAUGE = 'lockstep_migration_operations';
export const COPIED_ROWS_COUNTER = 'lockstep_migration_copied_rows_total';
export const CUTOVER_HISTOGRAM = 'lockstep_migration_cutover_duration_seconds';
export const LEASE_LOST_COUNTER = 'lockstep_migration_lease_lost_total';

/** Cutover durations in seconds: a layout swap is a KV write and a barrier call or two. */
const CUTOVER_BUCKETS_S = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** A metric registered once per registry (an actor restarted in the same process reuses it). */
function once<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** The claimer's migration metrics. */
export class MigrationMetrics {
  /** The last seen state of every operation, by `<migration>/<index>`. */
  private readonly states = new Map<string, OperationState>();
  private readonly copiedRows: Counter<'group'>;
  private readonly cutovers: Histogram;
  private readonly leaseLost: Counter;

  constructor(registry: Registry) {
    const states = this.states;
    once(
      registry,
      OPERATIONS_GAUGE,
      () =>
        new Gauge({
          name: OPERATIONS_GAUGE,
          help: 'Operations of all migrations by state, as this claimer last read them (aggregate with max)',
          labelNames: ['state'],
          registers: [registry],
          collect() {
            const counts = new Map<OperationState, number>(OPERATION_STATES.map((s) => [s, 0]));
            for (const s of states.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
            for (const [state, n] of counts) this.set({ state }, n);
          },
        }),
    );
    this.copiedRows = once(
      registry,
      COPIED_ROWS_COUNTER,
      () =>
        new Counter({
          name: COPIED_ROWS_COUNTER,
          help: "Rows copied into a new layout generation by this claimer's drives, by target group",
          labelNames: ['group'],
          registers: [registry],
        }),
    );
    this.cutovers = once(
      registry,
      CUTOVER_HISTOGRAM,
      () =>
        new Histogram({
          name: CUTOVER_HISTOGRAM,
          help: 'Duration of cutovers driven by this claimer, from the switch until the barrier certified it',
          buckets: CUTOVER_BUCKETS_S,
          registers: [registry],
        }),
    );
    this.leaseLost = once(
      registry,
      LEASE_LOST_COUNTER,
      () =>
        new Counter({
          name: LEASE_LOST_COUNTER,
          help: 'Drives of this claimer stopped because their lease was taken over, stopped or cancelled',
          registers: [registry],
        }),
    );
  }

  /** Notes the operations just read (or just written) as they stand. */
  sawOperations(ops: readonly OperationRecord[]): void {
    for (const op of ops) this.states.set(`${op.migration_id}/${op.index}`, op.state);
  }

  /** Counts `rows` more copied into `group`'s next generation. */
  copied(group: string, rows: number): void {
    try {
      if (rows > 0) this.copiedRows.inc({ group }, rows);
    } catch {
      // never fails a drive
    }
  }

  /** Records one cutover that reached certification. */
  cutover(seconds: number): void {
    try {
      this.cutovers.observe(Math.max(0, seconds));
    } catch {
      // never fails a drive
    }
  }

  /** Counts a lost lease. */
  lostLease(): void {
    this.leaseLost.inc();
  }
}
