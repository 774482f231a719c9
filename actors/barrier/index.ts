/** The barrier actor: scatter-gather over every member's schema status (DESIGN §5). */
import type { Actor } from '../../runtime/actor.js';
import { BarrierActor } from './barrier_actor.js';

export { BarrierActor } from './barrier_actor.js';
export {
  BARRIER_DURATION_BUCKETS_S,
  BARRIER_HISTOGRAM_NAMES,
  BARRIER_RESULTS,
  BarrierMetrics,
  LAGGARD_COUNTER_NAME,
  resultOfError,
  type BarrierResult,
} from './barrier_metrics.js';
export {
  BARRIER_CALLS,
  EVICTED_REASON,
  parseBarrierRequest,
  scatter,
  type BarrierCall,
  type BarrierReply,
  type BarrierSpec,
  type Laggard,
  type MemberSignal,
  type MemberSignals,
  type ProbeFn,
  type ScatterDeps,
  type ScatterOutcome,
  type WatchedMember,
} from './scatter.js';
export { freezeSnapshot, MemberSignalHub, type SelfMember } from './snapshot.js';

/** Builds the node's barrier actor. */
export function createActor(): Actor {
  return new BarrierActor();
}
