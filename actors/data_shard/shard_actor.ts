/**
 * One shard owner (DESIGN §7): reads the WAL of one (group, shard) through its durable consumer,
 * applies records in sequence order to a memtable, flushes parts to the shard store by size and age,
 * and acknowledges the WAL only after a flush committed. A restart resumes from the store's committed
 * sequence; replays are idempotent. Records wait at the shard-side gate until this node applied the
 * schema revision they were validated against.
 *
 * It runs as an object with its own mailbox inside the data actor's thread: applies, flushes and
 * retention passes of one shard never interleave, shards do not wait for each other. Alongside, it
 * polls its WAL lag (wal_lag.ts) on the injected clock.
 */
import type { Bus, DurableConsumer } from '../../transport/bus.js';
import type { Group, Measure, Stream } from '../../transport/schema_types.js';
import { generationOf, resourceInGeneration, type Layout } from '../../transport/layout_types.js';
import { walDurableName, type Subjects } from '../../transport/subjects.js';
import type { Clock, TimerHandle } from '../../runtime/clock.js';
import { isPermanent } from '../../runtime/errors.js';
import type { Logger } from '../../runtime/log.js';
import { Mailbox } from '../../runtime/mailbox.js';
import type { FaultInjector } from '../../runtime/actor.js';
import type { SchemaCache } from '../../runtime/schema_cache.js';
import type { StorageFs } from '../../storage/fs.js';
import { ShardStore, type MergeOptions } from '../../storage/shard_store.js';
import { decodeWalRecord, type WalRecord } from '../../transport/wal_record.js';
import type { PartRunner } from '../../storage/part_pool.js';
import { elementIdColumn } from '../../storage/element_id.js';
import { Memtable } from './memtable.js';
import { every } from '../../runtime/periodic.js';
import { currentTtlMs, DEFAULT_RETENTION_INTERVAL_MS, retentionPass } from './retention_loop.js';
import { DEFAULT_WAL_LAG_POLL_MS, readWalLag, type WalLagReading } from './wal_lag.js';

/** When a shard flushes. */
export interface FlushPolicy {
  /** Flush once the memtable holds this many rows. */
  maxRows: number;
  /** Flush rows older than this (ms since they were applied). */
  maxAgeMs: number;
  /** Unacknowledged WAL messages are redelivered after this long (must exceed a flush cycle). */
  ackWaitMs: number;
}

/** Defaults: flush every 100 000 rows or 2 s; redeliveries only far beyond a flush cycle. */
export const DEFAULT_FLUSH_POLICY: FlushPolicy = { maxRows: 100_000, maxAgeMs: 2000, ackWaitMs: 300_000 };
/** How long a shard goes without a flush before the parts of its segments are merged into one (ms). */
export const DEFAULT_QUIET_MERGE_MS = 10_000;
/** How long one segment goes without a flush before its parts are merged into one while others still take flushes (ms). */
export const COLD_SEGMENT_MS = 600_000;

/** What a shard actor needs. */
export interface ShardActorDeps {
  bus: Bus;
  subjects: Subjects;
  fs: StorageFs;
  node: string;
  /** The group as its layout generation `generation` places and segments it. */
  group: Group;
  generation: number;
  shard: number;
  shardDir: string;
  cache: SchemaCache;
  clock: Clock;
  log: Logger;
  policy?: FlushPolicy;
  /** Between retention passes (ms); default DEFAULT_RETENTION_INTERVAL_MS. One pass also runs at open. */
  retentionIntervalMs?: number;
  /** Between WAL lag readings (ms); default DEFAULT_WAL_LAG_POLL_MS. */
  walLagPollMs?: number;
  /**
   * After this long (ms) without a flush, the shard merges each segment's parts into one where
   * allowed (storage/merge_policy.ts, pickQuietRun); default DEFAULT_QUIET_MERGE_MS. A segment
   * without a flush for COLD_SEGMENT_MS merges even while others take flushes.
   */
  quietMergeMs?: number;
  /** Encodes flushed and merged parts off this thread (shared by the node's shards); inline without. */
  pool?: PartRunner;
  /** Called with a failure the shard cannot get past (the node stops). */
  onFatal: (err: unknown) => void;
  /** Injected faults (tests and drills): `wal_apply` delays. */
  faults?: FaultInjector;
  /** Told how long each flush and each merge pass took (seconds), for the node's metrics. */
  timings?: { flushed(seconds: number): void; merged(seconds: number): void };
}

/** One owned (group, shard). */
export class ShardActor {
  private readonly mailbox = new Mailbox();
  private consumer?: DurableConsumer;
  private timer?: TimerHandle;
  private retention?: TimerHandle;
  private quietMerges?: TimerHandle;
  private lagPoll?: TimerHandle;
  /** The last WAL lag reading, or null before the first. */
  private lagReading: WalLagReading | null = null;
  private loop?: Promise<void>;
  private closed = false;
  /** Read-your-writes waiters: resolved once `appliedSequence` reaches `seq`. */
  private waiters: { seq: number; done: (ok: boolean) => void }[] = [];
  /** The last WAL sequence skipped (a record of a deleted resource): it counts as applied. */
  private skippedThrough = 0;

  private constructor(
    private readonly deps: ShardActorDeps,
    readonly store: ShardStore,
    readonly memtable: Memtable,
    private readonly policy: FlushPolicy,
  ) {}

  /** Opens the shard's store (version-checked) and starts reading its WAL. */
  static async open(deps: ShardActorDeps): Promise<ShardActor> {
    const policy = deps.policy ?? DEFAULT_FLUSH_POLICY;
    const store = await ShardStore.open(deps.fs, deps.shardDir, { clock: deps.clock, pool: deps.pool });
    const group = deps.group.name;
    const memtable = new Memtable({
      group: deps.group,
      resumeAfter: store.lastSequence,
      clock: deps.clock,
      resolve: (kind, name) => shapeInGeneration(deps.cache, group, deps.generation, kind, name),
    });
    const actor = new ShardActor(deps, store, memtable, policy);
    actor.consumer = await deps.bus.consume({
      stream: deps.subjects.walStream,
      // One durable per owner: with replicas > 1 every owner reads the WAL independently.
      durable: walDurableName(group, deps.generation, deps.shard, deps.node),
      filterSubject: deps.subjects.wal(group, deps.shard, deps.generation),
      ackWaitMs: policy.ackWaitMs,
      maxAckPending: 1_000_000,
      // Resume right after what the store committed, never from the durable's own state.
      startSequence: store.lastSequence + 1,
    });
    actor.loop = actor.run().catch((err) => {
      if (!actor.closed) deps.onFatal(err);
    });
    actor.scheduleAgeFlush();
    actor.scheduleRetention(deps.retentionIntervalMs ?? DEFAULT_RETENTION_INTERVAL_MS);
    actor.scheduleWalLag(deps.walLagPollMs ?? DEFAULT_WAL_LAG_POLL_MS);
    actor.scheduleQuietMerges(deps.quietMergeMs ?? DEFAULT_QUIET_MERGE_MS);
    return actor;
  }

  /** Flushes what was applied so far, in turn with applies (its mailbox): its rows are then in parts. */
  flushNow(): Promise<void> {
    return this.mailbox.post(() => this.flush());
  }

  /**
   * Resolves true once no merge of this shard runs or waits, false after `ms` (or when closed):
   * parts written in bulk (a copy) are merged before reads rely on them.
   */
  mergesIdle(ms: number): Promise<boolean> {
    if (this.closed || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = this.deps.clock.setTimer(ms, () => resolve(false));
      void this.store.mergesIdle().then(() => {
        timer.cancel();
        resolve(!this.closed);
      });
    });
  }

  /** The last WAL lag reading (published sequence, applied, lag), or null before the first. */
  get walLag(): WalLagReading | null {
    return this.lagReading;
  }

  /** The highest WAL sequence applied (in the memtable or flushed). */
  get appliedSequence(): number {
    return Math.max(this.memtable.appliedSequence, this.store.lastSequence, this.skippedThrough);
  }

  /**
   * Resolves true once this owner applied WAL sequence `seq` (a write token), false when `ms`
   * passed first or the shard closed.
   */
  waitApplied(seq: number, ms: number): Promise<boolean> {
    if (this.appliedSequence >= seq) return Promise.resolve(true);
    if (this.closed || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        seq,
        done: (ok: boolean) => {
          timer.cancel();
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(ok);
        },
      };
      const timer = this.deps.clock.setTimer(ms, () => w.done(false));
      this.waiters.push(w);
    });
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const applied = this.appliedSequence;
    for (const w of [...this.waiters]) if (this.closed || applied >= w.seq) w.done(!this.closed);
  }

  private async run(): Promise<void> {
    for await (const m of this.consumer!) {
      if (this.closed) return;
      const record = decodeWalRecord(m.data, 'dictionaries');
      const late = this.deps.faults?.check('wal_apply', this.deps.group.name, this.deps.generation) ?? 0;
      if (late > 0) {
        this.deps.log.warn({ group: this.deps.group.name, seq: m.seq, delay_ms: late }, 'injected WAL apply delay');
        await this.deps.clock.sleep(late);
      }
      const present = await this.gate(record);
      await this.mailbox.post(async () => {
        // A record of a resource deleted since it was written has nowhere to go: it is skipped
        // (its sequence still counts as applied once a later flush commits).
        if (present) this.memtable.apply(record, m.seq, this.deps.clock.now());
        else {
          this.skippedThrough = m.seq;
          this.deps.log.warn(
            { group: record.group, name: record.name, seq: m.seq },
            'WAL record of a deleted resource skipped',
          );
        }
        if (this.memtable.rowCount >= this.policy.maxRows) await this.flush();
      });
      this.wakeWaiters();
    }
  }

  /**
   * The shard-side gate: waits until this node applied the revision the record was validated at.
   * False when the resource was deleted since (nothing to apply it to).
   */
  private async gate(record: WalRecord): Promise<boolean> {
    const key = { kind: record.kind, group: record.group, name: record.name };
    while (!this.closed) {
      const stored = this.deps.cache.get(key);
      if (stored && stored.mod_revision >= record.revision) return true;
      if (!stored && this.deps.cache.appliedRevision >= record.revision) return false;
      await this.deps.cache.waitForChange(1000, this.deps.clock);
    }
    return false;
  }

  private scheduleAgeFlush(): void {
    const tick = () => {
      if (this.closed) return;
      void this.mailbox
        .post(async () => {
          const oldest = this.memtable.oldestAppliedAtMs;
          if (oldest !== null && this.deps.clock.now() - oldest >= this.policy.maxAgeMs) await this.flush();
        })
        .catch((err) => this.deps.onFatal(err))
        .finally(() => {
          this.timer = this.deps.clock.setTimer(Math.max(50, this.policy.maxAgeMs / 4), tick);
        });
    };
    this.timer = this.deps.clock.setTimer(Math.max(50, this.policy.maxAgeMs / 4), tick);
  }

  /**
   * Retention through the mailbox: at open, then every `intervalMs`. A pass first flushes, so rows
   * of an expiring segment still in the memtable go with their segment instead of re-creating it.
   */
  private scheduleRetention(intervalMs: number): void {
    const where = { group: this.deps.group.name, shard: this.deps.shard };
    this.retention = every(
      this.deps.clock,
      intervalMs,
      () =>
        this.mailbox.post(async () => {
          if (this.closed) return;
          await this.flush();
          await retentionPass(this.store, currentTtlMs(this.deps.cache, this.deps.group), this.deps.log, where);
        }),
      {
        immediately: true,
        onError: (err) => {
          if (this.closed) return;
          if (isPermanent(err)) this.deps.onFatal(err);
          else
            this.deps.log.warn(
              { ...where, cause: (err as Error).message },
              'retention pass failed; retried at the next interval',
            );
        },
      },
    );
  }

  /**
   * Every half of `quietMs`, a merge pass that also merges the parts of quiet segments (the shard
   * without a flush for `quietMs`, or the segment for COLD_SEGMENT_MS): a loaded day is then read
   * from one part whose blocks do not overlap, whatever order its writers' rows arrived in.
   */
  private scheduleQuietMerges(quietMs: number): void {
    this.quietMerges = every(
      this.deps.clock,
      Math.max(1, quietMs / 2),
      async () => {
        if (!this.closed) this.mergeInBackground({ idleMs: quietMs, coldMs: Math.max(quietMs, COLD_SEGMENT_MS) });
      },
      { onError: () => undefined },
    );
  }

  /** Reads the WAL lag every `intervalMs`; a failed reading keeps the previous one. */
  private scheduleWalLag(intervalMs: number): void {
    const src = {
      bus: this.deps.bus,
      consumer: this.consumer!,
      stream: this.deps.subjects.walStream,
      subject: this.deps.subjects.wal(this.deps.group.name, this.deps.shard, this.deps.generation),
      applied: () => this.appliedSequence,
    };
    this.lagPoll = every(
      this.deps.clock,
      intervalMs,
      async () => {
        this.lagReading = await readWalLag(src, this.lagReading);
      },
      {
        immediately: true,
        onError: (err) =>
          this.deps.log.debug(
            { group: this.deps.group.name, shard: this.deps.shard, cause: (err as Error).message },
            'WAL lag reading failed',
          ),
      },
    );
  }

  /** Writes what the memtable holds as parts, commits, then acknowledges the WAL up to it. */
  private async flush(): Promise<void> {
    const batches = this.memtable.drainAll();
    if (batches.length === 0) return;
    const upTo = Math.max(...batches.map((b) => b.lastSequence));
    const started = this.deps.clock.monotonic();
    await this.store.flush(batches, upTo);
    this.deps.timings?.flushed((this.deps.clock.monotonic() - started) / 1000);
    this.memtable.resetAfterFlush(upTo);
    this.consumer?.ackUpTo(upTo);
    this.deps.log.debug(
      { group: this.deps.group.name, shard: this.deps.shard, parts: batches.length, up_to: upTo },
      'shard flushed',
    );
    this.mergeInBackground();
  }

  /**
   * Merges parts past the store's bound — and, with `quiet`, the parts of quiet segments — off
   * the mailbox (applies and flushes go on meanwhile; calls made during a merge share
   * its next pass). Damage stops the node; anything else waits for the next flush or quiet tick to
   * try again.
   */
  private mergeInBackground(quiet?: MergeOptions['quiet']): void {
    const group = this.deps.group.name;
    const started = this.deps.clock.monotonic();
    void this.store
      .merge({
        quiet,
        keyTagOf: (name) => {
          const stream = this.deps.cache.get({ kind: 'stream', group, name })?.resource as Stream | undefined;
          if (stream) return elementIdColumn(stream);
          return this.deps.cache.get({ kind: 'measure', group, name }) ? null : undefined;
        },
      })
      .then((done) => {
        if (done.length > 0) this.deps.timings?.merged((this.deps.clock.monotonic() - started) / 1000);
        for (const d of done)
          this.deps.log.debug(
            {
              group,
              shard: this.deps.shard,
              name: d.name,
              replaced: d.replaced,
              rows_in: d.rowsIn,
              rows_out: d.rowsOut,
            },
            'parts merged',
          );
      })
      .catch((err) => {
        if (this.closed) return;
        if (isPermanent(err)) this.deps.onFatal(err);
        else
          this.deps.log.warn(
            { group, shard: this.deps.shard, cause: (err as Error).message },
            'merge failed; retried after the next flush',
          );
      });
  }

  /** Stops reading, flushes what was applied (so a restart replays nothing), closes the store. */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeWaiters();
    this.timer?.cancel();
    this.retention?.cancel();
    this.quietMerges?.cancel();
    this.lagPoll?.cancel();
    await this.consumer?.stop();
    await this.loop;
    await this.mailbox
      .post(() => this.flush())
      .catch((err) => this.deps.log.warn({ cause: (err as Error).message }, 'final flush failed; the WAL replays it'));
    await this.store.close();
  }
}

/**
 * A resource as the rows of layout generation `generation` store it: the generation's own shape of
 * a reshaped measure (transport/layout_types.ts), else the registry's. Undefined when not applied here.
 */
export function shapeInGeneration(
  cache: SchemaCache,
  group: string,
  generation: number,
  kind: 'measure' | 'stream',
  name: string,
): Measure | Stream | undefined {
  const r = cache.get({ kind, group, name })?.resource as Measure | Stream | undefined;
  if (!r) return undefined;
  const layout = cache.get({ kind: 'layout', group, name: '' })?.resource as Layout | undefined;
  return resourceInGeneration(layout && generationOf(layout, generation), kind, name, r);
}
