/**
 * The liaison's public API actor: serves the schema registry API (queue group `liaison`) and keeps
 * the node's applied schema view that the write and query gates read.
 */
import type { Subscription } from '../../transport/bus.js';
import { Counter } from 'prom-client';
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { SchemaCache } from '../../runtime/schema_cache.js';
import { SchemaRegistry } from './schema_registry.js';
import { serveSchemaApi } from './schema_service.js';

/** The API actor. */
export class ApiActor implements Actor {
  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule']);
  private subs: Subscription[] = [];

  async start(ctx: ActorContext): Promise<void> {
    const errorsTotal = new Counter({
      name: 'lockstep_api_errors_total',
      help: 'Error replies of the public API by area and code',
      labelNames: ['area', 'code'],
      registers: [ctx.metrics],
    });
    const registry = await SchemaRegistry.open(ctx.bus);
    this.subs = serveSchemaApi(ctx.bus, ctx.subjects, registry, {
      onError: (err) => errorsTotal.inc({ area: 'schema', code: err.code }),
    });
    await ctx.bus.flush();
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  health(): Record<string, unknown> {
    return { schema_revision: this.schema.appliedRevision, resources: this.schema.size };
  }
}
