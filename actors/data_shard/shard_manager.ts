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
import { resolve } from 'node:path';
import { Gauge } from 'prom-client';
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { SchemaCache } from '../../runtime/schema_cache.js';
import { toFailureInfo, isPermanent, PermanentError } from '../../runtime/errors.js';
import { openDataDir, openGroupDir, shardDirOf, type DataDir } from '../../storage/data_dir.js';
import { nodeFs } from '../../storage/fs.js';
import { PartPool } from '../../storage/part_pool.js';
import { QueryPool } from '../../storage/query/query_pool.js';
import type { Group } from '../../transport/schema_types.js';
import { placementSpecOf, shardsOwnedBy } from '../../storage/placement.js';
import type { Subscription } from '../../transport/bus.js';
import { dataNodeFs } from './fault_fs.js';
import { ShardActor } from './shard_actor.js';
import { serveShardQueries } from './shard_query_service.js';

/** Timings of the shard actors a manager opens (defaults in retention_loop.ts and wal_lag.ts). */
export interface ShardManagerOptions {
  /** Between retention passes of a shard (ms). */
  retentionIntervalMs?: number;
  /** Between WAL lag readings of a shard (ms). */
  walLagPollMs?: number;
}

/** Threads of a data node's query pool. */
const QUERY_THREADS = 2;

/** The data node's shard manager. */
export class ShardManager implements Actor {
  constructor(private readonly opts: ShardManagerOptions = {}) {}

  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule'], {
    onPut: async (key, resource) => {
      // Checked and opened once per group this actor meets (boot already checked what is on disk).
      if (key.kind !== 'group' || !this.dataDir || this.groupsChecked.has(key.group)) return;
      await openGroupDir(nodeFs, this.dataDir, key.group);
      this.groupsChecked.add(key.group);
      await this.openShards(resource as Group);
    },
    onDelete: async (key) => {
      if (key.kind !== 'group') return;
      this.groupsChecked.delete(key.group);
      await Promise.all(
        [...this.shards]
          .filter(([k]) => k.startsWith(`${key.group}/`))
          .map(async ([k, a]) => {
            this.shards.delete(k);
            this.querySubs.get(k)?.unsubscribe();
            this.querySubs.delete(k);
            await a.close();
          }),
      );
    },
  });
  /** Open shard owners by `group/shard`. */
  private readonly shards = new Map<string, ShardActor>();
  /** Their query subscriptions, by `group/shard`. */
  private readonly querySubs = new Map<string, Subscription>();
  private ctx?: ActorContext;
  private pool?: PartPool;
  private queryPool?: QueryPool;
  private dataDir?: DataDir;
  private readonly groupsChecked = new Set<string>();

  async start(ctx: ActorContext): Promise<void> {
    this.ctx = ctx;
    const shards = this.shards;
    ctx.metrics.removeSingleMetric('lockstep_wal_lag'); // a restart on the same registry
    new Gauge({
      name: 'lockstep_wal_lag',
      help: "Last WAL sequence published on a shard's subject minus the sequence this owner applied (stream sequences)",
      labelNames: ['group', 'shard'],
      registers: [ctx.metrics],
      // Read at scrape time from each shard's last reading, so closed shards leave no stale series.
      collect() {
        this.reset();
        for (const [key, a] of shards) {
          const r = a.walLag;
          if (r)
            this.set({ group: key.slice(0, key.lastIndexOf('/')), shard: key.slice(key.lastIndexOf('/') + 1) }, r.lag);
        }
      },
    });
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
  }

  /** Opens a shard actor for every shard of `group` this node owns by its placement record. */
  private async openShards(group: Group): Promise<void> {
    const ctx = this.ctx!;
    const placement = placementSpecOf(group);
    if (!placement) {
      ctx.log.warn({ group: group.name }, 'group has no placement record; this node opens none of its shards');
      return;
    }
    const owned = shardsOwnedBy(placement, ctx.config.name);
    for (const shard of owned) {
      const actor = await ShardActor.open({
        bus: ctx.bus,
        subjects: ctx.subjects,
        fs: dataNodeFs(nodeFs, ctx.config.faultInjection, ctx.config.faultKillAtPartCommit),
        node: ctx.config.name,
        group,
        shard,
        shardDir: shardDirOf(this.dataDir!.nodeDir, group.name, shard),
        cache: this.schema,
        clock: ctx.clock,
        log: ctx.log,
        retentionIntervalMs: this.opts.retentionIntervalMs,
        walLagPollMs: this.opts.walLagPollMs,
        pool: this.pool,
        onFatal: (err) =>
          ctx.supervisor.fatal(
            toFailureInfo(
              isPermanent(err) ? err : new PermanentError(`shard ${group.name}/${shard}: ${(err as Error).message}`),
            ),
          ),
      });
      this.shards.set(`${group.name}/${shard}`, actor);
      this.querySubs.set(
        `${group.name}/${shard}`,
        serveShardQueries(actor, group.name, shard, {
          bus: ctx.bus,
          subjects: ctx.subjects,
          cache: this.schema,
          clock: ctx.clock,
          node: ctx.config.name,
          log: ctx.log,
          pool: this.queryPool,
        }),
      );
    }
    // Answer queries only once the server registered the subscriptions.
    if (owned.length > 0) await ctx.bus.flush();
    if (owned.length > 0) ctx.log.info({ group: group.name, shards: owned }, 'shards open');
  }

  async stop(): Promise<void> {
    for (const sub of this.querySubs.values()) sub.unsubscribe();
    this.querySubs.clear();
    await Promise.all([...this.shards.values()].map((a) => a.close().catch(() => undefined)));
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
      shards: [...this.shards].map(([k, a]) => ({
        shard: k,
        applied: a.appliedSequence,
        flushed: a.store.lastSequence,
        published: a.walLag?.published ?? null,
        wal_lag: a.walLag?.lag ?? null,
      })),
    };
  }
}
