/**
 * The claimer role's actor. It keeps the applied schema that migrations (DESIGN §9) start from;
 * claims and cutover drives land here with the migrations issue.
 */
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { SchemaCache } from '../../runtime/schema_cache.js';

/** The cutover claimer. */
export class CutoverClaimer implements Actor {
  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule']);

  async start(_ctx: ActorContext): Promise<void> {}

  async stop(): Promise<void> {}

  health(): Record<string, unknown> {
    return { schema_revision: this.schema.appliedRevision, resources: this.schema.size };
  }
}
