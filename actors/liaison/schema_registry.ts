/**
 * The schema registry (DESIGN §3): resources in the KV bucket `lockstep_schema`, one gap-free
 * revision sequence for all keys. Every mutation validates first and writes with compare-and-set,
 * so nothing is written when a check fails and a racing writer is detected, never overwritten.
 *
 * JetStream KV has no multi-key transaction: a resource created while its group is being deleted
 * can outlive the group. The window is one round trip; the watcher tolerates orphans.
 */
import { systemClock, type Clock } from '../../runtime/clock.js';
import type {
  ApplyItem,
  ApplyReply,
  ApplyResultItem,
  CreateReply,
  DeleteReply,
  UpdateReply,
} from '../../transport/api_types.js';
import type { Bus, KvBucket, KvEntry } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import { SCHEMA_BUCKET } from '../../transport/subjects.js';
import {
  checkName,
  formatKey,
  kvKeyOf,
  SCHEMA_KINDS,
  isGroupKeyed,
  type Group,
  type IndexRule,
  type Measure,
  type Resource,
  type SchemaKey,
  type SchemaKind,
  type StoredResource,
  type Stream,
} from '../../transport/schema_types.js';
import {
  checkImmutable,
  checkIndexRuleTags,
  checkKind,
  isPlainObject,
  keyOfResource,
  normalizeStored,
  sameResource,
  validateResource,
} from './schema_validation.js';
import { keepPlacement, placeNewGroup } from './placement_record.js';
import type { Layout } from '../../transport/layout_types.js';

/** Options of the registry. */
export interface SchemaRegistryOptions {
  /** The clock stamping created_at/updated_at (default: the system clock). */
  clock?: Pick<Clock, 'now'>;
  /** Attempts of an update without an expected revision when writers race (default 3). */
  updateAttempts?: number;
  /**
   * The data nodes a new group is placed on when it names none (the liaison's membership view).
   * Without it, groups are stored without a placement record.
   */
  placementFor?: () => Promise<string[]>;
}

/** Options of a delete. */
export interface DeleteOptions {
  expectedRevision?: number;
  /** Delete a group's measures, streams and index rules first instead of refusing. */
  cascade?: boolean;
}

/** Reply of a create. */
export type CreateResult = CreateReply;
/** Reply of an update. */
export type UpdateResult = UpdateReply;
/** Reply of a delete. */
export type DeleteResult = DeleteReply;
/** Reply of an apply. */
export type ApplyResult = ApplyReply;
export type { ApplyItem, ApplyResultItem };

/** A layout is written by migrations only. */
export function layoutWriteRefused(): LockstepError {
  return errors.failedPrecondition(
    "a group's layout (layout:<group>) changes only through a migration: use `lockstep migrate` " +
      '(lockstep.api.migration.start)',
  );
}

/** Children named in the message refusing to delete a non-empty group. */
import { APPLY_MAX_RESOURCES } from '../../transport/limits.js';
const CHILDREN_NAMED_MAX = 5;
const CHILD_KINDS: SchemaKind[] = ['measure', 'stream', 'index_rule'];
const DEFAULT_UPDATE_ATTEMPTS = 3;

// The value stored under each key.
interface StoredValue {
  kind: SchemaKind;
  resource: Resource;
}

/** The schema registry over one KV bucket. */
export class SchemaRegistry {
  private readonly clock: Pick<Clock, 'now'>;
  private readonly updateAttempts: number;
  private readonly placementFor?: () => Promise<string[]>;

  /** Wraps an open bucket; prefer `SchemaRegistry.open`. */
  constructor(
    readonly kv: KvBucket,
    opts: SchemaRegistryOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.updateAttempts = opts.updateAttempts ?? DEFAULT_UPDATE_ATTEMPTS;
    this.placementFor = opts.placementFor;
    if (!Number.isInteger(this.updateAttempts) || this.updateAttempts < 1) {
      throw new TypeError('options.updateAttempts must be a positive integer');
    }
  }

  /** Opens (creating when missing) the `lockstep_schema` bucket on `bus`. */
  static async open(bus: Bus, opts: SchemaRegistryOptions = {}): Promise<SchemaRegistry> {
    return new SchemaRegistry(await bus.kv(SCHEMA_BUCKET, { history: 1 }), opts);
  }

  /** The resource at `key`, or null when missing or deleted. */
  async find(key: SchemaKey): Promise<StoredResource | null> {
    const e = await this.kv.get(kvKeyOf(key));
    return e ? this.decodeEntry(e) : null;
  }

  /** The resource at `key`; `NotFound` when missing or deleted. */
  async get(key: SchemaKey): Promise<StoredResource> {
    const r = await this.find(key);
    if (!r) throw errors.notFound(`${formatKey(key)} does not exist`, { key: formatKey(key) });
    return r;
  }

  /** Groups (no `group`), or the resources of `kind` in `group` (which must exist), sorted by key. */
  async list(kind: SchemaKind, group?: string): Promise<StoredResource[]> {
    let prefix: string = kind;
    if (!isGroupKeyed(kind)) {
      if (group === undefined) throw errors.invalidArgument(`listing ${kind}s needs a group`, { field: 'group' });
      await this.get({ kind: 'group', group: checkName(group, 'group'), name: '' });
      prefix = `${kind}.${group}`;
    }
    return this.entries(prefix);
  }

  // The resources under a key prefix, sorted by key. A key deleted between `keys` and `get` is
  // skipped: the list is a snapshot, not a transaction.
  private async entries(prefix: string): Promise<StoredResource[]> {
    const entries = await Promise.all((await this.kv.keys(prefix)).map((k) => this.kv.get(k)));
    return entries.flatMap((e) => {
      const r = e ? this.decodeEntry(e) : null;
      return r ? [r] : [];
    });
  }

  /** Creates a resource; `AlreadyExists` when its key is present. */
  async create(kind: SchemaKind, body: unknown): Promise<CreateResult> {
    const valid = validateResource(kind, body);
    const resource = kind === 'group' ? await placeNewGroup(valid as Group, this.placementFor) : valid;
    await this.checkGroupFits(kind, resource);
    await this.checkRuleTags(kind, resource);
    const stamp = new Date(this.clock.now()).toISOString();
    const stored = { ...resource, created_at: stamp, updated_at: stamp };
    const revision = await this.kv.create(kvKeyOf(keyOfResource(kind, resource)), encodeValue(kind, stored));
    return { revision, kind, resource: stored };
  }

  /**
   * Replaces a resource. With `expectedRevision` the write happens only at that revision; without,
   * it retries a few times against concurrent writers, then gives up with `FailedPrecondition`.
   */
  async update(kind: SchemaKind, body: unknown, expectedRevision?: number): Promise<UpdateResult> {
    const given = validateResource(kind, body);
    const key = keyOfResource(kind, given);
    await this.checkGroupFits(kind, given);
    await this.checkRuleTags(kind, given);
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(key);
      if (expectedRevision !== undefined) checkRevision(key, current.mod_revision, expectedRevision);
      const next = kind === 'group' ? keepPlacement(given as Group, current.resource as Group) : given;
      if (!(await this.reshapedByMigration(kind, next)))
        checkImmutable(kind, normalizeStored(kind, current.resource), next);
      if (sameResource(kind, current.resource, next)) {
        return { revision: current.mod_revision, changed: false, kind, resource: current.resource };
      }
      const stamp = new Date(this.clock.now()).toISOString();
      const stored = { ...next, created_at: current.resource.created_at ?? stamp, updated_at: stamp };
      try {
        const revision = await this.kv.update(kvKeyOf(key), encodeValue(kind, stored), current.mod_revision);
        return { revision, changed: true, kind, resource: stored };
      } catch (err) {
        const raced = toLockstepError(err).code === Code.FailedPrecondition;
        if (!raced || expectedRevision !== undefined) throw err;
        if (attempt >= this.updateAttempts) {
          throw errors.failedPrecondition(
            `${formatKey(key)} changed concurrently during ${attempt} update attempts; read it again and retry`,
            { key: formatKey(key) },
          );
        }
      }
    }
  }

  /**
   * True when `next` is the shape a rewrite migration already gave the rows of a measure (the group's
   * current layout generation holds it): the registry catches up with the data, as that migration's
   * cutover does. Any other change of an entity or a field's type stays refused.
   */
  private async reshapedByMigration(kind: SchemaKind, next: Resource): Promise<boolean> {
    if (kind !== 'measure') return false;
    const m = next as Measure;
    const layout = (await this.find({ kind: 'layout', group: m.group, name: '' }))?.resource as Layout | undefined;
    const own = layout?.current.measures?.[m.name];
    return own !== undefined && sameResource('measure', own, m);
  }

  /**
   * Writes a group's layout (a migration's step): creates it when `expectedRevision` is 0, else
   * replaces it at exactly that revision. The group must exist.
   */
  async writeLayout(body: unknown, expectedRevision: number): Promise<UpdateResult> {
    const layout = validateResource('layout', body) as Layout;
    await this.get({ kind: 'group', group: layout.group, name: '' });
    const key = keyOfResource('layout', layout);
    const stamp = new Date(this.clock.now()).toISOString();
    if (expectedRevision === 0) {
      const stored = { ...layout, created_at: stamp, updated_at: stamp };
      return {
        revision: await this.kv.create(kvKeyOf(key), encodeValue('layout', stored)),
        changed: true,
        kind: 'layout',
        resource: stored,
      };
    }
    const current = await this.get(key);
    checkRevision(key, current.mod_revision, expectedRevision);
    const stored = { ...layout, created_at: current.resource.created_at ?? stamp, updated_at: stamp };
    const revision = await this.kv.update(kvKeyOf(key), encodeValue('layout', stored), expectedRevision);
    return { revision, changed: true, kind: 'layout', resource: stored };
  }

  /** Deletes a resource; a group that still holds resources needs `cascade`. */
  async delete(key: SchemaKey, opts: DeleteOptions = {}): Promise<DeleteResult> {
    const current = await this.get(key);
    if (opts.expectedRevision !== undefined) checkRevision(key, current.mod_revision, opts.expectedRevision);
    const deleted: string[] = [];
    if (key.kind === 'group') {
      const children = await this.childKeys(key.group);
      if (children.length > 0 && !opts.cascade) {
        const named = children.slice(0, CHILDREN_NAMED_MAX).map(formatKey).join(', ');
        const more = children.length > CHILDREN_NAMED_MAX ? `, and ${children.length - CHILDREN_NAMED_MAX} more` : '';
        throw errors.failedPrecondition(
          `group ${key.group} still holds ${children.length} resource(s) (${named}${more}); ` +
            `delete them first or delete with cascade`,
          {
            key: formatKey(key),
            children: children.length,
            first: children.slice(0, CHILDREN_NAMED_MAX).map(formatKey),
          },
        );
      }
      // Children first: a watcher never sees a resource whose group is already gone.
      for (const child of children) {
        await this.kv.delete(kvKeyOf(child));
        deleted.push(formatKey(child));
      }
      // The layout goes with its group: it is part of the group, not something it holds.
      const layout = { kind: 'layout' as const, group: key.group, name: '' };
      if (await this.find(layout)) {
        await this.kv.delete(kvKeyOf(layout));
        deleted.push(formatKey(layout));
      }
    }
    const revision = await this.kv.delete(kvKeyOf(key), opts.expectedRevision ?? current.mod_revision);
    deleted.push(formatKey(key));
    return { revision, deleted };
  }

  /**
   * Declares resources: every item is validated (and checked against what is stored) before
   * anything is written; then groups are written first, the rest in the given order, each created,
   * updated or left alone.
   */
  async apply(items: unknown): Promise<ApplyResult> {
    if (!Array.isArray(items)) throw errors.invalidArgument('resources must be an array', { field: 'resources' });
    if (items.length > APPLY_MAX_RESOURCES) {
      throw errors.invalidArgument(`resources has ${items.length} items; at most ${APPLY_MAX_RESOURCES} per apply`, {
        field: 'resources',
      });
    }
    const plan = items.map((item, i) => atIndex(i, () => parseApplyItem(item)));
    const seen = new Set<string>();
    plan.forEach((p, i) => {
      const k = formatKey(p.key);
      if (seen.has(k)) throw errors.invalidArgument(`resources[${i}] repeats ${k}`, { index: i, key: k });
      seen.add(k);
    });
    const currents = await Promise.all(plan.map((p) => this.find(p.key)));
    // The groups this apply leaves behind: its own definitions win over what is stored.
    const applyGroups = new Map(plan.filter((p) => p.kind === 'group').map((p) => [p.key.group, p.resource as Group]));
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i]!;
      const current = currents[i];
      await atIndex(i, async () => {
        if (current && p.kind === 'group') p.resource = keepPlacement(p.resource as Group, current.resource as Group);
        if (current) checkImmutable(p.kind, normalizeStored(p.kind, current.resource), p.resource);
        if (p.kind !== 'group') await this.checkGroupFits(p.kind, p.resource, applyGroups.get(p.key.group));
        await this.checkRuleTags(p.kind, p.resource, plan);
      });
    }
    const order = [...plan.keys()].sort((a, b) => rank(plan[a]!.kind) - rank(plan[b]!.kind) || a - b);
    const results: ApplyResultItem[] = [];
    for (const i of order) {
      const p = plan[i]!;
      const current = currents[i];
      const key = formatKey(p.key);
      if (!current) {
        const r = await this.create(p.kind, p.resource);
        results.push({ kind: p.kind, key, action: 'created', revision: r.revision });
      } else if (sameResource(p.kind, current.resource, p.resource)) {
        results.push({ kind: p.kind, key, action: 'unchanged', revision: current.mod_revision });
      } else {
        // Fenced by the revision read during the checks, so those checks still hold when it lands.
        const r = await this.update(p.kind, p.resource, current.mod_revision);
        results.push({ kind: p.kind, key, action: 'updated', revision: r.revision });
      }
    }
    return { results, revision: results.reduce((m, r) => Math.max(m, r.revision), 0) };
  }

  private async childKeys(group: string): Promise<SchemaKey[]> {
    const out: SchemaKey[] = [];
    for (const kind of CHILD_KINDS) {
      for (const k of await this.kv.keys(`${kind}.${group}`)) {
        out.push({ kind, group, name: k.slice(kind.length + group.length + 2) });
      }
    }
    return out;
  }

  // The group of a measure, stream or rule must exist (`NotFound`) and, for measures and streams,
  // have the matching catalog (`InvalidArgument`). `planned` is a group definition that an apply is about to write.
  private async checkGroupFits(kind: SchemaKind, r: Resource, planned?: Group): Promise<void> {
    if (kind === 'group') return;
    const groupName = (r as { group: string }).group;
    let group = planned;
    if (!group) {
      const stored = await this.find({ kind: 'group', group: groupName, name: '' });
      if (!stored) {
        throw errors.notFound(`group ${groupName} does not exist; create it before its ${kind}s`, { group: groupName });
      }
      group = stored.resource as Group;
    }
    if (kind !== 'index_rule' && group.catalog !== kind) {
      // The request does not fit the group it names: a bad argument, like an unknown type.
      throw errors.invalidArgument(
        `group ${groupName} has catalog ${group.catalog}; a ${kind} needs a group with catalog ${kind}`,
        { field: 'group', group: groupName, catalog: group.catalog },
      );
    }
  }

  // An index rule names tags that a measure or stream of its group declares. `planned` is what an
  // apply is about to write: its measures and streams count, over the stored ones of the same key.
  private async checkRuleTags(kind: SchemaKind, r: Resource, planned: readonly PlanItem[] = []): Promise<void> {
    if (kind !== 'index_rule') return;
    const rule = r as IndexRule;
    const declared = new Map<string, Measure | Stream>();
    for (const k of ['measure', 'stream'] as const) {
      for (const s of await this.entries(`${k}.${rule.group}`)) {
        const res = s.resource as Measure | Stream;
        declared.set(formatKey({ kind: k, group: rule.group, name: res.name }), res);
      }
    }
    for (const p of planned) {
      if ((p.kind === 'measure' || p.kind === 'stream') && p.key.group === rule.group) {
        declared.set(formatKey(p.key), p.resource as Measure | Stream);
      }
    }
    checkIndexRuleTags(rule, [...declared.values()]);
  }

  private decodeEntry(e: KvEntry): StoredResource | null {
    if (e.operation !== 'PUT') return null;
    let v: unknown;
    try {
      v = decode(e.value);
    } catch (err) {
      throw errors.internal(`schema entry ${e.key}@${e.revision} is not msgpack: ${(err as Error).message}`, err);
    }
    if (!isPlainObject(v) || !(SCHEMA_KINDS as readonly unknown[]).includes(v.kind) || !isPlainObject(v.resource)) {
      throw errors.internal(`schema entry ${e.key}@${e.revision} is not a {kind, resource} record`);
    }
    const sv = v as unknown as StoredValue;
    return { kind: sv.kind, resource: sv.resource, mod_revision: e.revision };
  }
}

function encodeValue(kind: SchemaKind, resource: Resource): Uint8Array {
  return encode({ kind, resource } satisfies StoredValue);
}

function checkRevision(key: SchemaKey, actual: number, expected: number): void {
  if (actual !== expected) {
    throw errors.failedPrecondition(`${formatKey(key)} is at revision ${actual}, not the expected ${expected}`, {
      key: formatKey(key),
      expected_revision: expected,
      mod_revision: actual,
    });
  }
}

// Write order within an apply: groups, then measures and streams, then the index rules that name
// their tags (so each write passes the checks it would pass alone).
function rank(kind: SchemaKind): number {
  return kind === 'group' ? 0 : kind === 'index_rule' ? 2 : 1;
}

// One validated item of an apply.
interface PlanItem {
  kind: SchemaKind;
  key: SchemaKey;
  resource: Resource;
}

function parseApplyItem(item: unknown): PlanItem {
  if (!isPlainObject(item)) throw errors.invalidArgument('must be an object {kind, resource}');
  for (const k of Object.keys(item)) {
    if (k !== 'kind' && k !== 'resource')
      throw errors.invalidArgument(`${k} is not a known property (known: kind, resource)`);
  }
  const kind = checkKind(item.kind);
  if (kind === 'layout') throw layoutWriteRefused();
  if (item.resource === undefined) throw errors.invalidArgument('resource is required', { field: 'resource' });
  const resource = validateResource(kind, item.resource);
  return { kind, key: keyOfResource(kind, resource), resource };
}

// Runs a check of item `i`, prefixing its error with the item's index so a client can find it.
function atIndex<T>(i: number, fn: () => T): T {
  const wrap = (err: unknown): never => {
    const le = toLockstepError(err);
    throw new LockstepError(le.code, `resources[${i}]: ${le.message}`, { details: { ...le.details, index: i } });
  };
  try {
    const r = fn();
    return (r instanceof Promise ? r.catch(wrap) : r) as T;
  } catch (err) {
    return wrap(err);
  }
}
