/**
 * Barrier metrics (DESIGN §5, §10) on the actor's own registry. Recording never throws, so it can
 * sit in a `finally` on every path, including errors that leave no response.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { primaryRole } from '../../runtime/roles.js';
import { Code, codeOf } from '../../transport/errors.js';
import type { BarrierCall, WatchedMember } from './scatter.js';

/** How a call ended, as the `result` label. */
export const BARRIER_RESULTS = ['applied', 'timeout', 'invalid_argument', 'error'] as const;
/** A `result` label value. */
export type BarrierResult = (typeof BARRIER_RESULTS)[number];

/** Duration buckets in seconds, up to the longest timeout a call may ask for (5 min). */
export const BARRIER_DURATION_BUCKETS_S = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

/** The duration histogram of each call. */
export const BARRIER_HISTOGRAM_NAMES: Record<BarrierCall, string> = {
  revision: 'schema_await_revision_applied_duration_seconds',
  applied: 'schema_await_schema_applied_duration_seconds',
  deleted: 'schema_await_schema_deleted_duration_seconds',
};

/** Laggards per call, by barrier, role and name. */
export const LAGGARD_COUNTER_NAME = 'schema_barrier_laggard_nodes_total';

const HELP: Record<BarrierCall, string> = {
  revision: 'Duration of barrier revision calls (await a revision applied on every member)',
  applied: 'Duration of barrier applied calls (await schema keys applied on every member)',
  deleted: 'Duration of barrier deleted calls (await schema keys deleted on every member)',
};

/** The `result` of a call that threw. */
export function resultOfError(err: unknown): BarrierResult {
  return codeOf(err) === Code.InvalidArgument ? 'invalid_argument' : 'error';
}

/** The barrier's histograms and laggard counter. */
export class BarrierMetrics {
  private readonly durations: Record<BarrierCall, Histogram<'result'>>;
  private readonly laggards: Counter<'barrier' | 'role' | 'name'>;

  constructor(registry: Registry) {
    // An actor restarted in the same process gets the same registry: reuse what it registered.
    const histogram = (call: BarrierCall): Histogram<'result'> => {
      const name = BARRIER_HISTOGRAM_NAMES[call];
      const existing = registry.getSingleMetric(name) as Histogram<'result'> | undefined;
      if (existing) return existing;
      const h = new Histogram({
        name,
        help: HELP[call],
        labelNames: ['result'],
        buckets: BARRIER_DURATION_BUCKETS_S,
        registers: [registry],
      });
      for (const result of BARRIER_RESULTS) h.zero({ result });
      return h;
    };
    this.durations = { revision: histogram('revision'), applied: histogram('applied'), deleted: histogram('deleted') };
    this.laggards =
      (registry.getSingleMetric(LAGGARD_COUNTER_NAME) as Counter<'barrier' | 'role' | 'name'> | undefined) ??
      new Counter({
        name: LAGGARD_COUNTER_NAME,
        help: 'Members reported as laggards by barrier calls (once per call per laggard)',
        labelNames: ['barrier', 'role', 'name'],
        registers: [registry],
      });
  }

  /** Records one finished call; never throws. */
  record(call: BarrierCall, result: BarrierResult, durationSeconds: number, laggards: readonly WatchedMember[]): void {
    try {
      this.durations[call].observe({ result }, Math.max(0, durationSeconds));
      for (const m of laggards) this.laggards.inc({ barrier: call, role: primaryRole(m.roles), name: m.name });
    } catch {
      // Metrics must never turn an answer into an error.
    }
  }
}
