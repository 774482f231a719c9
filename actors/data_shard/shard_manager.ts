/**
 * The data role's actor: owns the node's data directory (its lock, and the storage-version check of
 * every segment at boot and of every group met at runtime) and keeps the node's applied view of
 * groups, measures and streams, from which the shard actors of the data path (WAL consumers over
 * segment files) are opened per owned (group, shard).
 *
 * Data of an unsupported storage version is a permanent error: at start it fails the actor (the node
 * exits naming the path and the versions, with the lock released); for a group created later it
 * fails the schema event (the node stops instead of serving partially).
 */
import { resolve } from 'node:path';
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { SchemaCache } from '../../runtime/schema_cache.js';
import { openDataDir, openGroupDir, type DataDir } from '../../storage/data_dir.js';
import { nodeFs } from '../../storage/fs.js';

/** The data node's shard manager. */
export class ShardManager implements Actor {
  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule'], {
    onPut: async (key) => {
      // Checked once per group this actor meets (boot already checked what is on disk then).
      if (key.kind !== 'group' || !this.dataDir || this.groupsChecked.has(key.group)) return;
      await openGroupDir(nodeFs, this.dataDir, key.group);
      this.groupsChecked.add(key.group);
    },
  });
  private dataDir?: DataDir;
  private readonly groupsChecked = new Set<string>();

  async start(ctx: ActorContext): Promise<void> {
    this.dataDir = await openDataDir(nodeFs, resolve(ctx.config.dataDir), ctx.config.name, { clock: ctx.clock });
    ctx.log.info({ dir: this.dataDir.nodeDir, segments: this.dataDir.segments.length }, 'data directory open');
  }

  async stop(): Promise<void> {
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
    };
  }
}
