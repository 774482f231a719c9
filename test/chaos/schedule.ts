/**
 * The chaos run's fault schedule as a pure function of a seed: which process is SIGKILLed when,
 * and how long it stays down. One victim at a time (the next kill comes only after the previous
 * victim restarted), so at most one NATS server and one Lockstep process are ever down together.
 * The same seed gives the same schedule, which is how a failing run is replayed.
 */
import { Rng } from '../harness/random.js';

/** A process of the cluster: a Lockstep node by name, or a nats-server by index. */
export type Victim = { kind: 'node'; name: string } | { kind: 'nats'; index: number };

/** One fault: SIGKILL `victim` at `atMs` (from the run's start), start it again `downMs` later. */
export interface ChaosEvent {
  atMs: number;
  victim: Victim;
  downMs: number;
}

/** What the schedule draws from. */
export interface ScheduleSpec {
  seed: number;
  /** Faults happen within [0, durationMs - settleMs). */
  durationMs: number;
  /** Quiet time at the end, after the last victim is back. */
  settleMs: number;
  nodes: readonly string[];
  natsServers: number;
  /** Pause between a victim's return and the next kill. */
  gapMs: [number, number];
  /** How long a victim stays down. */
  downMs: [number, number];
  /**
   * Faults every seed must get (default 0): the draws of the first ones are narrowed so the rest
   * still fit before the settle time. A spec where they cannot fit is a RangeError.
   */
  minFaults?: number;
}

/** Names a victim for logs and reports: the node's name, or `nats-<n>` (1-based). */
export function victimName(v: Victim): string {
  return v.kind === 'node' ? v.name : `nats-${v.index + 1}`;
}

/** The schedule of `spec`: kills in time order, each victim back before the next kill. */
export function chaosSchedule(spec: ScheduleSpec): ChaosEvent[] {
  const rng = new Rng(spec.seed);
  const victims: Victim[] = [
    ...spec.nodes.map((name) => ({ kind: 'node' as const, name })),
    ...Array.from({ length: spec.natsServers }, (_, index) => ({ kind: 'nats' as const, index })),
  ];
  const [gapMin, gapMax] = spec.gapMs;
  const [downMin, downMax] = spec.downMs;
  const minFaults = spec.minFaults ?? 0;
  const end = spec.durationMs - spec.settleMs;
  // The time `k` more faults need at the least, from the first one's kill to the last one's return.
  const room = (k: number) => (k <= 0 ? 0 : k * downMin + (k - 1) * gapMin);
  if (gapMin + room(minFaults) > end) {
    throw new RangeError(`chaos schedule: ${minFaults} faults do not fit in ${end} ms before the settle time`);
  }
  const out: ChaosEvent[] = [];
  let t = rng.int(gapMin, Math.min(gapMax, end - room(minFaults)));
  for (let i = 0; ; i++) {
    const owedAfter = minFaults - i - 1;
    // An owed fault must end in time, and leave the room of those owed after it.
    const downCap = i < minFaults ? end - t - (owedAfter > 0 ? gapMin + room(owedAfter) : 0) : downMax;
    const downMs = rng.int(downMin, Math.min(downMax, downCap));
    if (t + downMs > end) break;
    out.push({ atMs: t, victim: rng.pick(victims), downMs });
    t += downMs;
    t += rng.int(gapMin, Math.min(gapMax, owedAfter > 0 ? end - t - room(owedAfter) : gapMax));
  }
  return out;
}
