/**
 * The data role's actor: keeps the node's applied view of groups, measures and streams, from which
 * the shard actors of the data path (WAL consumers over segment files) are opened per owned
 * (group, shard). Today it holds the schema view that the barrier and the gates certify.
 */
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { SchemaCache } from '../../runtime/schema_cache.js';

/** The data node's shard manager. */
export class ShardManager implements Actor {
  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule']);
  private ctx?: ActorContext;

  async start(ctx: ActorContext): Promise<void> {
    this.ctx = ctx;
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
  }

  health(): Record<string, unknown> {
    return {
      schema_revision: this.schema.appliedRevision,
      groups: this.schema.list('group').length,
      measures: this.schema.list('measure').length,
      streams: this.schema.list('stream').length,
    };
  }
}
