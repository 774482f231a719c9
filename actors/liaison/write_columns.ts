/**
 * Pure validation of a measure write sent as columns (`columns` in place of `points`,
 * transport/api_types.ts `WriteColumns`): the same rules as a batch of points (DESIGN §7) checked
 * column by column, and the result already in the WAL record's column form, so the liaison never
 * builds an object per point. A tag sent as a dictionary (`{values, codes}`) stays one: each
 * distinct value is checked once and the entity keys are formatted once per series. Messages name
 * the column and the point: `columns.tags.host[12]`, `columns.tags.host.codes[12]`.
 */
import { errors } from '../../transport/errors.js';
import { ttlMs, type Group, type Measure } from '../../transport/schema_types.js';
import { missingTagValue, type WalColumns } from '../../transport/wal_record.js';
import { describeValue as describe } from '../../transport/timestamp.js';
import { bad, checkBatchSize, compile, isObject, listNames, outOfWindow, tagValueProblem } from './write_validation.js';
import { MAX_FUTURE_MS } from '../../transport/limits.js';
import { seriesOfTags, type RowSeries } from '../../storage/routing.js';
import type { WriteTagValue } from '../../transport/api_types.js';
import type { TagColumn } from '../../transport/query_types.js';

/** A validated columnar batch: columns in the measure's shape and each point's series. */
export interface ValidatedColumns {
  cols: WalColumns;
  series: RowSeries;
}

// Top-level keys the caller consumes (the gates and the resource address) besides the batch.
const BODY_KEYS = ['columns', 'schema_revision', 'group', 'name'];
const COLUMNS_KEYS = ['ts', 'tags', 'fields'];

type Column = ArrayLike<unknown>;

function isColumn(v: unknown): v is Column {
  return Array.isArray(v) || v instanceof Float64Array;
}

function checkKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k in o) {
    if (!allowed.includes(k)) throw bad(`${where}.${k}`, `is not a known property (known: ${allowed.join(', ')})`);
  }
}

function columnOf(v: unknown, n: number, where: string, what: string): Column {
  if (!isColumn(v)) throw bad(where, `expected an array of ${what}, one per point, got ${describe(v)}`);
  if (v.length !== n) throw bad(where, `has ${v.length} entries; columns.ts has ${n} (one per point)`);
  return v;
}

function timestamps(v: unknown, group: Group, nowMs: number): Float64Array {
  if (!isColumn(v)) throw bad('columns.ts', `expected an array of epoch milliseconds, got ${describe(v)}`);
  const n = v.length;
  if (n === 0) throw bad('columns.ts', 'the batch is empty: a write needs at least one point');
  checkBatchSize(n, 'point');
  const lo = nowMs - ttlMs(group);
  const hi = nowMs + MAX_FUTURE_MS;
  const ts = v instanceof Float64Array ? v : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = v[i];
    if (!Number.isSafeInteger(t))
      throw bad(`columns.ts[${i}]`, `expected epoch milliseconds (a safe integer), got ${describe(t)}`);
    if ((t as number) < lo || (t as number) > hi) throw outOfWindow(t as number, lo, hi, group, `columns.ts[${i}]`);
    ts[i] = t as number;
  }
  return ts;
}

/** Validates a measure write body carrying `columns`; throws `InvalidArgument` or `ResourceExhausted` naming the culprit. */
export function validateMeasureColumns(group: Group, measure: Measure, body: unknown, nowMs: number): ValidatedColumns {
  const c = compile(measure, 'measure');
  if (!isObject(body)) throw errors.invalidArgument(`body: expected an object, got ${describe(body)}`);
  checkKeys(body, BODY_KEYS, 'body');
  const given = body.columns;
  if (!isObject(given)) throw bad('columns', `expected an object {ts, tags, fields}, got ${describe(given)}`);
  checkKeys(given, COLUMNS_KEYS, 'columns');
  const ts = timestamps(given.ts, group, nowMs);
  const n = ts.length;

  const givenFields = given.fields;
  if (!isObject(givenFields))
    throw bad('columns.fields', `expected an object of field columns, got ${describe(givenFields)}`);
  const fields: Record<string, Float64Array> = {};
  let anyInt = false;
  const floats: Float64Array[] = [];
  for (const k in givenFields) {
    const type = c.fieldTypes.get(k);
    if (type === undefined)
      throw bad(`columns.fields.${k}`, `unknown field; ${c.label} declares ${listNames(c.fieldNames)}`);
    const isInt = type === 0;
    const src = columnOf(givenFields[k], n, `columns.fields.${k}`, isInt ? 'safe integers' : 'floats');
    const out = src instanceof Float64Array ? src : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x = src[i];
      if (isInt) {
        if (!Number.isSafeInteger(x))
          throw bad(`columns.fields.${k}[${i}]`, `expected a safe integer, got ${describe(x)}`);
      } else if (x === null || (typeof x === 'number' && Number.isNaN(x))) {
        out[i] = NaN;
        continue;
      } else if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw bad(`columns.fields.${k}[${i}]`, `expected a finite float (NaN or null: no value), got ${describe(x)}`);
      }
      out[i] = x as number;
    }
    fields[k] = out;
    if (isInt) anyInt = true;
    else floats.push(out);
  }
  // A point needs at least one field: an int column always has one, a float column may not.
  if (!anyInt) {
    for (let i = 0; i < n; i++) {
      if (!floats.some((f) => !Number.isNaN(f[i]!)))
        throw bad(`columns.fields`, `point ${i} has no field value (declared: ${listNames(c.fieldNames)})`);
    }
  }
  for (const f of measure.fields)
    if (!Object.hasOwn(fields, f.name)) fields[f.name] = new Float64Array(n).fill(f.type === 'float' ? NaN : 0);

  const givenTags = given.tags ?? {};
  if (!isObject(givenTags)) throw bad('columns.tags', `expected an object of tag columns, got ${describe(givenTags)}`);
  const tags: WalColumns['tags'] = {};
  for (const k in givenTags) {
    const type = c.tagTypes.get(k);
    if (type === undefined) throw bad(`columns.tags.${k}`, `unknown tag; ${c.label} declares ${listNames(c.tagNames)}`);
    const v = givenTags[k];
    if (isObject(v) && !ArrayBuffer.isView(v)) {
      tags[k] = dictionary(v, n, type, `columns.tags.${k}`);
      continue;
    }
    const given = columnOf(v, n, `columns.tags.${k}`, 'tag values (or a dictionary {values, codes})');
    const col = Array.isArray(given) ? given : Array.from(given);
    for (let i = 0; i < n; i++) {
      const p = tagValueProblem(col[i], type);
      if (p !== null) throw bad(`columns.tags.${k}[${i}]${p.at}`, p.message);
    }
    tags[k] = col;
  }
  for (const fam of measure.tag_families)
    for (const t of fam.tags)
      if (!Object.hasOwn(tags, t.name))
        tags[t.name] = { values: [missingTagValue(t.type) as WriteTagValue], codes: new Uint8Array(n) };
  const series = seriesOfTags(entityColumns(c.entity, tags, givenTags, c.label), n);
  return { cols: { ts, fields, tags }, series };
}

const DICTIONARY_KEYS = ['values', 'codes'];

/** A tag column sent as a dictionary, checked: each value once, each code an index of one. */
function dictionary(d: Record<string, unknown>, n: number, type: number, where: string): TagColumn {
  checkKeys(d, DICTIONARY_KEYS, where);
  const { values, codes } = d;
  if (!Array.isArray(values))
    throw bad(`${where}.values`, `expected an array of the distinct tag values, got ${describe(values)}`);
  for (let j = 0; j < values.length; j++) {
    const p = tagValueProblem(values[j], type);
    if (p !== null) throw bad(`${where}.values[${j}]${p.at}`, p.message);
  }
  const given = codes instanceof Uint8Array || codes instanceof Uint16Array || codes instanceof Uint32Array;
  if (!given && !Array.isArray(codes))
    throw bad(
      `${where}.codes`,
      `expected an array of indexes into ${where}.values, one per point, got ${describe(codes)}`,
    );
  if (codes.length !== n)
    throw bad(`${where}.codes`, `has ${codes.length} entries; columns.ts has ${n} (one per point)`);
  for (let i = 0; i < n; i++) {
    const k: unknown = codes[i];
    if (!Number.isInteger(k) || (k as number) < 0 || (k as number) >= values.length)
      throw bad(
        `${where}.codes[${i}]`,
        `expected an index into ${where}.values (0 to ${values.length - 1}), got ${describe(k)}`,
      );
  }
  return { values: values as WriteTagValue[], codes: given ? codes : Uint32Array.from(codes as number[]) };
}

/** The entity's tag columns; a tag the write did not send is an error (its filled column is not used). */
function entityColumns(
  entity: readonly string[],
  tags: WalColumns['tags'],
  given: Record<string, unknown>,
  label: string,
): WalColumns['tags'][string][] {
  return entity.map((name) => {
    if (!Object.hasOwn(given, name))
      throw bad('columns.tags', `entity tag ${name} is missing (entity of ${label}: ${entity.join(', ')})`);
    return tags[name]!;
  });
}
