/**
 * The migration API (DESIGN §9) on `P.api.migration.<verb>`, queue group `liaison`. It plans,
 * records and shows; it never drives: `plan` asks the data nodes how many rows each rewrite copies,
 * `start` writes the migration and its operations, every other verb records a durable intent that a
 * claimer consumes, and each wakes the claimers. Refusals come before anything is written: an
 * unknown target, a group already under another migration, a tag's type change (not built yet), a
 * cutover out of turn, a release while not paused, a resume of a migration that is not stopped.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../runtime/clock.js';
import { newOperation } from '../../runtime/migration/claims.js';
import { MigrationStore } from '../../runtime/migration/store.js';
import { turn } from '../../runtime/migration/gates.js';
import { projectMigration } from '../../runtime/migration/projection.js';
import { migrationStatus } from '../../runtime/migration/status.js';
import type { Bus, Subscription } from '../../transport/bus.js';
import { encode } from '../../transport/codec.js';
import { errors, type LockstepError } from '../../transport/errors.js';
import {
  checkMigrationId,
  migrationEnded,
  type IntentKind,
  type MigrationEvent,
  type MigrationListReply,
  type MigrationRecord,
  type MigrationSpec,
  type MigrationStatus,
  type OperationRecord,
  type PlanReply,
} from '../../transport/migration_types.js';
import { serve } from '../../transport/rpc.js';
import { checkName, type Group, type Measure, type StoredResource } from '../../transport/schema_types.js';
import type { Layout, LayoutGeneration } from '../../transport/layout_types.js';
import { shardRows, walEnds } from '../../runtime/migration/copy_rows.js';
import { LIAISON_QUEUE, lastToken, type Subjects } from '../../transport/subjects.js';
import { parseSpec, planTarget, type TargetPlan } from './migration_plan.js';
import { isPlainObject } from './schema_validation.js';
import type { SchemaRegistry } from './schema_registry.js';

/** What the migration API needs. */
export interface MigrationServiceDeps {
  bus: Bus;
  subjects: Subjects;
  registry: SchemaRegistry;
  store: MigrationStore;
  clock: Clock;
  onError?: (err: LockstepError) => void;
}

function body(v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isPlainObject(v)) throw errors.invalidArgument('the request body must be an object', { field: 'body' });
  return v;
}

function idOf(b: Record<string, unknown>): string {
  return checkMigrationId(b.id);
}

/** A new migration id: time-ordered, unique, a valid KV key and subject token. */
function newId(nowMs: number): string {
  return `m${nowMs.toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** How long a plan waits for one shard's count of its rows. */
const PLAN_COUNT_MS = 5000;

/**
 * The rows a rewrite of `group` copies: what each shard of its current generation `cur` holds once
 * it applied every write acknowledged so far, asked of one live owner each. Null when a shard has no
 * live owner or does not answer in time (a placement migration off a lost node plans so).
 */
async function rowsToCopy(d: MigrationServiceDeps, group: string, cur: LayoutGeneration): Promise<number | null> {
  const until = await walEnds(d.bus, d.subjects, group, cur);
  const counts = await Promise.all(
    until.map((seq, s) => shardRows(d.bus, d.subjects, group, cur.generation, s, seq, PLAN_COUNT_MS).catch(() => null)),
  );
  return counts.some((c) => c === null) ? null : counts.reduce<number>((n, c) => n + c!, 0);
}

/** Serves the nine verbs. */
export function serveMigrationApi(d: MigrationServiceDeps): Subscription[] {
  const wake = () => d.bus.publish(d.subjects.events.migrationWake, new Uint8Array(0));
  const publish = (kind: MigrationEvent['kind'], status: MigrationStatus) => {
    const e: MigrationEvent = { id: status.id, at: d.clock.now(), kind, status };
    d.bus.publish(d.subjects.events.migration(status.id), encode(e));
  };

  const plan = async (b: Record<string, unknown>): Promise<{ spec: Required<MigrationSpec>; plans: TargetPlan[] }> => {
    const spec = parseSpec(b.spec);
    const plans: TargetPlan[] = [];
    for (const target of spec.targets) {
      const group = (await d.registry.get({ kind: 'group', group: target, name: '' })) as StoredResource<Group>;
      const measures = (await d.registry.list('measure', target)) as StoredResource<Measure>[];
      const layout = (await d.registry.find({
        kind: 'layout',
        group: target,
        name: '',
      })) as StoredResource<Layout> | null;
      plans.push(planTarget(spec, { group, measures, layout }));
    }
    if (plans.every((p) => p.resources.length === 0 && !p.layout)) {
      throw errors.invalidArgument('the change changes nothing in any target: every target is already as asked', {
        field: 'spec.change',
      });
    }
    return { spec, plans };
  };

  const status = async (id: string): Promise<MigrationStatus> => {
    const v = await d.store.view(id);
    if (!v) throw errors.notFound(`migration ${id} does not exist`, { id });
    return migrationStatus(v.migration, v.ops);
  };

  const start = async (b: Record<string, unknown>): Promise<MigrationStatus> => {
    const { spec, plans } = await plan(b);
    const refused = plans.find((p) => p.unsupported);
    if (refused) {
      throw errors.unimplemented(
        `target ${refused.target} needs its rows rewritten (${refused.unsupported}): changing a tag's type is ` +
          `not built yet; layout changes (shards, segment interval, replicas, placement), a measure's entity ` +
          `or a field's type, and instant changes (ttl, added fields and tags) work`,
      );
    }
    const now = d.clock.now();
    const m: MigrationRecord = {
      id: newId(now),
      targets: spec.targets,
      policy: spec.policy,
      on_failure: spec.on_failure,
      defer_cutover: spec.defer_cutover,
      created_at: now,
      released: false,
      change: spec.change,
    };
    const ops: OperationRecord[] = plans.map((p, index) => newOperation(m, index, p));
    await d.store.create(m, ops);
    const s = migrationStatus(m, ops);
    publish('created', s);
    wake();
    return s;
  };

  const intent = async (kind: IntentKind, b: Record<string, unknown>): Promise<MigrationStatus> => {
    const id = idOf(b);
    const v = await d.store.view(id);
    if (!v) throw errors.notFound(`migration ${id} does not exist`, { id });
    const state = projectMigration(v.migration, v.ops);
    let target: string | undefined;
    if (kind === 'cutover') {
      if (!v.migration.defer_cutover) {
        throw errors.failedPrecondition(`migration ${id} does not defer its cutovers: they run by themselves`, { id });
      }
      const next = turn(v.migration, v.ops);
      if (!next || next.state !== 'waiting_for_cutover') {
        throw errors.failedPrecondition(
          `migration ${id} is not waiting for a cutover (${state}${next ? `; ${next.target} is ${next.state}` : ''})`,
          { id, state },
        );
      }
      if (b.target !== undefined && checkName(b.target, 'target') !== next.target) {
        throw errors.failedPrecondition(`it is ${next.target}'s turn to cut over, not ${String(b.target)}'s`, {
          id,
          turn: next.target,
        });
      }
      target = next.target;
    } else if (kind === 'release' && state !== 'paused') {
      throw errors.failedPrecondition(`migration ${id} is not paused (${state}): nothing to release`, { id, state });
    } else if (kind === 'resume' && state !== 'stopped') {
      throw errors.failedPrecondition(`migration ${id} is ${state}: only a stopped migration resumes`, { id, state });
    } else if (
      (kind === 'stop' || kind === 'cancel') &&
      (migrationEnded(state) || (kind === 'stop' && state === 'stopped'))
    ) {
      throw errors.failedPrecondition(`migration ${id} is ${state}: there is nothing to ${kind}`, { id, state });
    }
    await d.store.addIntent({ migration_id: id, kind, created_at: d.clock.now(), ...(target ? { target } : {}) });
    const s = migrationStatus(v.migration, v.ops);
    publish('intent', s);
    wake();
    return s;
  };

  const handler = async (subject: string, raw: unknown): Promise<unknown> => {
    const b = body(raw);
    const verb = lastToken(subject);
    switch (verb) {
      case 'plan': {
        const { spec, plans } = await plan(b);
        const rows = await Promise.all(
          plans.map((p) => (p.kind === 'rewrite' ? rowsToCopy(d, p.target, p.current) : 0)),
        );
        const reply: PlanReply = {
          policy: spec.policy,
          on_failure: spec.on_failure,
          defer_cutover: spec.defer_cutover,
          targets: plans.map((p, i) => ({ target: p.target, kind: p.kind, reason: p.reason, rows_total: rows[i]! })),
        };
        return reply;
      }
      case 'start':
        return start(b);
      case 'status':
        return status(idOf(b));
      case 'list': {
        const views = await d.store.views();
        const reply: MigrationListReply = {
          migrations: views.reverse().map((v) => migrationStatus(v.migration, v.ops)),
        };
        return reply;
      }
      case 'cutover':
      case 'stop':
      case 'resume':
      case 'cancel':
      case 'release':
        return intent(verb, b);
      default:
        throw errors.unimplemented(`unknown migration call ${subject}`);
    }
  };

  return [
    serve(d.bus, d.subjects.api.migrationAll, (req) => handler(req.subject, req.body), {
      queue: LIAISON_QUEUE,
      onError: d.onError,
    }),
  ];
}
