/**
 * Validation of a measure or stream query against its resource (pure): every name, type and
 * bound is checked before any shard is asked, each failure an `InvalidArgument` naming the
 * property. The result is the plan the liaison sends to every shard and merges by.
 */
import { errors, type LockstepError } from '../../transport/errors.js';
import {
  AGG_FUNCTIONS,
  type AggFunction,
  type ColumnsForm,
  isColumnsForm,
  type Criteria,
  type FieldCondition,
  type TagCondition,
  type WriteToken,
} from '../../transport/query_types.js';
import { checkName, type Measure, type Stream, type TagType } from '../../transport/schema_types.js';
import {
  DEFAULT_QUERY_LIMIT,
  DEFAULT_QUERY_TIMEOUT_MS,
  MAX_CRITERIA_CONDITIONS,
  MAX_CRITERIA_DEPTH,
  MAX_IN_VALUES,
  MAX_QUERY_LIMIT,
  MAX_QUERY_TIMEOUT_MS,
  MAX_BUCKETS,
} from '../../transport/limits.js';
import { parseDuration } from '../../transport/duration.js';
import { decodeCursor, queryFingerprint, type RowKey } from './cursor.js';
import { parseTimestamp } from '../../transport/timestamp.js';
import { checkWriteToken } from '../../transport/write_token.js';
import { elementIdColumn } from '../element_id.js';

/** One aggregation, as planned: `field` null for a row count. */
export interface PlannedAgg {
  fn: AggFunction;
  field: string | null;
  /** The percentile, for `percentile` only. */
  p?: number;
  /** The result column: `fn(field)` or `count`. */
  column: string;
}

/** What the liaison sends each shard (and merges by); msgpack-friendly. */
export interface QueryPlan {
  kind: 'measure' | 'stream';
  group: string;
  name: string;
  /** Inclusive bounds, epoch ms. */
  min_ts: number;
  max_ts: number;
  criteria: Criteria | null;
  /** Output tag and field columns, in output order. */
  tags: string[];
  fields: string[];
  /** Declared tag types (every tag the plan reads), field types. */
  tag_types: Record<string, TagType>;
  field_types: Record<string, 'int' | 'float'>;
  /** The column holding element ids (streams), else null. */
  element_id_column: string | null;
  /** The resource's entity tags. */
  entity: string[];
  order: 'asc' | 'desc';
  offset: number;
  limit: number;
  /** Aggregated query: groups keyed by these tags (the entity when a top-N has no group_by). */
  group_by: string[] | null;
  aggs: PlannedAgg[];
  top: { n: number; agg: PlannedAgg; order: 'asc' | 'desc' } | null;
  /** Time buckets: groups are keyed by their tags, then the bucket start (the key's last value). */
  bucket: PlannedBucket | null;
  /** Raw rows: only rows after this key in the plan's order (the page a cursor asked for). */
  after: RowKey | null;
}

/** Time buckets, as planned. */
export interface PlannedBucket {
  /** Bucket width, whole ms ≥ 1. */
  every_ms: number;
  /** Bucket starts are `offset_ms + k × every_ms`; 0 ≤ offset_ms < every_ms. */
  offset_ms: number;
  /** Empty buckets appear with null values (`fill: "null"`). */
  fill: boolean;
}

/** The fields the plan's aggregations read, each once, in the order they are first named. */
export function aggregatedFields(plan: Pick<QueryPlan, 'aggs'>): string[] {
  return [...new Set(plan.aggs.flatMap((a) => (a.field === null ? [] : [a.field])))];
}

/** The start of the bucket holding `ts`. */
export function bucketStart(b: Pick<PlannedBucket, 'every_ms' | 'offset_ms'>, ts: number): number {
  return Math.floor((ts - b.offset_ms) / b.every_ms) * b.every_ms + b.offset_ms;
}

/** The validated envelope around a plan. */
export interface PlannedQuery {
  plan: QueryPlan;
  /** Names the query in the cursors of its pages (cursor.ts). */
  fingerprint: string;
  schemaRevision: number | undefined;
  writeToken: WriteToken | null;
  allowPartial: boolean;
  /** Raw rows are answered as columns (`columns` in the reply, packed if asked) instead of one object per row. */
  columns: ColumnsForm;
  timeoutMs: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (where: string, msg: string): LockstepError => errors.invalidArgument(`${where}: ${msg}`, { field: where });

const COMMON_KEYS = [
  'group',
  'name',
  'schema_revision',
  'from',
  'to',
  'criteria',
  'tag_projection',
  'order',
  'offset',
  'limit',
  'write_token',
  'allow_partial',
  'timeout_ms',
  'cursor',
  'columns',
];
const MEASURE_KEYS = [
  ...COMMON_KEYS,
  'field_projection',
  'group_by',
  'aggregations',
  'top',
  'bucket',
  'bucket_offset',
  'fill',
];

/** The envelope fields every query has, checked before the gate (group, name, revision, timeout). */
export function queryTarget(
  kind: 'measure' | 'stream',
  body: unknown,
): { group: string; name: string; schemaRevision: number | undefined; timeoutMs: number } {
  if (!isObj(body)) throw errors.invalidArgument('the query body must be an object');
  const group = checkName(body.group, 'group');
  const name = checkName(body.name, kind);
  const rev = body.schema_revision;
  if (rev !== undefined && !(Number.isSafeInteger(rev) && (rev as number) >= 0))
    throw bad('schema_revision', 'must be a non-negative integer');
  const timeoutMs = intIn(body.timeout_ms, 'timeout_ms', 1, MAX_QUERY_TIMEOUT_MS, DEFAULT_QUERY_TIMEOUT_MS);
  return { group, name, schemaRevision: rev as number | undefined, timeoutMs };
}

/** Validates a query body against the resource it names. */
export function planQuery(kind: 'measure' | 'stream', body: unknown, resource: Measure | Stream): PlannedQuery {
  const { group, name, schemaRevision, timeoutMs } = queryTarget(kind, body);
  const b = body as Obj;
  const allowed = kind === 'measure' ? MEASURE_KEYS : COMMON_KEYS;
  for (const k of Object.keys(b)) {
    if (!allowed.includes(k)) throw bad(k, `is not a known property of a ${kind} query (known: ${allowed.join(', ')})`);
  }
  const from = parseTimestamp(b.from, 'from');
  const to = parseTimestamp(b.to, 'to');
  if (from > to) throw bad('from', `is after to (${new Date(from).toISOString()} > ${new Date(to).toISOString()})`);

  const tagTypes: Record<string, TagType> = {};
  for (const f of resource.tag_families) for (const t of f.tags) tagTypes[t.name] ??= t.type;
  const fieldTypes: Record<string, 'int' | 'float'> = {};
  if (kind === 'measure') for (const f of (resource as Measure).fields) fieldTypes[f.name] = f.type;
  const idColumn = kind === 'stream' ? elementIdColumn(resource as Stream) : null;

  const criteria =
    b.criteria === undefined || b.criteria === null
      ? null
      : checkCriteria(b.criteria, { tagTypes, fieldTypes }, 'criteria', { depth: 0, count: 0 });
  const tags =
    b.tag_projection === undefined
      ? Object.keys(tagTypes)
      : nameList(b.tag_projection, 'tag_projection', tagTypes, 'tag');
  let fields: string[] = [];
  if (kind === 'measure')
    fields =
      b.field_projection === undefined
        ? Object.keys(fieldTypes)
        : nameList(b.field_projection, 'field_projection', fieldTypes, 'field');

  const order = b.order === undefined ? 'asc' : b.order;
  if (order !== 'asc' && order !== 'desc') throw bad('order', `must be "asc" or "desc", got ${JSON.stringify(order)}`);
  let offset = intIn(b.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
  const fingerprint = queryFingerprint(b);
  let after: RowKey | null = null;
  if (b.cursor !== undefined) {
    if (b.offset !== undefined) throw bad('cursor', 'and offset page the same answer: give one of them');
    const c = decodeCursor(b.cursor, fingerprint);
    if ('offset' in c) offset = c.offset;
    else after = c.after;
  }
  const limit = intIn(b.limit, 'limit', 0, MAX_QUERY_LIMIT, DEFAULT_QUERY_LIMIT);
  if (b.allow_partial !== undefined && typeof b.allow_partial !== 'boolean')
    throw bad('allow_partial', 'must be true or false');
  if (b.columns !== undefined && !isColumnsForm(b.columns)) throw bad('columns', 'must be true, false or "packed"');
  const columns = b.columns ?? false;
  const writeToken = b.write_token === undefined || b.write_token === null ? null : checkToken(b.write_token, group);

  let groupBy: string[] | null = null;
  let aggs: PlannedAgg[] = [];
  let top: QueryPlan['top'] = null;
  let bucket: PlannedBucket | null = null;
  if (kind === 'measure') {
    if (b.aggregations !== undefined) {
      if (!Array.isArray(b.aggregations) || b.aggregations.length === 0)
        throw bad('aggregations', 'must be a non-empty array of {fn, field}');
      aggs = b.aggregations.map((a, i) => checkAgg(a, `aggregations[${i}]`, fieldTypes));
    }
    if (b.top !== undefined) {
      if (!isObj(b.top)) throw bad('top', 'must be an object {n, fn, field, order}');
      const agg = checkAgg(
        { fn: b.top.fn, field: b.top.field, ...(b.top.p !== undefined ? { p: b.top.p } : {}) },
        'top',
        fieldTypes,
      );
      const n = intIn(b.top.n, 'top.n', 1, MAX_QUERY_LIMIT, undefined);
      const o = b.top.order ?? 'desc';
      if (o !== 'asc' && o !== 'desc') throw bad('top.order', `must be "asc" or "desc", got ${JSON.stringify(o)}`);
      for (const k of Object.keys(b.top))
        if (!['n', 'fn', 'field', 'order', 'p'].includes(k))
          throw bad(`top.${k}`, 'is not a known property (known: n, fn, field, order, p)');
      top = { n, agg, order: o };
      if (!aggs.some((a) => a.column === agg.column)) aggs.push(agg);
    }
    if (b.group_by !== undefined) {
      groupBy = nameList(b.group_by, 'group_by', tagTypes, 'tag');
      if (aggs.length === 0)
        throw bad('group_by', 'needs at least one aggregation (aggregations: [{fn: "count"}] counts rows)');
    } else if (top !== null) {
      groupBy = [...resource.entity];
    } else if (aggs.length > 0) {
      groupBy = [];
    }
    if (groupBy !== null && b.field_projection !== undefined)
      throw bad('field_projection', 'does not apply to an aggregated query (its columns are the aggregations)');
    bucket = checkBucket(b, from, to);
    if (bucket !== null && groupBy === null)
      throw bad('bucket', 'needs at least one aggregation (aggregations: [{fn: "mean", field: "value"}])');
    if (groupBy !== null && columns !== false)
      throw bad('columns', 'answers raw rows as columns; an aggregated query answers groups');
  }
  return {
    plan: {
      kind,
      group,
      name,
      min_ts: from,
      max_ts: to - 1,
      criteria,
      tags,
      fields,
      tag_types: tagTypes,
      field_types: fieldTypes,
      element_id_column: idColumn,
      entity: [...resource.entity],
      order,
      offset,
      limit,
      group_by: groupBy,
      aggs,
      top,
      bucket,
      after: groupBy === null ? after : null,
    },
    fingerprint,
    schemaRevision,
    writeToken,
    allowPartial: b.allow_partial === true,
    columns,
    timeoutMs,
  };
}

/** The bucket of a query (null without `bucket`); its count over [from, to) is bounded by MAX_BUCKETS. */
function checkBucket(b: Obj, from: number, to: number): PlannedBucket | null {
  if (b.bucket === undefined) {
    for (const k of ['bucket_offset', 'fill'])
      if (b[k] !== undefined) throw bad(k, 'applies to a bucketed query only (give bucket, e.g. "1m")');
    return null;
  }
  const every = parseDuration(b.bucket, 'bucket');
  if (!Number.isSafeInteger(every) || every < 1)
    throw bad('bucket', `must be a whole number of ms ≥ 1, got ${every} ms`);
  const shift = b.bucket_offset === undefined ? 0 : parseDuration(b.bucket_offset, 'bucket_offset');
  if (!Number.isSafeInteger(shift)) throw bad('bucket_offset', `must be a whole number of ms, got ${shift} ms`);
  if (b.fill !== undefined && b.fill !== 'none' && b.fill !== 'null')
    throw bad('fill', `must be "none" or "null", got ${JSON.stringify(b.fill)}`);
  const planned = { every_ms: every, offset_ms: ((shift % every) + every) % every, fill: b.fill === 'null' };
  const buckets = to > from ? (bucketStart(planned, to - 1) - bucketStart(planned, from)) / every + 1 : 0;
  if (buckets > MAX_BUCKETS)
    throw bad(
      'bucket',
      `${b.bucket} over the range makes ${buckets} buckets; at most ${MAX_BUCKETS} (use a wider bucket or a shorter range)`,
    );
  return planned;
}

function intIn(v: unknown, where: string, min: number, max: number, dflt: number | undefined): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max)
    throw bad(where, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v as number;
}

function nameList(v: unknown, where: string, declared: Record<string, unknown>, what: string): string[] {
  if (!Array.isArray(v)) throw bad(where, `must be an array of ${what} names`);
  const out: string[] = [];
  v.forEach((n, i) => {
    if (typeof n !== 'string' || !Object.hasOwn(declared, n))
      throw bad(
        `${where}[${i}]`,
        `unknown ${what} ${JSON.stringify(n)} (declared: ${Object.keys(declared).join(', ') || 'none'})`,
      );
    if (!out.includes(n)) out.push(n);
  });
  return out;
}

function checkAgg(a: unknown, where: string, fieldTypes: Record<string, unknown>): PlannedAgg {
  if (!isObj(a)) throw bad(where, 'must be an object {fn, field}');
  const fn = a.fn;
  if (typeof fn !== 'string' || !(AGG_FUNCTIONS as readonly string[]).includes(fn)) {
    throw bad(`${where}.fn`, `unknown aggregation ${JSON.stringify(fn)} (known: ${AGG_FUNCTIONS.join(', ')})`);
  }
  const field = a.field ?? null;
  if (field === null && fn !== 'count') throw bad(`${where}.field`, `${fn} needs a field`);
  if (field !== null && (typeof field !== 'string' || !Object.hasOwn(fieldTypes, field))) {
    throw bad(
      `${where}.field`,
      `unknown field ${JSON.stringify(field)} (declared: ${Object.keys(fieldTypes).join(', ') || 'none'})`,
    );
  }
  for (const k of Object.keys(a))
    if (!['fn', 'field', 'p'].includes(k)) throw bad(`${where}.${k}`, 'is not a known property (known: fn, field, p)');
  if (fn !== 'percentile') {
    if (a.p !== undefined) throw bad(`${where}.p`, 'applies to fn "percentile" only');
    return {
      fn: fn as AggFunction,
      field: field as string | null,
      column: field === null ? 'count' : `${fn}(${field})`,
    };
  }
  const p = a.p;
  if (typeof p !== 'number' || !(p > 0 && p <= 100))
    throw bad(`${where}.p`, `percentile needs p in (0, 100], e.g. 99, got ${JSON.stringify(p)}`);
  return { fn: 'percentile', field: field as string, p, column: `p${p}(${field})` };
}

function checkToken(v: unknown, group: string): WriteToken {
  const t = checkWriteToken(v);
  if ('message' in t) {
    const path = t.path ? `write_token.${t.path}` : 'write_token';
    throw bad(path, `${t.message} (a write token is {group, shards: {<shard>: <sequence>}} as a write reply gives it)`);
  }
  if (t.group !== group)
    throw bad('write_token.group', `is ${JSON.stringify(t.group)}, the query reads group ${group}`);
  return t;
}

function checkCriteria(
  c: unknown,
  types: { tagTypes: Record<string, TagType>; fieldTypes: Record<string, 'int' | 'float'> },
  where: string,
  st: { depth: number; count: number },
): Criteria {
  if (!isObj(c)) throw bad(where, 'must be {tag, op, value}, {and: [...]} or {or: [...]}');
  if (++st.count > MAX_CRITERIA_CONDITIONS) throw bad(where, `more than ${MAX_CRITERIA_CONDITIONS} criteria nodes`);
  for (const op of ['and', 'or'] as const) {
    if (Object.hasOwn(c, op)) {
      if (Object.keys(c).length !== 1) throw bad(where, `an ${op} node has only the key "${op}"`);
      const list = c[op];
      if (!Array.isArray(list) || list.length === 0)
        throw bad(`${where}.${op}`, 'must be a non-empty array of criteria');
      if (st.depth + 1 > MAX_CRITERIA_DEPTH) throw bad(where, `criteria nest deeper than ${MAX_CRITERIA_DEPTH}`);
      st.depth++;
      const out = list.map((x, i) => checkCriteria(x, types, `${where}.${op}[${i}]`, st));
      st.depth--;
      return op === 'and' ? { and: out } : { or: out };
    }
  }
  if (Object.hasOwn(c, 'field')) return checkFieldCondition(c, types.fieldTypes, where);
  const { tagTypes } = types;
  for (const k of Object.keys(c))
    if (!['tag', 'op', 'value'].includes(k))
      throw bad(`${where}.${k}`, 'is not a known property (known: tag, field, op, value, and, or)');
  const tag = c.tag;
  if (typeof tag !== 'string' || !Object.hasOwn(tagTypes, tag))
    throw bad(`${where}.tag`, `unknown tag ${JSON.stringify(tag)} (declared: ${Object.keys(tagTypes).join(', ')})`);
  const op = c.op;
  if (op !== 'eq' && op !== 'ne' && op !== 'in' && op !== 'not_in')
    throw bad(`${where}.op`, `must be eq, ne, in or not_in, got ${JSON.stringify(op)}`);
  const type = tagTypes[tag]!;
  const wantInt = type === 'int' || type === 'int[]';
  const checkOne = (v: unknown, w: string) => {
    if (wantInt ? !Number.isSafeInteger(v) : typeof v !== 'string')
      throw bad(w, `tag ${tag} is ${type}: expected ${wantInt ? 'an integer' : 'a string'}, got ${JSON.stringify(v)}`);
  };
  if (op === 'in' || op === 'not_in') {
    if (!Array.isArray(c.value) || c.value.length === 0 || c.value.length > MAX_IN_VALUES)
      throw bad(`${where}.value`, `${op} needs an array of 1–${MAX_IN_VALUES} values`);
    c.value.forEach((v, i) => checkOne(v, `${where}.value[${i}]`));
  } else {
    checkOne(c.value, `${where}.value`);
  }
  return { tag, op, value: c.value } as TagCondition;
}

const FIELD_OPS = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];

/** `{field, op, value}`: a declared field (measures only), a comparison, a finite number. */
function checkFieldCondition(c: Obj, fieldTypes: Record<string, 'int' | 'float'>, where: string): FieldCondition {
  for (const k of Object.keys(c))
    if (!['field', 'op', 'value'].includes(k))
      throw bad(`${where}.${k}`, 'is not a known property of a field condition (known: field, op, value)');
  const field = c.field;
  if (typeof field !== 'string' || !Object.hasOwn(fieldTypes, field))
    throw bad(
      `${where}.field`,
      `unknown field ${JSON.stringify(field)} (declared: ${Object.keys(fieldTypes).join(', ') || 'none'})`,
    );
  if (typeof c.op !== 'string' || !FIELD_OPS.includes(c.op))
    throw bad(`${where}.op`, `a field condition takes ${FIELD_OPS.join(', ')}, got ${JSON.stringify(c.op)}`);
  if (typeof c.value !== 'number' || !Number.isFinite(c.value))
    throw bad(`${where}.value`, `field ${field} is compared with a finite number, got ${JSON.stringify(c.value)}`);
  return { field, op: c.op as FieldCondition['op'], value: c.value };
}
