/**
 * The public schema API (DESIGN §2, §3): `P.api.schema.<kind>.<verb>` and `P.api.schema.apply`,
 * served in the `liaison` queue group. This file only parses request envelopes and dispatches;
 * validation and the KV work are the registry's.
 */
import type { Bus, Subscription } from '../../transport/bus.js';
import { errors, type LockstepError } from '../../transport/errors.js';
import { serve, type RpcRequest } from '../../transport/rpc.js';
import {
  checkName,
  isGroupKeyed,
  SCHEMA_KINDS,
  type SchemaKey,
  type SchemaKind,
} from '../../transport/schema_types.js';
import { LIAISON_QUEUE, type Subjects } from '../../transport/subjects.js';
import { checkKnownProps, isPlainObject } from './schema_validation.js';
import { layoutWriteRefused, type SchemaRegistry } from './schema_registry.js';

/** The verbs of `P.api.schema.<kind>.<verb>`. */
export const SCHEMA_VERBS = ['create', 'update', 'delete', 'get', 'list'] as const;
/** A schema verb. */
export type SchemaVerb = (typeof SCHEMA_VERBS)[number];

/** Options of `serveSchemaApi`. */
export interface SchemaApiOptions {
  /** Queue group (default `liaison`). */
  queue?: string;
  /** Called with every error reply (for metrics and logs). */
  onError?: (err: LockstepError, req: { subject: string }) => void;
  /**
   * Checks that a layout write comes from the holder of the named migration operation's lease on
   * that group; throws `FailedPrecondition` otherwise. Without it every layout write is refused.
   */
  checkLayoutWriter?: (writer: LayoutWriter, group: string, layout: Record<string, unknown>) => Promise<void>;
}

/** Who writes a layout: a migration operation and the fencing token of its lease. */
export interface LayoutWriter {
  id: string;
  index: number;
  token: string;
}

type Body = Record<string, unknown>;

/**
 * Serves the schema API on `subjects.api.schemaAll`. One wildcard subscription covers `apply` too:
 * a second subscription on `P.api.schema.apply` would receive each apply twice.
 */
export function serveSchemaApi(
  bus: Bus,
  subjects: Subjects,
  registry: SchemaRegistry,
  opts: SchemaApiOptions = {},
): Subscription[] {
  const base = subjects.api.schemaAll.slice(0, -1); // `P.api.schema.`
  const sub = serve(bus, subjects.api.schemaAll, (req) => dispatch(registry, base, req, opts), {
    queue: opts.queue ?? LIAISON_QUEUE,
    onError: opts.onError,
  });
  return [sub];
}

async function dispatch(
  registry: SchemaRegistry,
  base: string,
  req: RpcRequest,
  opts: SchemaApiOptions,
): Promise<unknown> {
  const tokens = req.subject.startsWith(base) ? req.subject.slice(base.length).split('.') : [];
  if (tokens.length === 1 && tokens[0] === 'apply') {
    const b = body(req.body, ['resources']);
    if (b.resources === undefined) throw errors.invalidArgument('resources is required', { field: 'resources' });
    return registry.apply(b.resources);
  }
  if (tokens.length !== 2) {
    throw errors.unimplemented(
      `unknown schema call ${req.subject}: expected ${base}<kind>.<verb> with kind ∈ ${SCHEMA_KINDS.join('|')} ` +
        `and verb ∈ ${SCHEMA_VERBS.join('|')}, or ${base}apply`,
    );
  }
  const [kind, verb] = tokens as [string, string];
  if (!(SCHEMA_KINDS as readonly string[]).includes(kind)) {
    throw errors.unimplemented(`unknown schema kind ${JSON.stringify(kind)}: kinds are ${SCHEMA_KINDS.join(', ')}`);
  }
  if (!(SCHEMA_VERBS as readonly string[]).includes(verb)) {
    throw errors.unimplemented(
      `unknown schema verb ${JSON.stringify(verb)}: verbs are ${SCHEMA_VERBS.join(', ')} (and apply)`,
    );
  }
  if (kind === 'layout' && verb !== 'get' && verb !== 'list') return writeLayout(registry, verb, req.body, opts);
  return handle(registry, kind as SchemaKind, verb as SchemaVerb, req.body);
}

// A layout changes only as a step of a migration, fenced by the operation's lease: `update` with
// `migration: {id, index, token}` and `expected_revision` (0 creates the group's first layout record).
async function writeLayout(
  registry: SchemaRegistry,
  verb: string,
  raw: unknown,
  opts: SchemaApiOptions,
): Promise<unknown> {
  if (verb !== 'update' || !opts.checkLayoutWriter) throw layoutWriteRefused();
  const b = body(raw, ['resource', 'expected_revision', 'migration']);
  const m = b.migration;
  if (!isPlainObject(m) || typeof m.id !== 'string' || !Number.isSafeInteger(m.index) || typeof m.token !== 'string')
    throw layoutWriteRefused();
  const r = resource(b);
  const group = isPlainObject(r) ? checkName(r.group, 'group') : checkName(undefined, 'group');
  const expected = b.expected_revision;
  if (!Number.isSafeInteger(expected) || (expected as number) < 0)
    throw errors.invalidArgument("expected_revision must be 0 (create) or the layout's revision", {
      field: 'expected_revision',
    });
  await opts.checkLayoutWriter(
    { id: m.id, index: m.index as number, token: m.token },
    group,
    r as Record<string, unknown>,
  );
  return registry.writeLayout(r, expected as number);
}

async function handle(registry: SchemaRegistry, kind: SchemaKind, verb: SchemaVerb, raw: unknown): Promise<unknown> {
  switch (verb) {
    case 'create': {
      const b = body(raw, ['resource']);
      return registry.create(kind, resource(b));
    }
    case 'update': {
      const b = body(raw, ['resource', 'expected_revision']);
      return registry.update(kind, resource(b), revision(b));
    }
    case 'delete': {
      const b = body(raw, ['group', 'name', 'expected_revision', 'cascade']);
      if (b.cascade !== undefined && typeof b.cascade !== 'boolean') {
        throw errors.invalidArgument('cascade must be a boolean', { field: 'cascade' });
      }
      if (b.cascade === true && kind !== 'group') {
        throw errors.invalidArgument(`cascade applies to groups only, not to a ${kind}`, { field: 'cascade' });
      }
      return registry.delete(key(kind, b), { expectedRevision: revision(b), cascade: b.cascade === true });
    }
    case 'get': {
      const b = body(raw, ['group', 'name']);
      return registry.get(key(kind, b));
    }
    case 'list': {
      const b = body(raw, ['group']);
      if (!isGroupKeyed(kind) && b.group === undefined) {
        throw errors.invalidArgument(`listing ${kind}s needs group`, { field: 'group' });
      }
      const group = b.group === undefined ? undefined : checkName(b.group, 'group');
      return { items: await registry.list(kind, isGroupKeyed(kind) ? undefined : group) };
    }
  }
}

// A request body must be a plain object with known properties. An empty body decodes to
// undefined and counts as `{}`, so a bare `nats req` on a list works.
function body(raw: unknown, allowed: readonly string[]): Body {
  if (raw === undefined) return {};
  if (!isPlainObject(raw)) throw errors.invalidArgument('request body must be an object');
  checkKnownProps(raw, allowed, '');
  return raw;
}

function resource(b: Body): unknown {
  if (b.resource === undefined || b.resource === null) {
    throw errors.invalidArgument('resource is required', { field: 'resource' });
  }
  return b.resource;
}

function revision(b: Body): number | undefined {
  const v = b.expected_revision;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw errors.invalidArgument(`expected_revision must be a positive integer, got ${JSON.stringify(v)}`, {
      field: 'expected_revision',
    });
  }
  return v;
}

// The key of a get or delete: `{group}` for a group, `{group, name}` otherwise. Names are checked
// before they are used in a KV key, so a dot or wildcard never reaches the bucket.
function key(kind: SchemaKind, b: Body): SchemaKey {
  if (b.group === undefined) throw errors.invalidArgument('group is required', { field: 'group' });
  const group = checkName(b.group, 'group');
  if (isGroupKeyed(kind)) {
    if (b.name !== undefined && b.name !== '' && b.name !== group) {
      throw errors.invalidArgument(
        `a ${kind} is addressed by group alone; name ${JSON.stringify(b.name)} is not allowed`,
        {
          field: 'name',
        },
      );
    }
    return { kind, group, name: '' };
  }
  if (b.name === undefined) throw errors.invalidArgument('name is required', { field: 'name' });
  return { kind, group, name: checkName(b.name, 'name') };
}
