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
  const end = spec.durationMs - spec.settleMs;
  const out: ChaosEvent[] = [];
  let t = rng.int(spec.gapMs[0], spec.gapMs[1]);
  for (;;) {
    const downMs = rng.int(spec.downMs[0], spec.downMs[1]);
    if (t + downMs > end) break;
    out.push({ atMs: t, victim: rng.pick(victims), downMs });
    t += downMs + rng.int(spec.gapMs[0], spec.gapMs[1]);
  }
  return out;
}
