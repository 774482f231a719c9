/**
 * The liaison's public API actor: serves the schema registry, migration, write and query APIs (queue group
 * `liaison`) and keeps the node's applied schema view that the write and query gates read.
 */
import type { Subscription } from '../../transport/bus.js';
import { Counter } from 'prom-client';
import type { Actor, ActorContext } from '../../runtime/actor.js';
import { MemberTable, type Heartbeat } from '../../runtime/membership.js';
import { effectiveRoles } from '../../runtime/roles.js';
import { SchemaCache } from '../../runtime/schema_cache.js';
import { decode } from '../../transport/codec.js';
import { GateMetrics, SchemaGate } from './gates.js';
import { SchemaRegistry } from './schema_registry.js';
import { serveSchemaApi, type LayoutWriter } from './schema_service.js';
import { errors } from '../../transport/errors.js';
import { isDeepStrictEqual } from 'node:util';
import type { Layout } from '../../transport/layout_types.js';
import { serveMigrationApi } from './migration_service.js';
import { MigrationStore } from '../../runtime/migration/store.js';
import { serveQueries } from './query_service.js';
import { serveWrites } from './write_service.js';
import { serveBackupApi } from './backup_service.js';

/** WAL records are kept this long even when no data node consumed them (all down for days). */
const WAL_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** A batch retried with the same batch_id within this window is stored once. */
const WAL_DUPLICATE_WINDOW_MS = 2 * 60_000;

/**
 * A layout write is a step of a migration: only the holder of the operation's lease on that group
 * may make it (fencing: a claimer whose lease was taken over is refused). Without the lease, an
 * operation that ended may only remove what it added: `next` after a cancel or a failure,
 * `retiring` after its completion (the claimers' janitor, actors/cutover_claimer/layout_janitor.ts).
 */
async function checkLayoutWriter(
  store: MigrationStore,
  registry: SchemaRegistry,
  w: LayoutWriter,
  group: string,
  body: Record<string, unknown>,
): Promise<void> {
  const op = await store.operation(w.id, w.index);
  if (!op || op.target !== group) {
    throw errors.failedPrecondition(`migration ${w.id} has no operation ${w.index} on group ${group}`);
  }
  if (w.token !== '' && op.lease?.token === w.token) return;
  const stored = (await registry.find({ kind: 'layout', group, name: '' }))?.resource as Layout | undefined;
  const same = (a: unknown, b: unknown) => isDeepStrictEqual(a ?? null, b ?? null);
  if (stored && same(stored.current, body.current)) {
    const dropsNext = stored.next && !body.next && same(stored.retiring, body.retiring);
    const dropsRetiring = stored.retiring && !body.retiring && same(stored.next, body.next);
    if (dropsNext && (op.state === 'cancelled' || op.state === 'failed')) return;
    if (dropsRetiring && op.state === 'completed') return;
  }
  throw errors.failedPrecondition(
    `the layout of ${group} is written by the holder of migration ${w.id}'s lease on it; this writer holds ` +
      `no lease (now ${op.lease ? `held by ${op.lease.owner}` : 'released'})`,
    { migration: w.id, target: group },
  );
}

/** The API actor. */
export class ApiActor implements Actor {
  readonly schema = new SchemaCache(['group', 'measure', 'stream', 'index_rule', 'layout']);
  private subs: Subscription[] = [];
  private members?: MemberTable;

  async start(ctx: ActorContext): Promise<void> {
    const errorsTotal = new Counter({
      name: 'lockstep_api_errors_total',
      help: 'Error replies of the public API by area and code',
      labelNames: ['area', 'code'],
      registers: [ctx.metrics],
    });
    // New groups are placed on the data nodes this liaison sees (DESIGN §7: fixed at creation).
    this.members = new MemberTable(ctx.clock, ctx.config);
    this.members.start();
    this.subs.push(
      ctx.bus.subscribe(ctx.subjects.members.heartbeat, (m) => {
        try {
          this.members?.observe(decode(m.data) as Heartbeat);
        } catch {
          // Not a heartbeat: ignore.
        }
      }),
    );
    ctx.bus.publish(ctx.subjects.members.discover, new Uint8Array(0));
    // Every live node beats within one interval: until then the table may miss some.
    const warm = ctx.clock.sleep(ctx.config.heartbeatIntervalMs + 250);
    const dataNodes = async () => {
      await warm;
      return (this.members?.active() ?? []).filter((m) => effectiveRoles(m.roles).has('data')).map((m) => m.name);
    };
    const registry = await SchemaRegistry.open(ctx.bus, { placementFor: dataNodes, clock: ctx.clock });
    const store = await MigrationStore.open(ctx.bus, ctx.subjects.opsBucket, ctx.config.name);
    this.subs.push(
      ...serveSchemaApi(ctx.bus, ctx.subjects, registry, {
        onError: (err) => errorsTotal.inc({ area: 'schema', code: err.code }),
        checkLayoutWriter: (w, group, layout) => checkLayoutWriter(store, registry, w, group, layout),
      }),
    );
    this.subs.push(
      ...serveMigrationApi({
        bus: ctx.bus,
        subjects: ctx.subjects,
        registry,
        store,
        clock: ctx.clock,
        onError: (err) => errorsTotal.inc({ area: 'migration', code: err.code }),
      }),
    );
    // Limits retention, not interest: a write acknowledged while no data node exists (so no
    // consumer exists) must still be there when one comes.
    await ctx.bus.ensureStream({
      name: ctx.subjects.walStream,
      subjects: [ctx.subjects.walAll],
      maxAgeMs: WAL_MAX_AGE_MS,
      duplicateWindowMs: WAL_DUPLICATE_WINDOW_MS,
    });
    const gate = new SchemaGate(this.schema, ctx.clock, new GateMetrics(ctx.metrics));
    const data = {
      bus: ctx.bus,
      subjects: ctx.subjects,
      cache: this.schema,
      gate,
      clock: ctx.clock,
      schemaWaitMs: ctx.config.schemaWaitMs,
      metrics: ctx.metrics,
    };
    this.subs.push(...serveWrites(data), ...serveQueries(data));
    this.subs.push(
      ...serveBackupApi({
        bus: ctx.bus,
        subjects: ctx.subjects,
        cache: this.schema,
        onError: (err) => errorsTotal.inc({ area: 'backup', code: err.code }),
      }),
    );
    await ctx.bus.flush();
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.members?.stop();
  }

  health(): Record<string, unknown> {
    return { schema_revision: this.schema.appliedRevision, resources: this.schema.size };
  }
}
