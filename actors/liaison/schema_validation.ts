/**
 * Pure validation of schema resources (DESIGN §3, §7): shape, names, types and defaults before any
 * write, and the immutability rules of a plain update. Checks that need the registry (the group
 * exists, its catalog fits) live in `schema_registry.ts`.
 */
import { isDeepStrictEqual } from 'node:util';
import { errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import {
  checkName,
  FIELD_TYPES,
  formatKey,
  DEFAULT_ELEMENT_ID,
  PLACEMENT_STRATEGIES,
  SCHEMA_KINDS,
  TAG_TYPES,
  type FieldSpec,
  type Group,
  type IndexRule,
  type Measure,
  type Resource,
  type SchemaKey,
  type SchemaKind,
  type Stream,
  type TagFamily,
  type TagSpec,
} from '../../transport/schema_types.js';
import { parseDuration, SCHEMA_DURATION } from '../../transport/duration.js';
import type { Layout } from '../../transport/layout_types.js';
import { validateLayout } from './layout_validation.js';
import { isValidNodeName, NODE_NAME_PATTERN } from '../../transport/subjects.js';
import { REPLICAS_MAX, REPLICAS_MIN, SHARDS_MAX, SHARDS_MIN } from '../../transport/limits.js';

/** Defaults applied by normalization. */
export const DEFAULT_REPLICAS = 1;
/** Group names the data directory layout reserves. */
export const RESERVED_GROUP_NAMES: readonly string[] = ['lock'];
export const DEFAULT_INDEX_TYPE = 'inverted';
/** Index rule types. */
export const INDEX_TYPES = ['inverted', 'tree'] as const;

// Durations of segments and retention: a whole number of hours or days. Six digits is already
// more than a century of days; the cap keeps the number a safe integer.
// A measure's sampling interval is informational, so a finer unit set is allowed.
const INTERVAL_PATTERN = /^[1-9][0-9]{0,8}(ms|s|m|h|d)$/;
// Bookkeeping stamped by the registry: a client may echo it back from a get, so it is accepted
// and dropped rather than rejected.
const META_PROPS = ['created_at', 'updated_at'];

/** The migration named by an immutability refusal. */
export const REWRITE_MIGRATION = 'a rewrite migration (`lockstep migrate`)';

type Obj = Record<string, unknown>;

function invalid(field: string, message: string): LockstepError {
  return errors.invalidArgument(`${field} ${message}`, { field });
}

/** True for a plain object (not an array, null, Date or decoded extension type). */
export function isPlainObject(v: unknown): v is Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function object(v: unknown, field: string): Obj {
  if (!isPlainObject(v)) throw invalid(field, `must be an object, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'a non-plain object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Rejects properties outside `allowed`, naming the first unknown one. */
export function checkKnownProps(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k) && o[k] !== undefined) {
      const at = where ? `${where}.${k}` : k;
      throw invalid(
        at,
        `is not a known property (known: ${allowed.filter((a) => !META_PROPS.includes(a)).join(', ')})`,
      );
    }
  }
}

function required(o: Obj, prop: string, where: string): unknown {
  const v = o[prop];
  if (v === undefined || v === null) throw invalid(path(where, prop), 'is required');
  return v;
}

function path(where: string, prop: string): string {
  return where ? `${where}.${prop}` : prop;
}

function name(v: unknown, field: string): string {
  return checkName(v, field);
}

function intIn(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalid(field, `must be one of ${allowed.join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

function duration(v: unknown, field: string): string {
  parseDuration(v, field, SCHEMA_DURATION);
  return v as string;
}

function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw invalid(field, `must be an array, got ${describe(v)}`);
  return v;
}

function uniqueNames(values: unknown[], field: string): string[] {
  const out: string[] = [];
  values.forEach((v, i) => {
    const n = name(v, `${field}[${i}]`);
    if (out.includes(n)) throw invalid(`${field}[${i}]`, `repeats ${JSON.stringify(n)}`);
    out.push(n);
  });
  return out;
}

function tagFamilies(v: unknown): { families: TagFamily[]; tagTypes: Map<string, string> } {
  const families: TagFamily[] = [];
  const tagTypes = new Map<string, string>();
  array(v, 'tag_families').forEach((fv, i) => {
    const at = `tag_families[${i}]`;
    const f = object(fv, at);
    checkKnownProps(f, ['name', 'tags'], at);
    const fname = name(required(f, 'name', at), `${at}.name`);
    if (families.some((x) => x.name === fname)) throw invalid(`${at}.name`, `repeats family ${JSON.stringify(fname)}`);
    const tags: TagSpec[] = [];
    array(required(f, 'tags', at), `${at}.tags`).forEach((tv, j) => {
      const tat = `${at}.tags[${j}]`;
      const t = object(tv, tat);
      checkKnownProps(t, ['name', 'type'], tat);
      const tname = name(required(t, 'name', tat), `${tat}.name`);
      // Tag names are unique across families: a write addresses a tag by name alone.
      if (tagTypes.has(tname)) throw invalid(`${tat}.name`, `repeats tag ${JSON.stringify(tname)}`);
      const type = oneOf(required(t, 'type', tat), `${tat}.type`, TAG_TYPES);
      tagTypes.set(tname, type);
      tags.push({ name: tname, type });
    });
    families.push({ name: fname, tags });
  });
  return { families, tagTypes };
}

function entity(v: unknown, tagTypes: Map<string, string>): string[] {
  const tags = uniqueNames(array(v, 'entity'), 'entity');
  if (tags.length === 0) throw invalid('entity', 'must name at least one tag');
  tags.forEach((t, i) => {
    if (!tagTypes.has(t)) throw invalid(`entity[${i}]`, `names tag ${JSON.stringify(t)}, which no tag family declares`);
  });
  return tags;
}

/** Validates and normalizes a group (replicas default to 1). */
export function validateGroup(body: unknown): Group {
  const o = object(body, 'resource');
  checkKnownProps(
    o,
    ['name', 'catalog', 'shards', 'segment_interval', 'ttl', 'replicas', 'placement', ...META_PROPS],
    '',
  );
  const groupName = name(required(o, 'name', ''), 'name');
  // A group is a directory next to the node's lock file: that one name is taken.
  if (RESERVED_GROUP_NAMES.includes(groupName)) {
    throw errors.invalidArgument(
      `group name ${JSON.stringify(groupName)} is reserved (${RESERVED_GROUP_NAMES.join(', ')})`,
      { field: 'name' },
    );
  }
  return {
    name: groupName,
    catalog: oneOf(required(o, 'catalog', ''), 'catalog', ['measure', 'stream'] as const),
    shards: intIn(required(o, 'shards', ''), 'shards', SHARDS_MIN, SHARDS_MAX),
    segment_interval: duration(required(o, 'segment_interval', ''), 'segment_interval'),
    ttl: duration(required(o, 'ttl', ''), 'ttl'),
    replicas: o.replicas === undefined ? DEFAULT_REPLICAS : intIn(o.replicas, 'replicas', REPLICAS_MIN, REPLICAS_MAX),
    ...(o.placement === undefined ? {} : { placement: placementOf(o.placement) }),
  };
}

/** Node names as `lockstep node --name` accepts them. */

/** A placement record: a non-empty set of data node names, kept sorted, and its strategy if named. */
function placementOf(v: unknown): NonNullable<Group['placement']> {
  const o = object(v, 'placement');
  checkKnownProps(o, ['data_nodes', 'strategy'], 'placement');
  const nodes = required(o, 'data_nodes', 'placement');
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw errors.invalidArgument('placement.data_nodes must be a non-empty array of node names', {
      field: 'placement.data_nodes',
    });
  }
  for (const [i, n] of nodes.entries()) {
    if (!isValidNodeName(n)) {
      throw errors.invalidArgument(
        `placement.data_nodes[${i}] ${JSON.stringify(n)} is not a node name (${NODE_NAME_PATTERN.source})`,
        {
          field: `placement.data_nodes[${i}]`,
        },
      );
    }
  }
  const sorted = [...new Set(nodes as string[])].sort();
  if (sorted.length !== nodes.length)
    throw errors.invalidArgument('placement.data_nodes repeats a node', { field: 'placement.data_nodes' });
  // Absent stays absent: that is how groups placed before strategies existed are told apart.
  if (o.strategy === undefined) return { data_nodes: sorted };
  return { data_nodes: sorted, strategy: oneOf(o.strategy, 'placement.strategy', PLACEMENT_STRATEGIES) };
}

/** Validates and normalizes a measure (an empty interval is dropped). */
export function validateMeasure(body: unknown): Measure {
  const o = object(body, 'resource');
  checkKnownProps(o, ['group', 'name', 'entity', 'tag_families', 'fields', 'interval', ...META_PROPS], '');
  const group = name(required(o, 'group', ''), 'group');
  const mname = name(required(o, 'name', ''), 'name');
  const { families, tagTypes } = tagFamilies(required(o, 'tag_families', ''));
  const ent = entity(required(o, 'entity', ''), tagTypes);
  const fields: FieldSpec[] = [];
  array(required(o, 'fields', ''), 'fields').forEach((fv, i) => {
    const at = `fields[${i}]`;
    const f = object(fv, at);
    checkKnownProps(f, ['name', 'type'], at);
    const fname = name(required(f, 'name', at), `${at}.name`);
    if (fields.some((x) => x.name === fname)) throw invalid(`${at}.name`, `repeats field ${JSON.stringify(fname)}`);
    if (tagTypes.has(fname)) throw invalid(`${at}.name`, `${JSON.stringify(fname)} is already a tag name`);
    fields.push({ name: fname, type: oneOf(required(f, 'type', at), `${at}.type`, FIELD_TYPES) });
  });
  // A point with no field stores nothing a query can read or aggregate.
  if (fields.length === 0) throw invalid('fields', 'must name at least one field');
  const m: Measure = { group, name: mname, entity: ent, tag_families: families, fields };
  if (o.interval !== undefined && o.interval !== '') {
    if (typeof o.interval !== 'string' || !INTERVAL_PATTERN.test(o.interval)) {
      throw invalid('interval', `must be <n> followed by ms, s, m, h or d, got ${describe(o.interval)}`);
    }
    m.interval = o.interval;
  }
  return m;
}

/** Validates and normalizes a stream (element_id defaults to `element_id`). */
export function validateStream(body: unknown): Stream {
  const o = object(body, 'resource');
  checkKnownProps(o, ['group', 'name', 'entity', 'tag_families', 'element_id', ...META_PROPS], '');
  const group = name(required(o, 'group', ''), 'group');
  const sname = name(required(o, 'name', ''), 'name');
  const { families, tagTypes } = tagFamilies(required(o, 'tag_families', ''));
  const ent = entity(required(o, 'entity', ''), tagTypes);
  const elementId = o.element_id === undefined ? DEFAULT_ELEMENT_ID : name(o.element_id, 'element_id');
  return { group, name: sname, entity: ent, tag_families: families, element_id: elementId };
}

/** Validates and normalizes an index rule (type defaults to `inverted`). */
export function validateIndexRule(body: unknown): IndexRule {
  const o = object(body, 'resource');
  checkKnownProps(o, ['group', 'name', 'tags', 'type', ...META_PROPS], '');
  const group = name(required(o, 'group', ''), 'group');
  const rname = name(required(o, 'name', ''), 'name');
  const tags = uniqueNames(array(required(o, 'tags', ''), 'tags'), 'tags');
  if (tags.length === 0) throw invalid('tags', 'must name at least one tag');
  const type = o.type === undefined ? DEFAULT_INDEX_TYPE : oneOf(o.type, 'type', INDEX_TYPES);
  return { group, name: rname, tags, type };
}

// How many declared tags a refused index rule's message lists.
const TAGS_LISTED = 20;

/**
 * Throws `InvalidArgument` naming `tags[i]` unless every tag of `rule` is declared by one of
 * `declared`, the measures and streams of its group: a rule belongs to the group, not to one of them.
 */
export function checkIndexRuleTags(rule: IndexRule, declared: readonly (Measure | Stream)[]): void {
  const tags = new Set(declared.flatMap((r) => r.tag_families.flatMap((f) => f.tags.map((t) => t.name))));
  rule.tags.forEach((t, i) => {
    if (tags.has(t)) return;
    const names = [...tags].sort();
    const more = names.length > TAGS_LISTED ? ` and ${names.length - TAGS_LISTED} more` : '';
    const known = names.length > 0 ? `declared: ${names.slice(0, TAGS_LISTED).join(', ')}${more}` : 'it has none yet';
    throw errors.invalidArgument(
      `invalid index_rule: tags[${i}] names tag ${JSON.stringify(t)}, which no measure or stream of group ${rule.group} declares (${known})`,
      { field: `tags[${i}]` },
    );
  });
}

/** Throws `InvalidArgument` unless `kind` is a schema kind. */
export function checkKind(kind: unknown): SchemaKind {
  if (typeof kind !== 'string' || !(SCHEMA_KINDS as readonly string[]).includes(kind)) {
    throw invalid('kind', `must be one of ${SCHEMA_KINDS.join(', ')}, got ${describe(kind)}`);
  }
  return kind as SchemaKind;
}

/** Validates a resource of `kind` and returns its normalized form, without created_at/updated_at. */
export function validateResource(kind: SchemaKind, body: unknown): Resource {
  try {
    switch (kind) {
      case 'group':
        return validateGroup(body);
      case 'measure':
        return validateMeasure(body);
      case 'stream':
        return validateStream(body);
      case 'index_rule':
        return validateIndexRule(body);
      case 'layout':
        return validateLayout(body);
    }
  } catch (err) {
    // Say which kind was being checked: field paths alone are ambiguous in an apply's error.
    const le = toLockstepError(err);
    throw new LockstepError(le.code, `invalid ${kind}: ${le.message}`, { details: le.details });
  }
}

/** The schema key of a validated resource. */
export function keyOfResource(kind: SchemaKind, r: Resource): SchemaKey {
  if (kind === 'group') return { kind, group: (r as Group).name, name: '' };
  if (kind === 'layout') return { kind, group: (r as Layout).group, name: '' };
  return { kind, group: (r as Measure).group, name: (r as Measure).name };
}

/** A resource without the registry's bookkeeping, for comparisons. */
export function withoutMeta<T extends Resource>(r: T): T {
  const { created_at: _c, updated_at: _u, ...rest } = r;
  return rest as T;
}

/**
 * The normalized form of a stored resource. A stored value was valid when written, but normalizing
 * it again keeps comparisons right if defaults were absent in an older stored form.
 */
export function normalizeStored(kind: SchemaKind, r: Resource): Resource {
  try {
    return validateResource(kind, r);
  } catch {
    return withoutMeta(r);
  }
}

/** True when two resources of one kind are equal once normalized and stripped of bookkeeping. */
export function sameResource(kind: SchemaKind, a: Resource, b: Resource): boolean {
  return isDeepStrictEqual(normalizeStored(kind, a), normalizeStored(kind, b));
}

function refuse(what: string, key: SchemaKey, property: string): LockstepError {
  const subject =
    key.kind === 'group' ? `group ${key.group}` : `${key.kind.replace('_', ' ')} ${key.group}/${key.name}`;
  return errors.failedPrecondition(`changing ${what} of ${subject} needs ${REWRITE_MIGRATION}`, {
    key: formatKey(key),
    property,
    migration: 'rewrite',
  });
}

/** A change a plain update may not make: the property and what changes, for people. */
export interface ImmutableChange {
  property: string;
  what: string;
}

function tagTypesOf(families: TagFamily[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of families) for (const t of f.tags) m.set(t.name, t.type);
  return m;
}

function tagTypeChanges(before: TagFamily[], after: TagFamily[]): ImmutableChange[] {
  const now = tagTypesOf(after);
  const out: ImmutableChange[] = [];
  for (const [tag, type] of tagTypesOf(before)) {
    const next = now.get(tag);
    if (next !== undefined && next !== type)
      out.push({ property: 'tag_type', what: `the type of tag ${tag} (${type} → ${next})` });
  }
  return out;
}

/**
 * The changes from `before` to `next` that only a rewrite migration may make (DESIGN §3): the one
 * list both a plain update (which refuses them) and the migration planner (which plans a rewrite
 * for them) read. Both resources must be normalized.
 */
export function immutableChanges(kind: SchemaKind, before: Resource, next: Resource): ImmutableChange[] {
  const out: ImmutableChange[] = [];
  switch (kind) {
    case 'group': {
      const [b, n] = [before as Group, next as Group];
      // Replicas too: a balanced placement re-deals every shard when the replica count changes, and
      // a new owner would start from the WAL alone, without the data the old owners flushed.
      for (const p of ['catalog', 'shards', 'segment_interval', 'replicas'] as const) {
        if (b[p] !== n[p]) out.push({ property: p, what: p });
      }
      if (b.placement && !isDeepStrictEqual(b.placement, n.placement))
        out.push({ property: 'placement', what: 'placement' });
      break;
    }
    case 'measure': {
      const [b, n] = [before as Measure, next as Measure];
      if (!isDeepStrictEqual(b.entity, n.entity)) out.push({ property: 'entity', what: 'entity' });
      out.push(...tagTypeChanges(b.tag_families, n.tag_families));
      for (const f of b.fields) {
        const nf = n.fields.find((x) => x.name === f.name);
        if (nf && nf.type !== f.type) {
          out.push({ property: 'field_type', what: `the type of field ${f.name} (${f.type} → ${nf.type})` });
        }
      }
      break;
    }
    case 'stream': {
      const [b, n] = [before as Stream, next as Stream];
      if (!isDeepStrictEqual(b.entity, n.entity)) out.push({ property: 'entity', what: 'entity' });
      if ((b.element_id ?? DEFAULT_ELEMENT_ID) !== (n.element_id ?? DEFAULT_ELEMENT_ID)) {
        out.push({ property: 'element_id', what: 'element_id' });
      }
      // Not in the brief's list, but a stream's stored tag columns break just like a measure's.
      out.push(...tagTypeChanges(b.tag_families, n.tag_families));
      break;
    }
    case 'index_rule':
      if ((before as IndexRule).type !== (next as IndexRule).type) out.push({ property: 'type', what: 'type' });
      break;
  }
  return out;
}

/**
 * Throws `FailedPrecondition` naming the migration when `next` changes a property that a plain
 * update may not change (DESIGN §3). Both resources must be normalized.
 */
export function checkImmutable(kind: SchemaKind, before: Resource, next: Resource): void {
  const first = immutableChanges(kind, before, next)[0];
  if (first) throw refuse(first.what, keyOfResource(kind, next), first.property);
}
