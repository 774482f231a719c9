/**
 * `lockstep schema …`: create, update, get, list, delete and apply schema resources (DESIGN §3).
 * Arguments are checked before connecting, so a bad name fails fast with `InvalidArgument`.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
import type { ApplyItem } from '../../transport/client.js';
import { Code, errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import {
  checkName,
  FIELD_TYPES,
  formatKey,
  USER_SCHEMA_KINDS,
  TAG_TYPES,
  type FieldSpec,
  type Group,
  type IndexRule,
  type Measure,
  type SchemaKey,
  type UserSchemaKind as SchemaKind,
  type StoredResource,
  type Stream,
  type TagFamily,
  type TagSpec,
} from '../../transport/schema_types.js';
import { runCommand, table } from './output.js';

type Opts = Record<string, unknown>;
type Obj = Record<string, unknown>;

/** The tag family that `--tags` fills. */
export const DEFAULT_TAG_FAMILY = 'default';

// One flag of a kind's create/update command. `list` flags are comma-separated and repeatable.
interface FlagSpec {
  flags: string;
  desc: string;
  requiredOnCreate?: boolean;
  list?: boolean;
}

const TAGS_DESC = `tags as name:type (type ${TAG_TYPES.join('|')}), comma-separated or repeated; they go into tag family "${DEFAULT_TAG_FAMILY}"`;
const FLAGS: Record<SchemaKind, FlagSpec[]> = {
  group: [
    { flags: '--catalog <catalog>', desc: 'measure or stream', requiredOnCreate: true },
    { flags: '--shards <n>', desc: 'number of shards (1–256)', requiredOnCreate: true },
    { flags: '--segment-interval <duration>', desc: 'segment length: <n>h or <n>d', requiredOnCreate: true },
    { flags: '--ttl <duration>', desc: 'retention: <n>h or <n>d', requiredOnCreate: true },
    { flags: '--replicas <n>', desc: 'replicas of each shard (1–3, default 1)' },
  ],
  measure: [
    {
      flags: '--entity <tags>',
      desc: 'tag names identifying a series, comma-separated',
      requiredOnCreate: true,
      list: true,
    },
    { flags: '--tags <specs>', desc: TAGS_DESC, requiredOnCreate: true, list: true },
    {
      flags: '--fields <specs>',
      desc: `fields as name:type (type ${FIELD_TYPES.join('|')}), comma-separated or repeated`,
      requiredOnCreate: true,
      list: true,
    },
    { flags: '--interval <duration>', desc: 'sampling interval such as 1m (informational)' },
  ],
  stream: [
    {
      flags: '--entity <tags>',
      desc: 'tag names identifying a series, comma-separated',
      requiredOnCreate: true,
      list: true,
    },
    { flags: '--tags <specs>', desc: TAGS_DESC, requiredOnCreate: true, list: true },
    { flags: '--element-id <tag>', desc: 'name of the element-id tag (default element_id)' },
  ],
  index_rule: [
    {
      flags: '--tags <names>',
      desc: 'indexed tag names, comma-separated or repeated',
      requiredOnCreate: true,
      list: true,
    },
    { flags: '--type <type>', desc: 'inverted or tree (default inverted)' },
  ],
};

function collect(value: string, previous: string[] | undefined): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return [...(previous ?? []), ...items];
}

/** Parses a schema kind argument (`index-rule` is accepted for `index_rule`). */
export function parseKind(input: string): SchemaKind {
  const k = input.replace('-', '_');
  if (!(USER_SCHEMA_KINDS as readonly string[]).includes(k)) {
    throw errors.invalidArgument(`unknown kind ${JSON.stringify(input)}: kinds are ${USER_SCHEMA_KINDS.join(', ')}`);
  }
  return k as SchemaKind;
}

/** Parses `GROUP` (for a group) or `GROUP/NAME` into a key, checking both names. */
export function parseRef(kind: SchemaKind, ref: string): SchemaKey {
  if (kind === 'group') return { kind, group: checkName(ref, 'group'), name: '' };
  const parts = ref.split('/');
  if (parts.length !== 2) throw errors.invalidArgument(`expected GROUP/NAME for a ${kind}, got ${JSON.stringify(ref)}`);
  return { kind, group: checkName(parts[0], 'group'), name: checkName(parts[1], 'name') };
}

function parseInt10(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[0-9]{1,15}$/.test(v)) {
    throw errors.invalidArgument(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

function parseSpecs<T extends string>(
  specs: string[] | undefined,
  what: string,
  types: readonly T[],
): { name: string; type: T }[] | undefined {
  if (specs === undefined) return undefined;
  return specs.map((s) => {
    const colon = s.indexOf(':');
    const type = s.slice(colon + 1);
    if (colon < 0 || !(types as readonly string[]).includes(type)) {
      throw errors.invalidArgument(
        `bad ${what} spec ${JSON.stringify(s)}: expected name:type with type one of ${types.join(', ')}`,
      );
    }
    return { name: checkName(s.slice(0, colon), `${what} name`), type: type as T };
  });
}

// What the flags of one command say, parsed: plain properties, plus tags and fields that an
// update merges into the current resource instead of replacing.
interface Patch {
  props: Obj;
  tags?: TagSpec[];
  fields?: FieldSpec[];
}

function parsePatch(kind: SchemaKind, o: Opts): Patch {
  const props: Obj = {};
  const set = (k: string, v: unknown) => {
    if (v !== undefined) props[k] = v;
  };
  switch (kind) {
    case 'group':
      set('catalog', o.catalog);
      set('shards', parseInt10(o.shards, '--shards'));
      set('segment_interval', o.segmentInterval);
      set('ttl', o.ttl);
      set('replicas', parseInt10(o.replicas, '--replicas'));
      return { props };
    case 'measure':
    case 'stream': {
      set('entity', o.entity);
      set(kind === 'measure' ? 'interval' : 'element_id', kind === 'measure' ? o.interval : o.elementId);
      const tags = parseSpecs(o.tags as string[] | undefined, 'tag', TAG_TYPES);
      const fields =
        kind === 'measure' ? parseSpecs(o.fields as string[] | undefined, 'field', FIELD_TYPES) : undefined;
      return { props, tags, fields };
    }
    case 'index_rule':
      set('tags', o.tags);
      set('type', o.type);
      return { props };
  }
}

function newResource(key: SchemaKey, p: Patch): Obj {
  if (key.kind === 'group') return { name: key.group, ...p.props };
  const r: Obj = { group: key.group, name: key.name, ...p.props };
  if (p.tags) r.tag_families = [{ name: DEFAULT_TAG_FAMILY, tags: p.tags }];
  if (p.fields) r.fields = p.fields;
  return r;
}

// Adds tags to the resource's families: a known name keeps its family but takes the given type
// (so a type change reaches the server, which refuses it); a new one joins family "default".
function mergeTags(families: TagFamily[], tags: TagSpec[]): TagFamily[] {
  const out = families.map((f) => ({ name: f.name, tags: f.tags.map((t) => ({ ...t })) }));
  for (const t of tags) {
    const known = out.flatMap((f) => f.tags).find((x) => x.name === t.name);
    if (known) {
      known.type = t.type;
      continue;
    }
    let family = out.find((f) => f.name === DEFAULT_TAG_FAMILY);
    if (!family) out.push((family = { name: DEFAULT_TAG_FAMILY, tags: [] }));
    family.tags.push({ ...t });
  }
  return out;
}

function mergeFields(fields: FieldSpec[], add: FieldSpec[]): FieldSpec[] {
  const out = fields.map((f) => ({ ...f }));
  for (const f of add) {
    const known = out.find((x) => x.name === f.name);
    if (known) known.type = f.type;
    else out.push({ ...f });
  }
  return out;
}

function mergedResource(current: Obj, p: Patch): Obj {
  const { created_at: _c, updated_at: _u, ...rest } = current;
  const r: Obj = { ...rest, ...p.props };
  if (p.tags) r.tag_families = mergeTags((rest.tag_families as TagFamily[] | undefined) ?? [], p.tags);
  if (p.fields) r.fields = mergeFields((rest.fields as FieldSpec[] | undefined) ?? [], p.fields);
  return r;
}

const specList = (xs: { name: string; type: string }[] | undefined) =>
  (xs ?? []).map((x) => `${x.name}:${x.type}`).join(',');

function listRows(kind: SchemaKind, items: StoredResource[]): string[] {
  const rev = (s: StoredResource) => String(s.mod_revision);
  switch (kind) {
    case 'group':
      return table(
        ['NAME', 'CATALOG', 'SHARDS', 'SEGMENT', 'TTL', 'REPLICAS', 'REVISION'],
        items.map((s) => {
          const g = s.resource as Group;
          return [g.name, g.catalog, String(g.shards), g.segment_interval, g.ttl, String(g.replicas ?? 1), rev(s)];
        }),
      );
    case 'measure':
      return table(
        ['NAME', 'ENTITY', 'TAGS', 'FIELDS', 'INTERVAL', 'REVISION'],
        items.map((s) => {
          const m = s.resource as Measure;
          return [
            m.name,
            m.entity.join(','),
            specList(m.tag_families.flatMap((f) => f.tags)),
            specList(m.fields),
            m.interval ?? '-',
            rev(s),
          ];
        }),
      );
    case 'stream':
      return table(
        ['NAME', 'ENTITY', 'TAGS', 'ELEMENT_ID', 'REVISION'],
        items.map((s) => {
          const m = s.resource as Stream;
          return [
            m.name,
            m.entity.join(','),
            specList(m.tag_families.flatMap((f) => f.tags)),
            m.element_id ?? 'element_id',
            rev(s),
          ];
        }),
      );
    case 'index_rule':
      return table(
        ['NAME', 'TAGS', 'TYPE', 'REVISION'],
        items.map((s) => {
          const r = s.resource as IndexRule;
          return [r.name, r.tags.join(','), r.type, rev(s)];
        }),
      );
  }
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Reads an apply file: a top-level list, `{resources: [...]}`, or several YAML documents of either
 * form (or single resources); each item is `{kind, ...resource fields}` (items are numbered
 * `resources[i]` across documents, as the server numbers them). `InvalidArgument` names
 * the file, and the line for a YAML error.
 */
export function readApplyFile(file: string): ApplyItem[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw errors.invalidArgument(`cannot read ${file}: ${(err as Error).message}`);
  }
  const raw: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    const first = doc.errors[0];
    if (first) throw errors.invalidArgument(`cannot parse ${file}: ${first.message.split('\n')[0]!.replace(/:$/, '')}`);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) raw.push(...v);
    else if (isObj(v) && v.kind === undefined && Array.isArray(v.resources)) raw.push(...v.resources);
    else raw.push(v);
  }
  if (raw.length === 0) throw errors.invalidArgument(`${file} declares no resources`);
  return raw.map((item, i) => {
    const at = `${file}: resources[${i}]`;
    if (!isObj(item)) throw errors.invalidArgument(`${at} must be a mapping with a kind`);
    const { kind, ...rest } = item;
    if (typeof kind !== 'string' || !(USER_SCHEMA_KINDS as readonly string[]).includes(kind)) {
      throw errors.invalidArgument(
        `${at}: kind must be one of ${USER_SCHEMA_KINDS.join(', ')}, got ${JSON.stringify(kind)}`,
      );
    }
    // The wire form `{kind, resource}` is accepted as well as the flat one.
    const wire = Object.keys(rest).length === 1 && isObj(rest.resource);
    return { kind: kind as SchemaKind, resource: wire ? rest.resource : rest };
  });
}

function kindCommand(parent: Command, kind: SchemaKind, verb: 'create' | 'update'): void {
  const what = kind === 'group' ? 'NAME' : 'GROUP/NAME';
  const c = parent
    .command(kind)
    .description(verb === 'create' ? `create a ${kind}` : `update a ${kind}: only the given flags change`)
    .argument(`<${what}>`, kind === 'group' ? 'group name' : `group and ${kind} name`);
  for (const f of FLAGS[kind]) {
    const merging =
      verb === 'update' && (kind === 'measure' || kind === 'stream') && f.list && !f.flags.startsWith('--entity');
    const required = verb === 'create' && f.requiredOnCreate;
    const desc = merging ? `${f.desc} (added to the existing ones)` : required ? `${f.desc} (required)` : f.desc;
    if (f.list) {
      if (required) c.requiredOption(f.flags, desc, collect);
      else c.option(f.flags, desc, collect);
    } else if (required) c.requiredOption(f.flags, desc);
    else c.option(f.flags, desc);
  }
  if (verb === 'update')
    c.option(
      '--expected-revision <n>',
      'update only if the resource is at this revision (default: the revision just read)',
    );
  c.action((ref: string, o: Opts, cmd: Command) =>
    runCommand(cmd, async ({ out, client }) => {
      const key = parseRef(kind, ref);
      const patch = parsePatch(kind, o);
      const lc = await client();
      if (verb === 'create') {
        const r = await lc.create(kind, newResource(key, patch));
        out.result(r, () => `created ${formatKey(key)} at revision ${r.revision}`);
        return;
      }
      const expected = parseInt10(o.expectedRevision, '--expected-revision');
      const current = await lc.get(kind, key);
      const r = await lc.update(kind, mergedResource(current.resource as unknown as Obj, patch), {
        expectedRevision: expected ?? current.mod_revision,
      });
      out.result(r, () => `${r.changed ? 'updated' : 'unchanged'} ${formatKey(key)} at revision ${r.revision}`);
    }),
  );
}

/** Adds `schema` and its subcommands to the program. */
export function registerSchemaCommands(program: Command): void {
  const schema = program
    .command('schema')
    .description('manage schema resources: groups, measures, streams and index rules');

  const create = schema.command('create').description('create a group, measure, stream or index_rule');
  const update = schema
    .command('update')
    .description('update a resource: reads it, applies the given flags, writes it at the revision read');
  for (const kind of USER_SCHEMA_KINDS) {
    kindCommand(create, kind, 'create');
    kindCommand(update, kind, 'update');
  }

  schema
    .command('get')
    .description('show one resource and its revision')
    .argument('<kind>', USER_SCHEMA_KINDS.join('|'))
    .argument('<ref>', 'GROUP for a group, GROUP/NAME otherwise')
    .action((kindArg: string, ref: string, _o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const kind = parseKind(kindArg);
        const key = parseRef(kind, ref);
        const r = await (await client()).get(kind, key);
        out.result(r, () => [`${formatKey(key)} at revision ${r.mod_revision}`, stringify(r.resource).trimEnd()]);
      }),
    );

  schema
    .command('list')
    .description('list groups, or the resources of a kind in a group')
    .argument('<kind>', USER_SCHEMA_KINDS.join('|'))
    .argument('[group]', 'the group (not for groups)')
    .action((kindArg: string, group: string | undefined, _o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const kind = parseKind(kindArg);
        if (kind === 'group' && group !== undefined)
          throw errors.invalidArgument('schema list group takes no GROUP argument');
        if (kind !== 'group' && group === undefined)
          throw errors.invalidArgument(`schema list ${kind} needs a GROUP argument`);
        if (group !== undefined) checkName(group, 'group');
        const items = await (await client()).list(kind, group);
        out.result({ items }, () =>
          items.length === 0 ? `no ${kind}s${group ? ` in group ${group}` : ''}` : listRows(kind, items),
        );
      }),
    );

  schema
    .command('delete')
    .description('delete a resource (a group that still holds resources needs --cascade)')
    .argument('<kind>', USER_SCHEMA_KINDS.join('|'))
    .argument('<ref>', 'GROUP for a group, GROUP/NAME otherwise')
    .option('--cascade', "delete a group's measures, streams and index rules too")
    .option('--expected-revision <n>', 'delete only if the resource is at this revision')
    .action((kindArg: string, ref: string, o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const kind = parseKind(kindArg);
        const key = parseRef(kind, ref);
        const expectedRevision = parseInt10(o.expectedRevision, '--expected-revision');
        const r = await (await client()).delete(kind, key, { cascade: o.cascade === true, expectedRevision });
        out.result(r, () => `deleted ${r.deleted.join(', ')} at revision ${r.revision}`);
      }),
    );

  schema
    .command('apply')
    .description('declare resources from a YAML file: each is created, updated or left unchanged')
    .requiredOption(
      '-f, --file <file>',
      'YAML file: a list, {resources: [...]}, or several documents of items {kind, ...fields}',
    )
    .action((o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const file = String(o.file);
        const items = readApplyFile(file);
        const r = await (await client()).apply(items).catch((err: unknown) => {
          // The server names bad items by index; say which file they came from.
          const le = toLockstepError(err);
          if (le.code !== Code.InvalidArgument) throw le;
          throw new LockstepError(le.code, `${file}: ${le.message}`, { details: le.details });
        });
        out.result(r, () => [
          ...r.results.map((x) => `${x.action} ${x.key} at revision ${x.revision}`),
          `revision ${r.revision}`,
        ]);
      }),
    );
}
