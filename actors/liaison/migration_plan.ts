/**
 * A migration spec, checked, and what it would do to each target (DESIGN §9), as pure functions of
 * the spec and the targets' current resources: `instant` when the change is compatible (a ttl, an
 * added field or tag) — its cutover is the registry update itself — or `rewrite` when it changes the
 * data's layout (shards, segment interval, replicas, placement, entity, a field's or tag's type).
 * The planned resources are validated exactly as a plain update would be, and carry the revision
 * they were planned against so the cutover never overwrites a later change.
 */
import { SCHEMA_DURATION, parseDuration } from '../../transport/duration.js';
import { errors } from '../../transport/errors.js';
import {
  DEFAULT_ON_FAILURE,
  DEFAULT_POLICY,
  ON_FAILURE,
  POLICIES,
  type MeasureChange,
  type MigrationChange,
  type MigrationSpec,
  type OperationKind,
  type PlannedLayout,
  type PlannedResource,
} from '../../transport/migration_types.js';
import { layoutOf, type Layout, type LayoutGeneration } from '../../transport/layout_types.js';
import { sameEntity } from '../../storage/routing.js';
import {
  checkName,
  DEFAULT_PLACEMENT_STRATEGY,
  FIELD_TYPES,
  TAG_TYPES,
  type Group,
  type Measure,
  type StoredResource,
} from '../../transport/schema_types.js';
import {
  checkKnownProps,
  immutableChanges,
  isPlainObject,
  validateGroup,
  validateMeasure,
  withoutMeta,
} from './schema_validation.js';

/** The most targets one migration may order. */
export const MAX_TARGETS = 64;

/** A target's current resources, read from the registry. */
export interface TargetResources {
  group: StoredResource<Group>;
  measures: StoredResource<Measure>[];
  /** The group's layout record; null when it has none (its layout is generation 1, from the group). */
  layout?: StoredResource<Layout> | null;
}

/** What one target's operation would do. */
export interface TargetPlan {
  target: string;
  kind: OperationKind;
  reason: string;
  resources: PlannedResource[];
  /** The layout generation a rewrite of the group's layout builds; null when the layout stays. */
  layout: PlannedLayout | null;
  /** The generation in force now: what a rewrite copies from. */
  current: LayoutGeneration;
  /** What of the change a rewrite cannot do yet (a tag's type), if anything: `start` refuses it. */
  unsupported?: string;
}

/** The group properties that make its layout (transport/layout_types.ts). */
const LAYOUT_PROPS = ['shards', 'segment_interval', 'replicas'] as const;

function bad(field: string, message: string) {
  return errors.invalidArgument(`spec.${field} ${message}`, { field: `spec.${field}` });
}

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw bad(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

function typeMap(v: unknown, field: string, types: readonly string[]): Record<string, string> {
  if (!isPlainObject(v)) throw bad(field, 'must map names to types');
  for (const [k, t] of Object.entries(v)) {
    checkName(k, `spec.${field} name`);
    if (typeof t !== 'string' || !types.includes(t)) {
      throw bad(`${field}.${k}`, `must be one of ${types.join(', ')}, got ${JSON.stringify(t)}`);
    }
  }
  return v as Record<string, string>;
}

function measureChange(v: unknown, at: string): MeasureChange {
  if (!isPlainObject(v)) throw bad(at, 'must be an object');
  checkKnownProps(v, ['entity', 'fields', 'tags'], `spec.${at}`);
  const out: MeasureChange = {};
  if (v.entity !== undefined) {
    if (!Array.isArray(v.entity) || v.entity.length === 0)
      throw bad(`${at}.entity`, 'must be a non-empty list of tags');
    out.entity = v.entity.map((t, i) => checkName(t, `spec.${at}.entity[${i}]`));
  }
  if (v.fields !== undefined) out.fields = typeMap(v.fields, `${at}.fields`, FIELD_TYPES);
  if (v.tags !== undefined) out.tags = typeMap(v.tags, `${at}.tags`, TAG_TYPES);
  return out;
}

function change(v: unknown): MigrationChange {
  if (!isPlainObject(v)) throw bad('change', 'must be an object with group and/or measures');
  checkKnownProps(v, ['group', 'measures'], 'spec.change');
  const out: MigrationChange = {};
  if (v.group !== undefined) {
    if (!isPlainObject(v.group)) throw bad('change.group', 'must be an object');
    checkKnownProps(v.group, ['ttl', 'shards', 'segment_interval', 'replicas', 'placement'], 'spec.change.group');
    out.group = v.group as MigrationChange['group'];
  }
  if (v.measures !== undefined) {
    if (!isPlainObject(v.measures)) throw bad('change.measures', 'must map measure names to their change');
    out.measures = {};
    for (const [name, mc] of Object.entries(v.measures)) {
      checkName(name, 'spec.change.measures name');
      out.measures[name] = measureChange(mc, `change.measures.${name}`);
    }
  }
  if (!out.group && (!out.measures || Object.keys(out.measures).length === 0)) {
    throw bad('change', 'is empty: give group properties and/or measures to change');
  }
  return out;
}

/** A request's spec, checked; `InvalidArgument` naming the field otherwise. */
export function parseSpec(body: unknown): Required<MigrationSpec> {
  if (!isPlainObject(body)) throw errors.invalidArgument('spec must be an object', { field: 'spec' });
  checkKnownProps(body, ['targets', 'policy', 'on_failure', 'defer_cutover', 'change'], 'spec');
  const t = body.targets;
  if (!Array.isArray(t) || t.length === 0) throw bad('targets', 'must be a non-empty list of groups');
  if (t.length > MAX_TARGETS) throw bad('targets', `has ${t.length} groups; at most ${MAX_TARGETS}`);
  const targets = t.map((g, i) => checkName(g, `spec.targets[${i}]`));
  targets.forEach((g, i) => {
    if (targets.indexOf(g) !== i) throw bad(`targets[${i}]`, `repeats ${g}: each group is a target once`);
  });
  if (body.defer_cutover !== undefined && typeof body.defer_cutover !== 'boolean') {
    throw bad('defer_cutover', `must be true or false, got ${JSON.stringify(body.defer_cutover)}`);
  }
  return {
    targets,
    policy: oneOf(body.policy, 'policy', POLICIES, DEFAULT_POLICY),
    on_failure: oneOf(body.on_failure, 'on_failure', ON_FAILURE, DEFAULT_ON_FAILURE),
    defer_cutover: body.defer_cutover === true,
    change: change(body.change),
  };
}

/** The group after the change, with what changed. */
function planGroup(
  g: Group,
  layout: Layout,
  c: MigrationChange['group'],
): { next: Group; nextLayout: LayoutGeneration | null; notes: string[] } {
  const next = { ...g };
  const notes: string[] = [];
  if (!c) return { next, nextLayout: null, notes };
  if (c.ttl !== undefined && c.ttl !== g.ttl) {
    parseDuration(c.ttl, 'spec.change.group.ttl', SCHEMA_DURATION);
    notes.push(`ttl ${g.ttl} → ${c.ttl}`);
    next.ttl = c.ttl;
  }
  // Layout properties compare with the layout in force, not with the group as it was created.
  const cur = layout.current;
  const before = notes.length;
  const gen: LayoutGeneration = { ...cur, placement: { ...cur.placement, data_nodes: [...cur.placement.data_nodes] } };
  for (const p of LAYOUT_PROPS) {
    if (c[p] !== undefined && c[p] !== cur[p]) {
      notes.push(`${p} ${cur[p]} → ${c[p]}`);
      (gen as unknown as Record<string, unknown>)[p] = c[p];
    }
  }
  if (c.placement !== undefined) {
    const want = [...(c.placement.data_nodes ?? [])].sort();
    const have = [...cur.placement.data_nodes].sort();
    if (want.join(',') !== have.join(',')) {
      notes.push(`placement ${have.join(',') || '(none)'} → ${want.join(',')}`);
      gen.placement = { data_nodes: want, strategy: DEFAULT_PLACEMENT_STRATEGY };
    }
  }
  if (notes.length === before) return { next, nextLayout: null, notes };
  // Checked by the group rules: shard count, interval grammar, replicas, node names.
  const { generation: _generation, ...props } = gen;
  const checked = validateGroup({ ...withoutMeta(g), ...props, name: g.name });
  const newest = Math.max(cur.generation, layout.retiring?.generation ?? 0, layout.next?.generation ?? 0);
  return {
    next,
    notes,
    nextLayout: {
      generation: newest + 1,
      shards: checked.shards,
      segment_interval: checked.segment_interval,
      replicas: checked.replicas,
      placement: checked.placement!,
    },
  };
}

/** The measure after the change, with what changed. */
function planMeasure(m: Measure, c: MeasureChange): { next: Measure; notes: string[]; retagged: string[] } {
  const next: Measure = structuredClone(m);
  const notes: string[] = [];
  const retagged: string[] = [];
  const tagType = new Map(m.tag_families.flatMap((f) => f.tags.map((t) => [t.name, t.type] as const)));
  for (const [tag, type] of Object.entries(c.tags ?? {})) {
    const had = tagType.get(tag);
    if (had === undefined) {
      notes.push(`${m.name} adds tag ${tag}:${type}`);
      next.tag_families[0]!.tags.push({
        name: tag,
        type: type as Measure['tag_families'][number]['tags'][number]['type'],
      });
    } else if (had !== type) {
      notes.push(`${m.name} tag ${tag} ${had} → ${type}`);
      retagged.push(`${m.name} tag ${tag} ${had} → ${type}`);
      for (const f of next.tag_families) for (const t of f.tags) if (t.name === tag) t.type = type as typeof t.type;
    }
  }
  for (const [field, type] of Object.entries(c.fields ?? {})) {
    const had = m.fields.find((f) => f.name === field);
    if (!had) {
      notes.push(`${m.name} adds field ${field}:${type}`);
      next.fields.push({ name: field, type: type as Measure['fields'][number]['type'] });
    } else if (had.type !== type) {
      notes.push(`${m.name} field ${field} ${had.type} → ${type}`);
      next.fields = next.fields.map((f) => (f.name === field ? { ...f, type: type as typeof f.type } : f));
    }
  }
  if (c.entity && !sameEntity(c.entity, m.entity)) {
    notes.push(`${m.name} entity [${m.entity.join(', ')}] → [${c.entity.join(', ')}]`);
    next.entity = c.entity;
  }
  return { next, notes, retagged };
}

/** What the spec's change does to one target; `NotFound` or `InvalidArgument` naming it when it cannot apply. */
export function planTarget(spec: Required<MigrationSpec>, cur: TargetResources): TargetPlan {
  const target = cur.group.resource.name;
  const resources: PlannedResource[] = [];
  const notes: string[] = [];
  // A rewrite is whatever a plain update would refuse: one list, schema_validation's.
  let rewrite = false;
  const layout = layoutOf(cur.group.resource, cur.layout?.resource);
  if (layout.next) {
    throw errors.failedPrecondition(
      `group ${target} is building layout generation ${layout.next.generation} for another migration`,
      { target },
    );
  }
  const g = planGroup(cur.group.resource, layout, spec.change.group);
  if (g.next.ttl !== cur.group.resource.ttl) {
    const next = validateGroup(withoutMeta(g.next));
    resources.push({ kind: 'group', resource: { ...next }, mod_revision: cur.group.mod_revision });
  }
  notes.push(...g.notes);
  if (g.nextLayout) rewrite = true;
  const unsupported: string[] = [];
  // Measures whose rows change shape (entity, a field's type): the new generation stores them so.
  const reshaped: Record<string, Measure> = {};
  for (const [name, mc] of Object.entries(spec.change.measures ?? {})) {
    if (cur.group.resource.catalog !== 'measure') {
      throw errors.invalidArgument(`group ${target} holds streams: spec.change.measures cannot apply to it`, {
        field: 'spec.change.measures',
        target,
      });
    }
    const stored = cur.measures.find((m) => m.resource.name === name);
    if (!stored) throw errors.notFound(`measure ${target}/${name} does not exist`, { target, measure: name });
    const m = planMeasure(stored.resource, mc);
    if (m.notes.length === 0) continue;
    const next = validateMeasure(withoutMeta(m.next));
    resources.push({ kind: 'measure', resource: { ...next }, mod_revision: stored.mod_revision });
    notes.push(...m.notes);
    if (immutableChanges('measure', withoutMeta(stored.resource), next).length > 0) {
      rewrite = true;
      reshaped[name] = withoutMeta(next);
      unsupported.push(...m.retagged);
    }
  }
  let nextLayout = g.nextLayout;
  if (Object.keys(reshaped).length > 0) {
    const cur = layout.current;
    nextLayout ??= {
      ...cur,
      generation: Math.max(cur.generation, layout.retiring?.generation ?? 0) + 1,
      placement: { ...cur.placement, data_nodes: [...cur.placement.data_nodes] },
    };
    nextLayout = { ...nextLayout, measures: { ...nextLayout.measures, ...reshaped } };
  }
  return {
    target,
    kind: rewrite ? 'rewrite' : 'instant',
    reason: notes.length > 0 ? notes.join('; ') : 'already as asked: nothing to change',
    resources,
    layout: nextLayout ? { next: nextLayout, mod_revision: cur.layout?.mod_revision ?? 0 } : null,
    current: layout.current,
    ...(unsupported.length > 0 ? { unsupported: unsupported.join('; ') } : {}),
  };
}
