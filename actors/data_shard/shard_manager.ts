/**
 * The data role's actor: owns the node's data directory (its lock, and the storage-version check of
 * every segment at boot and of every group met at runtime) and keeps the node's applied view of
 * groups, measures and streams, from which the shard actors of the data path (WAL consumers over
 * segment files) are opened per owned (group, shard).
 *
 * Data of an unsupported storage version is a permanent error: at start it fails the actor (the node
 * exits naming the path and the versions, with the lock released); for a group created later it
 * fails the schema event (the node stops instead of serving partially).
 *
 * Each shard actor runs retention and reads its WAL lag on the context's clock; the lag is exported
 * as the gauge `lockstep_wal_lag{group, shard}` and shown per shard in `health()`.
 */
import type { ShardHealth } from '../../transport/api_types.js';
import { join, resolve } from 'node:path';
import { Gauge } from 'prom-client';
import { DEFAULT_MERGE_POLICY } from '../../storage/shard_store.js';
import { StorageMetrics } from './storage_metrics.js';
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { SchemaCache } from '../../runtime/schema_cache.js';
import { toFailureInfo, isPermanent, PermanentError } from '../../runtime/errors.js';
import {
  dropGeneration,
  generationsOnDisk,
  openDataDir,
  openGroupDir,
  shardDirOf,
  type DataDir,
} from '../../storage/data_dir.js';
import {
  groupAtGeneration,
  layoutOf,
  writeGenerations,
  type Layout,
  type LayoutGeneration,
} from '../../transport/layout_types.js';
import { nodeFs } from '../../storage/fs.js';
import { PartPool } from '../../storage/part_pool.js';
import { QueryPool } from '../../storage/query/query_pool.js';
import type { Group } from '../../transport/schema_types.js';
import { placeShards, placementSpecOf, shardsOwnedBy } from '../../storage/placement.js';
import type { Subscription } from '../../transport/bus.js';
import { dataNodeFs } from './fault_fs.js';
import { ShardActor } from './shard_actor.js';
import { serveShardQueries } from './shard_query_service.js';
import { serveBackfill } from './backfill_service.js';
import { serveCaughtUp } from './caught_up_service.js';
import { serveSnapshotFiles, serveSnapshots, type BackupDeps } from './backup_service.js';
import { startWalTrimming, type WalTrimmer } from './wal_trim.js';
import type { TimerHandle } from '../../runtime/clock.js';

/** Timings of the shard actors a manager opens (defaults in retention_loop.ts, wal_lag.ts and shard_actor.ts). */
export interface ShardManagerOptions {
  /** Between retention passes of a shard (ms). */
  retentionIntervalMs?: number;
  /** Between WAL lag readings of a shard (ms). */
  walLagPollMs?: number;
  /** How long a segment goes without a flush before its parts are merged into one (ms). */
  quietMergeMs?: number;
}

/** One open shard owner and its query subscription. */
interface OwnedShard {
  group: string;
  generation: number;
  shard: number;
  actor: ShardActor;
  /** Its query, backfill, caught-up and snapshot subscriptions. */
  subs: Subscription[];
  /** Every owner of the shard, the preferred one first (placement is fixed per generation). */
  owners: string[];
}

function shardKey(group: string, generation: number, shard: number): string {
  return `${group}/${generation}/${shard}`;
}

/** Threads of a data node's query pool. */
const QUERY_THREADS = 2;

/** The data node's shard manager. */
export class ShardManager implements Actor {
  constructor(private readonly opts: ShardManagerOptions = {}) {}

  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule', 'layout'], {
    onPut: async (key, resource) => {
      if (key.kind === 'group') await this.reconcile(key.group, { group: resource as Group });
      if (key.kind === 'layout') await this.reconcile(key.group, { layout: resource as Layout });
    },
    onDelete: async (key) => {
      // A layout is deleted only with its group, whose own delete follows: nothing to do before it.
      if (key.kind !== 'group') return;
      this.groupsChecked.delete(key.group);
      await Promise.all([...this.shards.values()].filter((o) => o.group === key.group).map((o) => this.closeShard(o)));
    },
  });
  /** Open shard owners by `group/generation/shard`. */
  private readonly shards = new Map<string, OwnedShard>();
  private ctx?: ActorContext;
  private pool?: PartPool;
  private queryPool?: QueryPool;
  private dataDir?: DataDir;
  private readonly groupsChecked = new Set<string>();
  private trim?: { trimmer: WalTrimmer; timer: TimerHandle } | null;
  private storageMetrics?: StorageMetrics;
  private backup?: { deps: BackupDeps; subs: Subscription[] };

  async start(ctx: ActorContext): Promise<void> {
    this.ctx = ctx;
    const shards = this.shards;
    ctx.metrics.removeSingleMetric('lockstep_wal_lag'); // a restart on the same registry
    new Gauge({
      name: 'lockstep_wal_lag',
      help: "Last WAL sequence published on a shard's subject minus the sequence this owner applied (stream sequences)",
      labelNames: ['group', 'generation', 'shard'],
      registers: [ctx.metrics],
      // Read at scrape time from each shard's last reading, so closed shards leave no stale series.
      collect() {
        this.reset();
        for (const o of shards.values()) {
          const r = o.actor.walLag;
          if (r) this.set({ group: o.group, generation: String(o.generation), shard: String(o.shard) }, r.lag);
        }
      },
    });
    this.storageMetrics = new StorageMetrics(
      ctx.metrics,
      () =>
        [...shards.values()].map((o) => ({
          group: o.group,
          parts: () => o.actor.store.listParts(),
          memtableRows: () => o.actor.memtable.rowCount,
        })),
      DEFAULT_MERGE_POLICY.maxPartsPerName,
    );
    // One encoding thread for the node's shards: flushes and merges leave this thread responsive.
    // Created before the data dir is locked, so a failure here holds nothing.
    // Query scans run on their own threads (two: the cores of a small node), so shards of one
    // query run in parallel and a long scan never holds up the WAL apply.
    [this.pool, this.queryPool] = await Promise.all([
      this.pool ?? PartPool.create({ threads: 1 }),
      this.queryPool ?? QueryPool.create({ threads: QUERY_THREADS }),
    ]);
    this.dataDir = await openDataDir(nodeFs, resolve(ctx.config.dataDir), ctx.config.name, { clock: ctx.clock });
    ctx.log.info({ dir: this.dataDir.nodeDir, segments: this.dataDir.segments.length }, 'data directory open');
    this.trim = startWalTrimming(ctx, () => [...shards.values()]);
    const backupDeps: BackupDeps = {
      bus: ctx.bus,
      subjects: ctx.subjects,
      clock: ctx.clock,
      log: ctx.log,
      node: ctx.config.name,
      root: join(resolve(ctx.config.dataDir), `${ctx.config.name}.backups`),
    };
    this.backup = { deps: backupDeps, subs: serveSnapshotFiles(backupDeps) };
  }

  /**
   * Brings the open shards of `groupName` in line with its layout: opens the shards this node owns
   * in every generation the layout writes (current, next, retiring), closes the others, and removes
   * from disk the generations the layout no longer has (a cancelled `next`, a dropped `retiring`).
   * `given` holds what a schema event is about to put in the cache.
   */
  private async reconcile(groupName: string, given: { group?: Group; layout?: Layout }): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || !this.dataDir) return;
    const group = given.group ?? (this.schema.get({ kind: 'group', group: groupName, name: '' })?.resource as Group);
    if (!group) return;
    if (!this.groupsChecked.has(groupName)) {
      // Checked once per group this actor meets (boot already checked what is on disk).
      await openGroupDir(nodeFs, this.dataDir, groupName);
      this.groupsChecked.add(groupName);
    }
    const stored =
      given.layout ?? (this.schema.get({ kind: 'layout', group: groupName, name: '' })?.resource as Layout);
    const layout = layoutOf(group, stored);
    const want = new Map<string, { gen: LayoutGeneration; shard: number }>();
    for (const gen of writeGenerations(layout)) {
      const placement = placementSpecOf(groupAtGeneration(group, gen));
      if (!placement) {
        ctx.log.warn({ group: groupName, generation: gen.generation }, 'no placement record; no shard opened');
        continue;
      }
      for (const shard of shardsOwnedBy(placement, ctx.config.name))
        want.set(shardKey(groupName, gen.generation, shard), { gen, shard });
    }
    const gone = [...this.shards].filter(([k, o]) => o.group === groupName && !want.has(k)).map(([, o]) => o);
    await Promise.all(gone.map((o) => this.closeShard(o)));
    const live = new Set(writeGenerations(layout).map((g) => g.generation));
    for (const generation of await generationsOnDisk(nodeFs, this.dataDir.nodeDir, groupName)) {
      if (live.has(generation)) continue;
      const shards = await dropGeneration(nodeFs, this.dataDir.nodeDir, groupName, generation);
      ctx.log.info({ group: groupName, generation, shards }, 'layout generation dropped from disk');
    }
    const opened: string[] = [];
    for (const [key, { gen, shard }] of want) {
      if (this.shards.has(key)) continue;
      await this.openShard(groupAtGeneration(group, gen), gen.generation, shard);
      opened.push(gen.generation === 1 ? String(shard) : `g${gen.generation}/${shard}`);
    }
    // Answer queries only once the server registered the subscriptions.
    if (opened.length > 0) {
      await ctx.bus.flush();
      ctx.log.info({ group: groupName, shards: opened }, 'shards open');
    }
  }

  private async openShard(group: Group, generation: number, shard: number): Promise<void> {
    const ctx = this.ctx!;
    const where = generation === 1 ? `${group.name}/${shard}` : `${group.name}/g${generation}/${shard}`;
    const actor = await ShardActor.open({
      bus: ctx.bus,
      subjects: ctx.subjects,
      fs: dataNodeFs(nodeFs, ctx.config.faultInjection, ctx.config.faultKillAtPartCommit),
      node: ctx.config.name,
      group,
      generation,
      shard,
      shardDir: shardDirOf(this.dataDir!.nodeDir, group.name, shard, generation),
      cache: this.schema,
      clock: ctx.clock,
      log: ctx.log,
      retentionIntervalMs: this.opts.retentionIntervalMs,
      walLagPollMs: this.opts.walLagPollMs,
      quietMergeMs: this.opts.quietMergeMs,
      pool: this.pool,
      faults: ctx.faults,
      timings: {
        flushed: (s) => this.storageMetrics?.flushed(group.name, s),
        merged: (s) => this.storageMetrics?.merged(group.name, s),
      },
      onFatal: (err) =>
        ctx.supervisor.fatal(
          toFailureInfo(isPermanent(err) ? err : new PermanentError(`shard ${where}: ${(err as Error).message}`)),
        ),
    });
    const backfill = serveBackfill(actor, shard, {
      bus: ctx.bus,
      subjects: ctx.subjects,
      cache: this.schema,
      clock: ctx.clock,
      node: ctx.config.name,
      log: ctx.log,
      group,
      generation,
      faults: ctx.faults,
    });
    const query = serveShardQueries(actor, group.name, shard, {
      bus: ctx.bus,
      subjects: ctx.subjects,
      cache: this.schema,
      clock: ctx.clock,
      node: ctx.config.name,
      log: ctx.log,
      pool: this.queryPool,
      generation,
      budgetRows: ctx.config.queryBudgetRows,
    });
    const caughtUp = serveCaughtUp(actor, {
      bus: ctx.bus,
      subjects: ctx.subjects,
      node: ctx.config.name,
      group: group.name,
      generation,
      shard,
    });
    const snapshots = serveSnapshots(
      actor,
      { group: group.name, generation, shard, walSubject: ctx.subjects.wal(group.name, shard, generation) },
      this.backup!.deps,
    );
    this.shards.set(shardKey(group.name, generation, shard), {
      group: group.name,
      generation,
      shard,
      actor,
      subs: [query, backfill, caughtUp, snapshots],
      owners: placeShards(placementSpecOf(group)!)[shard] ?? [],
    });
  }

  private async closeShard(o: OwnedShard): Promise<void> {
    this.shards.delete(shardKey(o.group, o.generation, o.shard));
    for (const sub of o.subs) sub.unsubscribe();
    await o.actor.close();
  }

  async stop(): Promise<void> {
    this.trim?.timer.cancel();
    for (const sub of this.backup?.subs ?? []) sub.unsubscribe();
    this.backup = undefined;
    for (const o of this.shards.values()) for (const sub of o.subs) sub.unsubscribe();
    await Promise.all([...this.shards.values()].map((o) => o.actor.close().catch(() => undefined)));
    this.shards.clear();
    await this.pool?.destroy();
    this.pool = undefined;
    await this.queryPool?.destroy();
    this.queryPool = undefined;
    await this.dataDir?.close();
    this.dataDir = undefined;
  }

  health(): Record<string, unknown> {
    return {
      data_dir: this.dataDir?.nodeDir ?? null,
      schema_revision: this.schema.appliedRevision,
      groups: this.schema.list('group').length,
      measures: this.schema.list('measure').length,
      streams: this.schema.list('stream').length,
      wal_store_bytes: this.trim?.trimmer.bytes ?? null,
      wal_trim_passes: this.trim?.trimmer.passes ?? null,
      shards: [...this.shards.values()].map((o): ShardHealth => ({
        shard: o.generation === 1 ? `${o.group}/${o.shard}` : `${o.group}/g${o.generation}/${o.shard}`,
        applied: o.actor.appliedSequence,
        flushed: o.actor.store.lastSequence,
        published: o.actor.walLag?.published ?? null,
        wal_lag: o.actor.walLag?.lag ?? null,
      })),
    };
  }
}
