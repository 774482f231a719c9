/**
 * Faults injected for tests and drills (only with `--enable-fault-injection`): a transient or
 * permanent failure at init, at schema apply or at a backfill request (of one group), a backfill
 * request answered late (a slow copy), WAL records applied late (a lagging shard owner), or a crash
 * of the actor's thread.
 */
import type { ActorKind, FaultInjector, FaultSpec } from './actor.js';
import { PermanentError, TransientError } from './errors.js';

/** The faults armed for one actor. */
export class ActorFaults implements FaultInjector {
  private armed: FaultSpec[];

  constructor(
    private readonly kind: ActorKind,
    initial: FaultSpec[],
    private readonly onCrash: () => void,
  ) {
    this.armed = initial.filter((f) => f.actor === kind).map((f) => ({ ...f }));
  }

  /** Fires a crash armed at start (after the actor started, as a bug in its first work would). */
  afterStart(): void {
    if (this.armed.some((f) => f.phase === 'crash')) this.onCrash();
  }

  /** Arms one fault (null clears all). A crash fault fires at once. */
  set(fault: FaultSpec | null): void {
    if (fault === null) {
      this.armed = [];
      return;
    }
    if (fault.actor !== this.kind) return;
    if (fault.phase === 'crash') {
      this.onCrash();
      return;
    }
    this.armed.push({ ...fault });
  }

  check(phase: FaultSpec['phase'], group?: string, generation?: number): number {
    const f = this.armed.find(
      (x) =>
        x.phase === phase &&
        (x.group === undefined || x.group === group) &&
        (x.generation === undefined || x.generation === generation),
    );
    if (!f) return 0;
    if (f.times !== undefined) {
      f.times -= 1;
      if (f.times <= 0) this.armed = this.armed.filter((x) => x !== f);
    }
    if (f.kind === 'delay') return f.delay_ms ?? 0;
    const message = `injected ${f.kind} fault in ${this.kind} at ${phase}`;
    const err = f.kind === 'permanent' ? new PermanentError(message) : new TransientError(message);
    throw Object.assign(err, { injected: phase });
  }
}
