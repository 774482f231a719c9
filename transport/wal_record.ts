/**
 * The write-ahead log's record format (DESIGN §7): what a liaison appends to `P.wal.<group>.<shard>`
 * and a shard owner applies. Both sides compile against this one definition.
 */
import type { WriteTagValue } from './api_types.js';
import { decode, encode } from './codec.js';
import {
  isPackedTimes,
  isPackedValues,
  isTagDictionary,
  packTags,
  selectTagRows,
  packTimes,
  packValues,
  plainTags,
  plainTimes,
  plainValues,
} from './packed_columns.js';
import type { TagColumn } from './query_types.js';
import type { Measure, Stream } from './schema_types.js';

/** A validated measure point. */
export interface MeasurePoint {
  ts: number;
  tags: Record<string, WriteTagValue>;
  fields: Record<string, number>;
}

/** A validated stream element (the element-id tag, when undeclared, is moved out of `tags`). */
export interface StreamElement {
  ts: number;
  element_id: string;
  tags: Record<string, WriteTagValue>;
}

/**
 * What a WAL message carries: one shard's part of one batch, as columns (`cols`, what liaisons
 * write) or as row objects with their entity keys (`rows` + `entity_keys`, the first format; still
 * read). Columns cost a fraction of rows to encode and decode: typed arrays go as raw bytes and no
 * property name repeats per point. On the wire their times and field values are packed where exact
 * (`encodeWalRecord`, `decodeWalRecord`).
 */
export interface WalRecord {
  kind: 'measure' | 'stream';
  group: string;
  name: string;
  /** The resource revision the batch was validated against. */
  revision: number;
  batch_id: string;
  rows?: unknown[];
  /** Canonical entity value per row, in row order (the series identity with `name`). */
  entity_keys?: string[];
  cols?: WalColumns;
}

/**
 * Rows as columns, one entry per row in each: every field and tag the resource declares, missing
 * values already as stored (float NaN, int 0, string '', lists []). A row's entity key is the JSON
 * array of its entity tags' values. `fields._v`, when present, holds each row's version (a WAL
 * sequence, see storage/point_version.ts): records of a dual write's second half, of a write to a
 * retiring generation, and of a backfill carry it; without it, every row's version is the record's
 * own WAL sequence.
 */
export interface WalColumns {
  ts: Float64Array;
  /** Stream element ids (streams only). */
  eid?: string[];
  fields: Record<string, Float64Array>;
  /**
   * A value per row, or (a liaison's columns of a write that sent its tags so, before encoding) a
   * dictionary: `decodeWalRecord` always gives values per row.
   */
  tags: Record<string, unknown[] | TagColumn>;
}

/**
 * The columns of rows `idx` of a validated batch. `resource` may be a layout generation's own shape
 * of the measure the rows were validated against (a rewrite changing a field's type): an int field
 * then takes each value rounded to the nearest integer.
 */
export function walColumns(
  kind: 'measure' | 'stream',
  resource: Measure | Stream,
  rows: readonly unknown[],
  idx: readonly number[],
): WalColumns {
  const n = idx.length;
  const ts = new Float64Array(n);
  const fields: Record<string, Float64Array> = {};
  const tags: Record<string, unknown[]> = {};
  const fieldSpecs = kind === 'measure' ? (resource as Measure).fields : [];
  const fcols = fieldSpecs.map((f) => (fields[f.name] = new Float64Array(n).fill(f.type === 'float' ? NaN : 0)));
  const isInt = fieldSpecs.map((f) => f.type !== 'float');
  const tagSpecs = resource.tag_families
    .flatMap((f) => f.tags)
    .filter((t, i, all) => all.findIndex((x) => x.name === t.name) === i);
  const tcols = tagSpecs.map((t) => (tags[t.name] = new Array<unknown>(n)));
  const missing = tagSpecs.map((t) => missingTagValue(t.type));
  const eid = kind === 'stream' ? new Array<string>(n) : undefined;
  for (let k = 0; k < n; k++) {
    const row = rows[idx[k]!] as {
      ts: number;
      element_id?: string;
      tags: Record<string, unknown>;
      fields?: Record<string, number>;
    };
    ts[k] = row.ts;
    if (eid) eid[k] = row.element_id!;
    const fv = row.fields;
    if (fv) {
      for (let j = 0; j < fcols.length; j++) {
        const v = fv[fieldSpecs[j]!.name];
        if (v !== undefined) fcols[j]![k] = isInt[j] ? Math.round(v) : v;
      }
    }
    const tv = row.tags;
    for (let j = 0; j < tcols.length; j++) {
      // Own properties only: a tag named like a prototype member (`constructor`) may be absent.
      const name = tagSpecs[j]!.name;
      const v = Object.hasOwn(tv, name) ? tv[name] : undefined;
      tcols[j]![k] = v === undefined ? missing[j] : v;
    }
  }
  return eid ? { ts, eid, fields, tags } : { ts, fields, tags };
}

/**
 * Rows `idx` of columns already in the WAL form (a columnar write, validated against `from`), in
 * the shape of `resource` (a layout generation's shape of the same measure): a field whose type
 * changed to int takes each value rounded (a float's NaN, no value, becomes 0), a field or tag the
 * columns lack its missing value.
 */
export function selectColumns(resource: Measure, cols: WalColumns, idx: readonly number[]): WalColumns {
  const n = idx.length;
  const ts = new Float64Array(n);
  for (let k = 0; k < n; k++) ts[k] = cols.ts[idx[k]!]!;
  const fields: Record<string, Float64Array> = {};
  for (const f of resource.fields) {
    const out = (fields[f.name] = new Float64Array(n));
    const src = Object.hasOwn(cols.fields, f.name) ? cols.fields[f.name]! : undefined;
    const isInt = f.type !== 'float';
    if (src === undefined) out.fill(isInt ? 0 : NaN);
    else if (!isInt) for (let k = 0; k < n; k++) out[k] = src[idx[k]!]!;
    else
      for (let k = 0; k < n; k++) {
        const v = src[idx[k]!]!;
        out[k] = Number.isNaN(v) ? 0 : Math.round(v);
      }
  }
  const tags: WalColumns['tags'] = {};
  for (const fam of resource.tag_families)
    for (const t of fam.tags) {
      if (Object.hasOwn(tags, t.name)) continue;
      const src = Object.hasOwn(cols.tags, t.name) ? cols.tags[t.name]! : undefined;
      if (src !== undefined && !Array.isArray(src)) {
        tags[t.name] = selectTagRows(src, idx);
        continue;
      }
      const out = (tags[t.name] = new Array<unknown>(n));
      if (src === undefined) out.fill(missingTagValue(t.type));
      else for (let k = 0; k < n; k++) out[k] = src[idx[k]!];
    }
  return { ts, fields, tags };
}

/** The value a row without tag `type` stores (and routes by) in its place. */
export function missingTagValue(type: string): unknown {
  return type === 'string' ? '' : type === 'int' ? 0 : [];
}

/**
 * A WAL message's bytes (msgpack): a record's column times and field values packed where exact
 * (transport/packed_columns.ts: steps as small integers, decimals as scaled integers) and string
 * tags that repeat as dictionaries — a point of the bench's shape takes 6 bytes for its time and
 * two fields instead of 24, on the socket, in JetStream's store and through the shard's decoder.
 */
export function encodeWalRecord(record: WalRecord): Uint8Array {
  const cols = record.cols;
  if (!cols) return encode(record);
  const fields: Record<string, unknown> = {};
  for (const k in cols.fields) fields[k] = packValues(cols.fields[k]!);
  const tags: Record<string, unknown> = {};
  for (const k in cols.tags) {
    const col = cols.tags[k]!;
    tags[k] = Array.isArray(col) ? packTags(col) : col;
  }
  return encode({ ...record, cols: { ...cols, ts: packTimes(cols.ts), fields, tags } });
}

/**
 * The record of a WAL message, its columns plain Float64Arrays again (a record written unpacked is
 * read as it is), and its tags a value per row unless `tags` is 'dictionaries': then a tag that
 * travelled as a dictionary stays one (the memtable keys its rows' series once per value).
 */
export function decodeWalRecord(data: Uint8Array, tags: 'plain' | 'dictionaries' = 'plain'): WalRecord {
  const record = decode(data) as WalRecord;
  const cols = record?.cols as Record<string, unknown> | undefined;
  if (typeof cols !== 'object' || cols === null) return record;
  if (isPackedTimes(cols.ts)) cols.ts = plainTimes(cols.ts);
  const fields = cols.fields as Record<string, unknown> | undefined;
  if (typeof fields === 'object' && fields !== null)
    for (const k in fields) if (isPackedValues(fields[k])) fields[k] = plainValues(fields[k]);
  const tagCols = cols.tags as Record<string, unknown> | undefined;
  if (tags === 'plain' && typeof tagCols === 'object' && tagCols !== null)
    for (const k in tagCols) if (isTagDictionary(tagCols[k])) tagCols[k] = plainTags(tagCols[k]) ?? tagCols[k];
  return record;
}
