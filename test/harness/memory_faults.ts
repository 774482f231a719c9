/**
 * Fault options of the in-memory bus twin, the seeded decisions drawn from them, and the scheduler
 * that runs the twin on its clock. Every decision comes from one PRNG in program order, so one seed
 * and one program give one run; a fault that is off draws nothing.
 */
import type { Clock } from '../../runtime/clock.js';
import { Rng } from './random.js';

/** A range of delays in milliseconds, drawn uniformly as whole milliseconds. */
export interface DelayRange {
  minMs: number;
  maxMs: number;
}

/** What can go wrong on the twin's network; everything is off by default. */
export interface FaultOptions {
  /** Delay of each delivery: a message to one subscriber, a request to its responder, a reply back. */
  delay?: DelayRange;
  /** Probability that one delivery is lost (core NATS is at-most-once: slow consumers, reconnects). */
  dropRate?: number;
  /** Probability that one delivery arrives twice (a retried publish, a redelivered request). */
  duplicateRate?: number;
  /**
   * Let deliveries from one connection to one subscription overtake each other. Off by default:
   * core NATS keeps that order, and code may rely on it.
   */
  reorder?: boolean;
  /** Latency of each KV operation, drawn twice (request, reply), and of each watch delivery. */
  kvDelay?: DelayRange;
  /** Probability that a KV write fails with Unavailable before it is applied (request lost). */
  kvFailRate?: number;
  /** Probability that a KV write is applied but its caller gets Unavailable (reply lost). */
  kvAmbiguousRate?: number;
}

/** FaultOptions with every default filled in and checked. */
export type ResolvedFaults = Required<FaultOptions>;

const NO_DELAY: DelayRange = { minMs: 0, maxMs: 0 };

function checkRate(name: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0 && v <= 1))
    throw new Error(`options.${name} must be a number in [0, 1], got ${v}`);
}

function checkDelay(name: string, d: DelayRange): void {
  const ok = Number.isInteger(d.minMs) && Number.isInteger(d.maxMs) && d.minMs >= 0 && d.maxMs >= d.minMs;
  if (!ok) throw new Error(`options.${name} must be whole ms with 0 <= minMs <= maxMs, got ${JSON.stringify(d)}`);
}

/** Merges `opts` with the defaults (no faults) and validates it. */
export function resolveFaults(opts: FaultOptions = {}): ResolvedFaults {
  const f: ResolvedFaults = {
    delay: opts.delay ?? NO_DELAY,
    dropRate: opts.dropRate ?? 0,
    duplicateRate: opts.duplicateRate ?? 0,
    reorder: opts.reorder ?? false,
    kvDelay: opts.kvDelay ?? NO_DELAY,
    kvFailRate: opts.kvFailRate ?? 0,
    kvAmbiguousRate: opts.kvAmbiguousRate ?? 0,
  };
  checkDelay('faults.delay', f.delay);
  checkDelay('faults.kvDelay', f.kvDelay);
  for (const k of ['dropRate', 'duplicateRate', 'kvFailRate', 'kvAmbiguousRate'] as const)
    checkRate(`faults.${k}`, f[k]);
  return f;
}

/** The seeded fault decisions of one network. */
export class Faults {
  readonly options: ResolvedFaults;
  private readonly rng: Rng;

  constructor(seed: number, opts: FaultOptions = {}) {
    this.options = resolveFaults(opts);
    this.rng = new Rng(seed);
  }

  /** The PRNG for other seeded choices of the network (queue group members). */
  random(): Rng {
    return this.rng;
  }

  /** The delay of one delivery. */
  deliveryDelayMs(): number {
    return this.draw(this.options.delay);
  }

  /** Whether one delivery is lost. */
  drop(): boolean {
    return this.rng.chance(this.options.dropRate);
  }

  /** Whether one delivery arrives twice. */
  duplicate(): boolean {
    return this.rng.chance(this.options.duplicateRate);
  }

  /** The latency of one leg of a KV operation or of one watch delivery. */
  kvDelayMs(): number {
    return this.draw(this.options.kvDelay);
  }

  /** Whether a KV write is lost before it is applied. */
  kvFail(): boolean {
    return this.rng.chance(this.options.kvFailRate);
  }

  /** Whether a KV write's reply is lost after it was applied. */
  kvAmbiguous(): boolean {
    return this.rng.chance(this.options.kvAmbiguousRate);
  }

  private draw(d: DelayRange): number {
    return d.maxMs === d.minMs ? d.minMs : this.rng.int(d.minMs, d.maxMs);
  }
}

/**
 * Runs the twin's callbacks on its clock: a zero delay runs as a microtask, so a twin without
 * delays works without the test ever moving the clock; any other delay is a clock timer.
 */
export class Scheduler {
  constructor(readonly clock: Clock) {}

  /** Runs `fn` after `ms` (never synchronously: NATS never calls back inside the caller's call). */
  later(ms: number, fn: () => void): void {
    if (ms <= 0) queueMicrotask(fn);
    else this.clock.setTimer(ms, fn);
  }

  /** Resolves after `ms`; at once (without a timer) for zero. */
  sleep(ms: number): Promise<void> {
    return ms <= 0 ? Promise.resolve() : this.clock.sleep(ms);
  }

  /** The clock's monotonic time. */
  now(): number {
    return this.clock.monotonic();
  }
}

/** What a connection's KV buckets, watches and consumers need from it. */
export interface ConnectionHost {
  readonly sched: Scheduler;
  readonly faults: Faults;
  isClosed(): boolean;
  /** Stops `c` when the connection closes. */
  track(c: { stop(): void }): void;
  untrack(c: { stop(): void }): void;
}
