/**
 * Criteria (validated by plan.ts) compiled to row predicates over a series' columns, and the
 * series a criteria pins down (every entity tag fixed by eq/in under a top-level and), so the
 * scan reads only their blocks.
 *
 * On a list tag (string[] or int[]), `eq v` and `in [..]` match rows whose list contains a value;
 * `ne` and `not_in` are their negations. A field condition compares the row's field value; a
 * missing value (NaN) matches none.
 */
import type { Criteria, FieldCondition, TagCondition } from '../../transport/query_types.js';
import type { TagType } from '../../transport/schema_types.js';

/** A predicate on row i of one series' tag columns. */
export type RowPredicate = (i: number) => boolean;
/** Binds a compiled criteria to one series' tag and field columns. */
export type CompiledCriteria = (
  tags: Record<string, ArrayLike<unknown>>,
  fields: Record<string, ArrayLike<number>>,
) => RowPredicate;

/** The most series a criteria may pin before the scan just reads every series. */
const MAX_PINNED_SERIES = 10_000;

/** Compiles a validated criteria tree. */
export function compileCriteria(c: Criteria, tagTypes: Record<string, TagType>): CompiledCriteria {
  if ('and' in c) {
    const parts = c.and.map((x) => compileCriteria(x, tagTypes));
    return (tags, fields) => {
      const ps = parts.map((p) => p(tags, fields));
      return (i) => ps.every((p) => p(i));
    };
  }
  if ('or' in c) {
    const parts = c.or.map((x) => compileCriteria(x, tagTypes));
    return (tags, fields) => {
      const ps = parts.map((p) => p(tags, fields));
      return (i) => ps.some((p) => p(i));
    };
  }
  if ('field' in c) return fieldCondition(c);
  return condition(c, tagTypes[c.tag]!);
}

/** The comparison of a field condition; NaN fails every one (each is false on NaN, `ne` made so). */
function fieldCondition(c: FieldCondition): CompiledCriteria {
  const v = c.value;
  const f = c.field;
  switch (c.op) {
    case 'eq':
      return (_t, fields) => (i) => fields[f]![i] === v;
    case 'ne':
      return (_t, fields) => (i) => fields[f]![i] !== v && fields[f]![i] === fields[f]![i];
    case 'gt':
      return (_t, fields) => (i) => fields[f]![i]! > v;
    case 'ge':
      return (_t, fields) => (i) => fields[f]![i]! >= v;
    case 'lt':
      return (_t, fields) => (i) => fields[f]![i]! < v;
    case 'le':
      return (_t, fields) => (i) => fields[f]![i]! <= v;
  }
}

/** The tags and the fields a criteria tree names. */
export function criteriaNames(c: Criteria | null): { tags: string[]; fields: string[] } {
  const out = { tags: [] as string[], fields: [] as string[] };
  const walk = (x: Criteria) => {
    if ('and' in x) x.and.forEach(walk);
    else if ('or' in x) x.or.forEach(walk);
    else if ('field' in x) out.fields.push(x.field);
    else out.tags.push(x.tag);
  };
  if (c !== null) walk(c);
  return out;
}

function condition(c: TagCondition, type: TagType): CompiledCriteria {
  const values = new Set<unknown>(Array.isArray(c.value) ? c.value : [c.value]);
  const negate = c.op === 'ne' || c.op === 'not_in';
  const list = type === 'string[]' || type === 'int[]';
  if (list) {
    return (tags) => {
      const col = tags[c.tag]!;
      return (i) => (col[i] as unknown[]).some((v) => values.has(v)) !== negate;
    };
  }
  if (values.size === 1) {
    const v = values.values().next().value;
    return (tags) => {
      const col = tags[c.tag]!;
      return negate ? (i) => col[i] !== v : (i) => col[i] === v;
    };
  }
  return (tags) => {
    const col = tags[c.tag]!;
    return (i) => values.has(col[i]) !== negate;
  };
}

/**
 * The canonical entity keys (see write_validation.ts: JSON of the entity values in entity order)
 * of every series the criteria allows, when it fixes each entity tag with eq or in under a
 * top-level and (or is one such condition); null when it does not, or allows too many.
 */
export function entitySeriesKeys(
  c: Criteria | null,
  entity: readonly string[],
  tagTypes: Record<string, TagType>,
): string[] | null {
  if (c === null || entity.length === 0) return null;
  const conds = 'and' in c ? c.and : [c];
  const allowed = new Map<string, unknown[]>();
  for (const x of conds) {
    if ('and' in x || 'or' in x || 'field' in x) continue;
    if (!entity.includes(x.tag) || (x.op !== 'eq' && x.op !== 'in')) continue;
    const t = tagTypes[x.tag];
    if (t === 'string[]' || t === 'int[]') return null; // contains, not equals
    const vals = Array.isArray(x.value) ? x.value : [x.value];
    const prev = allowed.get(x.tag);
    allowed.set(x.tag, prev ? prev.filter((v) => vals.includes(v as never)) : [...new Set(vals)]);
  }
  if (entity.some((t) => !allowed.has(t))) return null;
  let keys: unknown[][] = [[]];
  for (const t of entity) {
    const vals = allowed.get(t)!;
    if (keys.length * vals.length > MAX_PINNED_SERIES) return null;
    keys = keys.flatMap((k) => vals.map((v) => [...k, v]));
  }
  return keys.map((k) => JSON.stringify(k));
}
