/**
 * A bounded WAL: once every owner of a shard has flushed its records up to stream sequence S (its
 * durable consumer acknowledges only what a committed flush holds), the records of that shard up to
 * S are no longer needed by anyone — after a safety window (`--wal-keep-flushed`), they are purged.
 * A shard with an owner down (or one that never consumed) keeps its backlog: its floor does not move.
 *
 * Each shard is trimmed by its preferred owner alone (the first of its placement), every
 * `--wal-trim-interval`. The window is time: a pass records each shard's floor, and purges only up
 * to the floor it recorded at least the window ago, so a record stays at least that long after
 * every owner flushed it.
 */
import { Counter, Gauge } from 'prom-client';
import { hasWalRetention, type Bus, type WalRetention } from '../../transport/bus.js';
import { walDurableName, type Subjects } from '../../transport/subjects.js';
import type { ActorContext } from '../../runtime/actor.js';
import type { Clock, TimerHandle } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import { every } from '../../runtime/periodic.js';

/** A shard's flushed floor as one pass read it (monotonic ms). */
export interface FloorSample {
  atMs: number;
  floor: number;
}

/**
 * Where a shard's WAL may be trimmed: through the floor recorded at least `keepMs` before `nowMs`
 * (the newest such; 0 when none is that old), and the samples later passes still need.
 */
export function trimDecision(
  samples: readonly FloorSample[],
  nowMs: number,
  keepMs: number,
): { trimThrough: number; keep: FloorSample[] } {
  let old = -1;
  for (let i = 0; i < samples.length; i++) if (samples[i]!.atMs <= nowMs - keepMs) old = i;
  if (old < 0) return { trimThrough: 0, keep: [...samples] };
  return { trimThrough: samples[old]!.floor, keep: samples.slice(old) };
}

/** A shard this node owns, with every owner of it (the preferred one first). */
export interface TrimTarget {
  group: string;
  generation: number;
  shard: number;
  owners: readonly string[];
}

/** What the trimmer needs. */
export interface WalTrimDeps {
  bus: Bus & WalRetention;
  subjects: Subjects;
  node: string;
  clock: Clock;
  log: Logger;
  keepMs: number;
  /** The shards this node owns now. */
  targets: () => TrimTarget[];
  trimmed: Counter<'group'>;
  storeBytes: Gauge;
}

/**
 * The last sequence a pass purges, given where the shard may be trimmed: all but the record at the
 * floor, which stays until the floor moves past it. nats-server 2.9 (Debian's), purging a subject
 * through a durable's floor while it holds deliveries not yet acknowledged, moves the durable's
 * delivered floor past them and then ignores their acknowledgements: the floor froze, and the WAL
 * behind it stayed until new records were delivered (half of a 10 M-point load stayed after the
 * writes stopped). Purging below the floor leaves the durable as it is. Checking first that nothing
 * is unacknowledged would race with the next delivery.
 */
export function purgeThrough(trimThrough: number): number {
  return Math.max(0, trimThrough - 1);
}

/** Trims the WAL of the shards this node is the preferred owner of. */
export class WalTrimmer {
  private readonly samples = new Map<string, FloorSample[]>();
  private readonly trimmedThrough = new Map<string, number>();
  /** The stream's size at the last pass (bytes), or null before the first. */
  bytes: number | null = null;
  /** Passes completed. */
  passes = 0;

  constructor(private readonly d: WalTrimDeps) {}

  /** One pass over the owned shards; then reads the stream's size. */
  async pass(): Promise<void> {
    const stream = this.d.subjects.walStream;
    const live = new Set<string>();
    for (const t of this.d.targets()) {
      if (t.owners[0] !== this.d.node) continue;
      const subject = this.d.subjects.wal(t.group, t.shard, t.generation);
      live.add(subject);
      const floors = await Promise.all(
        t.owners.map((n) => this.d.bus.ackFloor(stream, walDurableName(t.group, t.generation, t.shard, n))),
      );
      // An owner that never consumed this shard still needs all of it.
      if (floors.some((f) => f === null)) continue;
      const now = this.d.clock.monotonic();
      const seen = [...(this.samples.get(subject) ?? []), { atMs: now, floor: Math.min(...(floors as number[])) }];
      const { trimThrough, keep } = trimDecision(seen, now, this.d.keepMs);
      this.samples.set(subject, keep);
      const through = purgeThrough(trimThrough);
      if (through <= (this.trimmedThrough.get(subject) ?? 0)) continue;
      const purged = await this.d.bus.purgeBelow(stream, subject, through + 1);
      this.trimmedThrough.set(subject, through);
      this.d.trimmed.inc({ group: t.group }, purged);
      if (purged > 0) this.d.log.debug({ subject, through, purged }, 'WAL trimmed');
    }
    for (const s of [...this.samples.keys()]) if (!live.has(s)) this.samples.delete(s);
    for (const s of [...this.trimmedThrough.keys()]) if (!live.has(s)) this.trimmedThrough.delete(s);
    this.bytes = await this.d.bus.streamBytes(stream);
    this.d.storeBytes.set(this.bytes);
    this.passes++;
  }
}

/**
 * Starts trimming on the node's configuration (`walTrimIntervalMs` 0, or a bus that cannot purge:
 * no trimming), with the metrics `lockstep_wal_trimmed_total{group}` and `lockstep_wal_store_bytes`.
 */
export function startWalTrimming(
  ctx: ActorContext,
  targets: () => TrimTarget[],
): { trimmer: WalTrimmer; timer: TimerHandle } | null {
  const interval = ctx.config.walTrimIntervalMs;
  if (interval <= 0 || !hasWalRetention(ctx.bus)) return null;
  for (const m of ['lockstep_wal_trimmed_total', 'lockstep_wal_store_bytes']) ctx.metrics.removeSingleMetric(m);
  const trimmer = new WalTrimmer({
    bus: ctx.bus,
    subjects: ctx.subjects,
    node: ctx.config.name,
    clock: ctx.clock,
    log: ctx.log,
    keepMs: ctx.config.walKeepFlushedMs,
    targets,
    trimmed: new Counter({
      name: 'lockstep_wal_trimmed_total',
      help: 'WAL records purged by this node once every owner of their shard had flushed them',
      labelNames: ['group'],
      registers: [ctx.metrics],
    }),
    storeBytes: new Gauge({
      name: 'lockstep_wal_store_bytes',
      help: 'Bytes the WAL stream holds in JetStream (all groups), as this node last read it',
      registers: [ctx.metrics],
    }),
  });
  const timer = every(ctx.clock, interval, () => trimmer.pass(), {
    immediately: true,
    onError: (err) => ctx.log.warn({ cause: (err as Error).message }, 'WAL trim pass failed; the next pass retries'),
  });
  return { trimmer, timer };
}
