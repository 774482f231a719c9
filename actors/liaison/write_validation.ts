/**
 * Pure validation of measure and stream write batches (DESIGN §7): body shape, batch size, names,
 * value types, entity tags and the timestamp window. It runs for every point on the write path, so
 * the per-resource lookups are compiled once and cached, and messages are built only on failure.
 */
import { Code, errors, LockstepError } from '../../transport/errors.js';
import { ttlMs, type Group, type Measure, type Stream } from '../../transport/schema_types.js';
import {
  MAX_FUTURE_MS,
  MAX_POINTS_PER_BATCH,
  MAX_TAG_ARRAY_LENGTH,
  MAX_TAG_VALUE_LENGTH,
} from '../../transport/limits.js';
import { DEFAULT_ELEMENT_ID } from '../../transport/schema_types.js';
import { describeValue as describe, parseTimestamp } from '../../transport/timestamp.js';
import type { WriteTagValue } from '../../transport/api_types.js';
import type { MeasurePoint, StreamElement } from '../../transport/wal_record.js';

/** A validated measure batch; `entityKeys[i]` is the canonical entity string of point i (a JSON array in entity order). */
export interface ValidatedMeasureBatch {
  points: MeasurePoint[];
  entityKeys: string[];
}

/** A validated stream batch; `entityKeys[i]` is the canonical entity string of element i. */
export interface ValidatedStreamBatch {
  elements: StreamElement[];
  entityKeys: string[];
}

type Obj = Record<string, unknown>;

// A decoded JSON or msgpack object. Cheaper than a prototype check; anything exotic that slips
// through (a Date, a Map) has no enumerable tags or fields and fails the checks that follow.
export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Type codes, so the hot loop compares small integers instead of strings.
const T_STRING = 0;
const T_INT = 1;
const T_STRING_ARR = 2;
const T_INT_ARR = 3;
const TAG_CODES: Record<string, number> = {
  string: T_STRING,
  int: T_INT,
  'string[]': T_STRING_ARR,
  'int[]': T_INT_ARR,
};
const F_INT = 0;
const F_FLOAT = 1;
// How many declared names an "unknown tag/field" message lists.
const LISTED_NAMES = 8;
// Top-level keys the caller consumes (the gates and the resource address) besides the batch.
const MEASURE_BODY_KEYS = ['points', 'schema_revision', 'group', 'name'];
const STREAM_BODY_KEYS = ['elements', 'schema_revision', 'group', 'name'];

/** Per-resource lookups, compiled once per schema object. */
export interface Compiled {
  label: string;
  tagTypes: Map<string, number>;
  fieldTypes: Map<string, number>;
  entity: string[];
  tagNames: string[];
  fieldNames: string[];
  elementIdTag: string;
  elementIdDeclared: boolean;
}

const compiled = new WeakMap<Measure | Stream, Compiled>();

/** The lookups of `r`, compiled on first use. */
export function compile(r: Measure | Stream, kind: 'measure' | 'stream'): Compiled {
  let c = compiled.get(r);
  if (c !== undefined) return c;
  const tagTypes = new Map<string, number>();
  for (const f of r.tag_families) for (const t of f.tags) tagTypes.set(t.name, TAG_CODES[t.type] ?? T_STRING);
  const fieldTypes = new Map<string, number>();
  for (const f of (r as Measure).fields ?? []) fieldTypes.set(f.name, f.type === 'int' ? F_INT : F_FLOAT);
  const elementIdTag = (r as Stream).element_id ?? DEFAULT_ELEMENT_ID;
  c = {
    label: `${kind} ${r.group}/${r.name}`,
    tagTypes,
    fieldTypes,
    entity: r.entity,
    tagNames: [...tagTypes.keys()],
    fieldNames: [...fieldTypes.keys()],
    elementIdTag,
    elementIdDeclared: tagTypes.has(elementIdTag),
  };
  compiled.set(r, c);
  return c;
}

// Lone surrogates cannot be encoded as UTF-8; Node 20 has String.prototype.isWellFormed natively.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const hasIsWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';
function wellFormed(s: string): boolean {
  return hasIsWellFormed ? (s as unknown as { isWellFormed(): boolean }).isWellFormed() : !LONE_SURROGATE.test(s);
}

export function bad(where: string, message: string): LockstepError {
  return errors.invalidArgument(`${where}: ${message}`, { field: where });
}

export function listNames(names: string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, LISTED_NAMES).join(', ');
  return names.length > LISTED_NAMES ? `${shown} and ${names.length - LISTED_NAMES} more` : shown;
}

function iso(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

function batchOf(body: unknown, list: string, allowed: string[], what: string): unknown[] {
  if (!isObject(body))
    throw errors.invalidArgument(`body: expected an object {${list}: [...]}, got ${describe(body)}`, { field: 'body' });
  for (const k in body) {
    if (!allowed.includes(k)) throw bad(`body.${k}`, `is not a known property (known: ${allowed.join(', ')})`);
  }
  const items = body[list];
  if (!Array.isArray(items)) throw bad(list, `expected an array of ${what}s, got ${describe(items)}`);
  if (items.length === 0) throw bad(list, `the batch is empty: a write needs at least one ${what}`);
  checkBatchSize(items.length, what);
  return items;
}

/** `ResourceExhausted` for a batch of more than MAX_POINTS_PER_BATCH items. */
export function checkBatchSize(size: number, what: string): void {
  if (size > MAX_POINTS_PER_BATCH) {
    throw new LockstepError(
      Code.ResourceExhausted,
      `batch of ${size} ${what}s exceeds the limit of ${MAX_POINTS_PER_BATCH} per write; split it`,
      { details: { limit: MAX_POINTS_PER_BATCH, size } },
    );
  }
}

function checkTs(v: unknown, lo: number, hi: number, group: Group, list: string, i: number): number {
  // The common case, an in-window integer, costs two comparisons.
  const ts = typeof v === 'number' && Number.isSafeInteger(v) ? v : parseTimestamp(v, `${list}[${i}].ts`);
  if (ts < lo || ts > hi) throw outOfWindow(ts, lo, hi, group, `${list}[${i}].ts`);
  return ts;
}

/** A timestamp outside the accepted window [lo, hi], at `where`. */
export function outOfWindow(ts: number, lo: number, hi: number, group: Group, where: string): LockstepError {
  const why =
    ts < lo
      ? `older than the ttl (${group.ttl}) of group ${group.name}`
      : `more than ${MAX_FUTURE_MS / 60_000} min in the future`;
  return bad(where, `${iso(ts)} is ${why}; the accepted window is [${iso(lo)}, ${iso(hi)}]`);
}

function stringProblem(s: string): string | null {
  if (s.length > MAX_TAG_VALUE_LENGTH)
    return `is ${s.length} characters long, over the limit of ${MAX_TAG_VALUE_LENGTH}`;
  if (!wellFormed(s)) return 'contains a lone surrogate (not valid Unicode text)';
  return null;
}

const problem = (message: string, at = '') => ({ at, message });

/**
 * What is wrong with a tag value of `type`, or null: `at` extends the value's location (`[j]` for
 * an item of a list). The location is only built for a bad value: a batch checks every value.
 */
export function tagValueProblem(v: unknown, type: number): { at: string; message: string } | null {
  if (type === T_STRING) {
    if (typeof v !== 'string') return problem(`expected a string, got ${describe(v)}`);
    const p = stringProblem(v);
    return p === null ? null : problem(p);
  }
  if (type === T_INT) return Number.isSafeInteger(v) ? null : problem(`expected a safe integer, got ${describe(v)}`);
  const isStr = type === T_STRING_ARR;
  if (!Array.isArray(v))
    return problem(`expected an array of ${isStr ? 'strings' : 'safe integers'}, got ${describe(v)}`);
  if (v.length > MAX_TAG_ARRAY_LENGTH)
    return problem(`has ${v.length} items, over the limit of ${MAX_TAG_ARRAY_LENGTH}`);
  for (let j = 0; j < v.length; j++) {
    const x: unknown = v[j];
    if (isStr) {
      if (typeof x !== 'string') return problem(`expected a string, got ${describe(x)}`, `[${j}]`);
      const p = stringProblem(x);
      if (p !== null) return problem(p, `[${j}]`);
    } else if (!Number.isSafeInteger(x)) {
      return problem(`expected a safe integer, got ${describe(x)}`, `[${j}]`);
    }
  }
  return null;
}

// Validates every tag of one item, skipping `skip` (an undeclared element-id tag), and returns the
// canonical entity key.
function checkTags(tags: Obj, c: Compiled, list: string, i: number, skip: string | null): string {
  for (const k in tags) {
    if (k === skip) continue;
    const type = c.tagTypes.get(k);
    if (type === undefined) {
      throw bad(`${list}[${i}].tags.${k}`, `unknown tag; ${c.label} declares ${listNames(c.tagNames)}`);
    }
    const p = tagValueProblem(tags[k], type);
    if (p !== null) throw bad(`${list}[${i}].tags.${k}${p.at}`, p.message);
  }
  // Built by hand to skip an array allocation; equal to JSON.stringify of the entity values.
  const ent = c.entity;
  let key = '[';
  for (let j = 0; j < ent.length; j++) {
    const name = ent[j]!;
    if (!Object.hasOwn(tags, name)) {
      throw bad(`${list}[${i}].tags`, `entity tag ${name} is missing (entity of ${c.label}: ${ent.join(', ')})`);
    }
    const v = tags[name];
    // A validated number is a safe integer, whose JSON form is its String form.
    key += (j === 0 ? '' : ',') + (typeof v === 'number' ? String(v) : JSON.stringify(v));
  }
  return key + ']';
}

function tagsOf(v: unknown, list: string, i: number): Obj {
  if (v === undefined) return {};
  if (!isObject(v)) throw bad(`${list}[${i}].tags`, `expected an object of tag values, got ${describe(v)}`);
  return v;
}

function checkFields(v: unknown, c: Compiled, i: number): Record<string, number> {
  if (!isObject(v)) throw bad(`points[${i}].fields`, `expected an object of field values, got ${describe(v)}`);
  let count = 0;
  for (const k in v) {
    const type = c.fieldTypes.get(k);
    if (type === undefined)
      throw bad(`points[${i}].fields.${k}`, `unknown field; ${c.label} declares ${listNames(c.fieldNames)}`);
    const x = v[k];
    if (type === F_FLOAT) {
      if (typeof x !== 'number' || !Number.isFinite(x))
        throw bad(`points[${i}].fields.${k}`, `expected a finite float, got ${describe(x)}`);
    } else if (!Number.isSafeInteger(x)) {
      throw bad(`points[${i}].fields.${k}`, `expected a safe integer, got ${describe(x)}`);
    }
    count++;
  }
  if (count === 0)
    throw bad(`points[${i}].fields`, `a point needs at least one field (declared: ${listNames(c.fieldNames)})`);
  return v as Record<string, number>;
}

function checkItemKeys(o: Obj, k1: string, k2: string, k3: string, list: string, i: number): void {
  for (const k in o) {
    if (k !== k1 && k !== k2 && k !== k3)
      throw bad(`${list}[${i}].${k}`, `is not a known property (known: ${k1}, ${k2}, ${k3})`);
  }
}

/** Validates a measure write body against its group and measure; throws `InvalidArgument` or `ResourceExhausted` naming the culprit. */
export function validateMeasureWrite(
  group: Group,
  measure: Measure,
  body: unknown,
  nowMs: number,
): ValidatedMeasureBatch {
  const c = compile(measure, 'measure');
  const items = batchOf(body, 'points', MEASURE_BODY_KEYS, 'point');
  const lo = nowMs - ttlMs(group);
  const hi = nowMs + MAX_FUTURE_MS;
  const points: MeasurePoint[] = [];
  const entityKeys: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const p = items[i];
    if (!isObject(p)) throw bad(`points[${i}]`, `expected an object {ts, tags, fields}, got ${describe(p)}`);
    checkItemKeys(p, 'ts', 'tags', 'fields', 'points', i);
    const ts = checkTs(p.ts, lo, hi, group, 'points', i);
    const tags = tagsOf(p.tags, 'points', i);
    entityKeys.push(checkTags(tags, c, 'points', i, null));
    const fields = checkFields(p.fields, c, i);
    points.push({ ts, tags: tags as Record<string, WriteTagValue>, fields });
  }
  return { points, entityKeys };
}

function elementIdOf(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0)
    throw bad(where, `expected a non-empty string element id, got ${describe(v)}`);
  const p = stringProblem(v);
  if (p !== null) throw bad(where, p);
  return v;
}

/** Validates a stream write body; the element id comes from `element_id` or the stream's element-id tag. */
export function validateStreamWrite(group: Group, stream: Stream, body: unknown, nowMs: number): ValidatedStreamBatch {
  const c = compile(stream, 'stream');
  const items = batchOf(body, 'elements', STREAM_BODY_KEYS, 'element');
  const lo = nowMs - ttlMs(group);
  const hi = nowMs + MAX_FUTURE_MS;
  const idTag = c.elementIdTag;
  const skip = c.elementIdDeclared ? null : idTag;
  const elements: StreamElement[] = [];
  const entityKeys: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const e = items[i];
    if (!isObject(e)) throw bad(`elements[${i}]`, `expected an object {ts, element_id, tags}, got ${describe(e)}`);
    checkItemKeys(e, 'ts', 'element_id', 'tags', 'elements', i);
    const ts = checkTs(e.ts, lo, hi, group, 'elements', i);
    let tags = tagsOf(e.tags, 'elements', i);
    entityKeys.push(checkTags(tags, c, 'elements', i, skip));
    let id: string | undefined;
    if (e.element_id !== undefined) id = elementIdOf(e.element_id, `elements[${i}].element_id`);
    if (Object.hasOwn(tags, idTag)) {
      const raw = tags[idTag];
      // A declared int id tag still yields a string id.
      const fromTag = elementIdOf(typeof raw === 'number' ? String(raw) : raw, `elements[${i}].tags.${idTag}`);
      if (id !== undefined && id !== fromTag) {
        throw bad(
          `elements[${i}].element_id`,
          `${JSON.stringify(id)} differs from tag ${idTag} ${JSON.stringify(fromTag)}`,
        );
      }
      id = fromTag;
      if (skip !== null) {
        // The undeclared id tag is not a tag column: copy the tags without it (rare path).
        const { [idTag]: _id, ...rest } = tags;
        tags = rest;
      }
    }
    if (id === undefined) {
      throw bad(`elements[${i}]`, `element id is missing: give element_id or tag ${idTag} (${c.label})`);
    }
    elements.push({ ts, element_id: id, tags: tags as Record<string, WriteTagValue> });
  }
  return { elements, entityKeys };
}
