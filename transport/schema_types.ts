/**
 * The schema resources and schema keys of the public API (DESIGN §3, §7), shared by the registry,
 * the watcher, the barrier and the client.
 */
import { parseDuration, SCHEMA_DURATION } from './duration.js';
import { errors } from './errors.js';
import type { Layout } from './layout_types.js';

/**
 * The schema kinds. A `layout` (transport/layout_types.ts) is written by migrations only; the others
 * through the schema API.
 */
export const SCHEMA_KINDS = ['group', 'measure', 'stream', 'index_rule', 'layout'] as const;
/** A schema kind. */
export type SchemaKind = (typeof SCHEMA_KINDS)[number];
/** The kinds the schema API creates, updates and deletes (a layout changes only by a migration). */
export const USER_SCHEMA_KINDS = ['group', 'measure', 'stream', 'index_rule'] as const;
/** A kind the schema API writes. */
export type UserSchemaKind = (typeof USER_SCHEMA_KINDS)[number];
/** The kinds keyed by their group alone (`group:<g>`, `layout:<g>`); the others by group and name. */
export const GROUP_KEYED_KINDS: readonly SchemaKind[] = ['group', 'layout'];

/** True when resources of `kind` are keyed by their group alone. */
export function isGroupKeyed(kind: SchemaKind): boolean {
  return GROUP_KEYED_KINDS.includes(kind);
}

/** Names of groups, measures, streams and rules: they become subject tokens. */
/** A stream's element-id tag when it names none. */
export const DEFAULT_ELEMENT_ID = 'element_id';

export const NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

/** Tag value types. */
export const TAG_TYPES = ['string', 'int', 'string[]', 'int[]'] as const;
export type TagType = (typeof TAG_TYPES)[number];
/** Field value types. */
export const FIELD_TYPES = ['int', 'float'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/**
 * How a group's shards are spread over its data nodes (storage/placement.ts). A placement record
 * without one is `rendezvous`, what groups were created with before `balanced` existed.
 */
export const PLACEMENT_STRATEGIES = ['balanced', 'rendezvous'] as const;
export type PlacementStrategy = (typeof PLACEMENT_STRATEGIES)[number];
/** The strategy the registry records for a group created now. */
export const DEFAULT_PLACEMENT_STRATEGY: PlacementStrategy = 'balanced';

/** Bookkeeping stamped by the registry on every stored resource. */
export interface ResourceMeta {
  created_at?: string;
  updated_at?: string;
}

/** A group: the unit of sharding, segmenting and retention. */
export interface Group extends ResourceMeta {
  name: string;
  catalog: 'measure' | 'stream';
  shards: number;
  /** `<n>h` or `<n>d`. */
  segment_interval: string;
  /** `<n>h` or `<n>d`. */
  ttl: string;
  replicas: number;
  /**
   * The data nodes the group's shards are placed on (`replicas` owners per shard) and how.
   * Fixed at creation (the liaison fills in the data nodes it sees and the current strategy);
   * changed only by a migration.
   */
  placement?: { data_nodes: string[]; strategy?: PlacementStrategy };
}

export interface TagSpec {
  name: string;
  type: TagType;
}
export interface TagFamily {
  name: string;
  tags: TagSpec[];
}
export interface FieldSpec {
  name: string;
  type: FieldType;
}

/** A measure: numeric points per series. */
export interface Measure extends ResourceMeta {
  group: string;
  name: string;
  /** Tag names that identify a series. */
  entity: string[];
  tag_families: TagFamily[];
  fields: FieldSpec[];
  /** Sampling interval such as `1m` (informational), or empty. */
  interval?: string;
}

/** A stream: timestamped elements with an id. */
export interface Stream extends ResourceMeta {
  group: string;
  name: string;
  entity: string[];
  tag_families: TagFamily[];
  /** Name of the element-id tag (default `element_id`). */
  element_id?: string;
}

/** An index rule over tags of a group's resources. */
export interface IndexRule extends ResourceMeta {
  group: string;
  name: string;
  tags: string[];
  type: 'inverted' | 'tree';
}

/** Any schema resource. */
export type Resource = Group | Measure | Stream | IndexRule | Layout;

/** A schema key as the barrier API takes it. */
export interface SchemaKey {
  kind: SchemaKind;
  group: string;
  /** Empty for a group. */
  name: string;
}

/** A resource as stored, with its revision. */
export interface StoredResource<T extends Resource = Resource> {
  kind: SchemaKind;
  resource: T;
  mod_revision: number;
}

/** True when `s` is a valid resource name. */
export function isValidName(s: unknown): s is string {
  return typeof s === 'string' && NAME_PATTERN.test(s);
}

/** Throws `InvalidArgument` unless `s` is a valid name; `what` names it in the message. */
export function checkName(s: unknown, what: string): string {
  if (!isValidName(s)) {
    throw errors.invalidArgument(
      `${what} ${JSON.stringify(s)} is not a valid name: it must match ${NAME_PATTERN.source} ` +
        `(lower case letter first, then lower case letters, digits or _, at most 63 characters)`,
      { field: what },
    );
  }
  return s;
}

/** The KV key of a schema key: `group.<g>`, `layout.<g>` or `<kind>.<g>.<name>`. */
export function kvKeyOf(k: SchemaKey): string {
  return isGroupKeyed(k.kind) ? `${k.kind}.${k.group}` : `${k.kind}.${k.group}.${k.name}`;
}

/** The schema key of a KV key, or null when the KV key is not a schema key. */
export function schemaKeyOfKv(kvKey: string): SchemaKey | null {
  const parts = kvKey.split('.');
  if (!(SCHEMA_KINDS as readonly string[]).includes(parts[0]!)) return null;
  const kind = parts[0] as SchemaKind;
  if (parts.length === (isGroupKeyed(kind) ? 2 : 3)) return { kind, group: parts[1]!, name: parts[2] ?? '' };
  return null;
}

/** The string form of a key: `kind:group/name`, or `group:<g>` and `layout:<g>`. */
export function formatKey(k: SchemaKey): string {
  return isGroupKeyed(k.kind) ? `${k.kind}:${k.group}` : `${k.kind}:${k.group}/${k.name}`;
}

/**
 * Parses a key from its string form or object form; `InvalidArgument` when malformed.
 * A `@REV` suffix is not part of a key (see `parseKeyWithRevision`).
 */
export function parseKey(input: unknown): SchemaKey {
  if (typeof input === 'string') {
    const colon = input.indexOf(':');
    if (colon < 0)
      throw errors.invalidArgument(`malformed schema key ${JSON.stringify(input)}: expected kind:group/name`);
    const kind = input.slice(0, colon);
    const rest = input.slice(colon + 1);
    if ((GROUP_KEYED_KINDS as readonly string[]).includes(kind)) return parseKey({ kind, group: rest, name: '' });
    const slash = rest.indexOf('/');
    if (slash < 0)
      throw errors.invalidArgument(`malformed schema key ${JSON.stringify(input)}: expected kind:group/name`);
    return parseKey({ kind, group: rest.slice(0, slash), name: rest.slice(slash + 1) });
  }
  if (!input || typeof input !== 'object')
    throw errors.invalidArgument(`malformed schema key ${JSON.stringify(input)}`);
  const o = input as Record<string, unknown>;
  if (!(SCHEMA_KINDS as readonly unknown[]).includes(o.kind)) {
    throw errors.invalidArgument(
      `malformed schema key: unknown kind ${JSON.stringify(o.kind)} (kinds: ${SCHEMA_KINDS.join(', ')})`,
    );
  }
  const kind = o.kind as SchemaKind;
  checkName(o.group, 'group');
  if (isGroupKeyed(kind)) {
    if (o.name !== undefined && o.name !== '' && o.name !== o.group) {
      throw errors.invalidArgument(`malformed schema key: a ${kind} key has no name (got ${JSON.stringify(o.name)})`);
    }
    return { kind, group: o.group as string, name: '' };
  }
  checkName(o.name, 'name');
  return { kind, group: o.group as string, name: o.name as string };
}

/** Parses `kind:group/name[@REV]` into a key and a minimum revision (0 when absent). */
export function parseKeyWithRevision(input: string): { key: SchemaKey; minRevision: number } {
  const at = input.lastIndexOf('@');
  if (at < 0) return { key: parseKey(input), minRevision: 0 };
  const rev = Number(input.slice(at + 1));
  if (!Number.isSafeInteger(rev) || rev < 0) {
    throw errors.invalidArgument(
      `malformed revision in ${JSON.stringify(input)}: expected a non-negative integer after @`,
    );
  }
  return { key: parseKey(input.slice(0, at)), minRevision: rev };
}

/** The retention of a group in milliseconds, from its `<n>h` or `<n>d` ttl. */
export function ttlMs(group: Pick<Group, 'name' | 'ttl'>): number {
  return parseDuration(group.ttl, `group ${group.name} ttl`, SCHEMA_DURATION);
}

/** A group's segment length in milliseconds, from its `<n>h` or `<n>d` segment_interval. */
export function segmentIntervalMs(group: Pick<Group, 'name' | 'segment_interval'>): number {
  return parseDuration(group.segment_interval, `group ${group.name} segment_interval`, SCHEMA_DURATION);
}
