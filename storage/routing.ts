/**
 * Which shard of a layout generation a row goes to (DESIGN §7): its series — the measure or stream
 * name and its canonical entity key, the JSON array of its entity tag values in entity order — hashed
 * with 32-bit FNV-1a, modulo the generation's shard count. Liaisons route writes with it and data
 * nodes route the rows they backfill into a new generation with it, so both agree by construction.
 */
import { plainTags } from '../transport/packed_columns.js';
import type { TagColumn } from '../transport/query_types.js';
import type { Measure, Stream } from '../transport/schema_types.js';
import { missingTagValue } from '../transport/wal_record.js';

/** FNV-1a over UTF-16 code units: a fast, stable hash for shard routing. */
export function routeHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** True when two entities (tag name lists) are the same, in order: rows route alike under both. */
export const sameEntity = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((t, i) => t === b[i]);

/** The shard of one series among `shards`. */
export function shardOfSeries(name: string, entityKey: string, shards: number): number {
  return routeHash(`${name}\u0000${entityKey}`) % shards;
}

/**
 * The shards among `shards` that can hold any of `entityKeys` (ascending), or every shard when the
 * keys are not known (null): a query pinned to some series asks only their shards.
 */
export function shardsOfSeries(name: string, entityKeys: readonly string[] | null, shards: number): number[] {
  if (entityKeys === null) return Array.from({ length: shards }, (_, s) => s);
  return [...new Set(entityKeys.map((k) => shardOfSeries(name, k, shards)))].sort((a, b) => a - b);
}

/** The canonical entity key of a row: JSON of its entity tag values in entity order. */
export function entityKeyOf(entity: readonly string[], tagAt: (tag: string) => unknown): string {
  return JSON.stringify(entity.map(tagAt));
}

// A value's JSON form; a safe integer's is its String form, without the call.
const jsonOf = (v: unknown): string =>
  typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : JSON.stringify(v);

/**
 * The canonical entity key (as `entityKeyOf`) of each of `n` rows given as their entity tag
 * columns, in entity order. A batch repeats its series: with one entity tag each distinct value is
 * formatted once, and its rows share one string, whose hash a Map then computes once.
 */
export function entityKeysOfColumns(cols: readonly ArrayLike<unknown>[], n: number): string[] {
  const keys = new Array<string>(n);
  if (cols.length === 1) {
    const col = cols[0]!;
    const seen = new Map<unknown, string>();
    for (let i = 0; i < n; i++) {
      const v = col[i];
      let key = seen.get(v);
      if (key === undefined) {
        key = `[${jsonOf(v)}]`;
        // Arrays are compared by identity: only scalars are worth remembering.
        if (typeof v !== 'object') seen.set(v, key);
      }
      keys[i] = key;
    }
    return keys;
  }
  for (let i = 0; i < n; i++) {
    let key = '[';
    for (let j = 0; j < cols.length; j++) key += (j === 0 ? '' : ',') + jsonOf(cols[j]![i]);
    keys[i] = key + ']';
  }
  return keys;
}

/**
 * The series of a batch's rows: entity keys (as `entityKeysOfColumns`; the same key may occur
 * twice) and per row the index of its key, so a caller resolves each series once and each row by
 * an array lookup.
 */
export interface RowSeries {
  keys: string[];
  of: ArrayLike<number>;
}

/** The series of rows given their entity keys one per row. */
export function seriesOfKeys(rowKeys: readonly string[]): RowSeries {
  const keys: string[] = [];
  const of = new Uint32Array(rowKeys.length);
  const seen = new Map<string, number>();
  for (let i = 0; i < rowKeys.length; i++) {
    const key = rowKeys[i]!;
    let k = seen.get(key);
    if (k === undefined) {
      seen.set(key, (k = keys.length));
      keys.push(key);
    }
    of[i] = k;
  }
  return { keys, of };
}

/** Row i's entity key. */
export const keyOfRow = (s: RowSeries, i: number): string => s.keys[s.of[i]!]!;

/**
 * The series of `n` rows given their entity tag columns, in entity order, any of them a dictionary
 * (every code a valid index): when all are, each distinct value, or combination of values, is
 * formatted once and no row's values are hashed.
 */
export function seriesOfTags(cols: readonly (readonly unknown[] | TagColumn)[], n: number): RowSeries {
  const dicts = cols.filter((c): c is TagColumn => !Array.isArray(c));
  let combinations = 1;
  for (const d of dicts) combinations *= d.values.length;
  if (dicts.length < cols.length || combinations > Number.MAX_SAFE_INTEGER)
    return seriesOfKeys(
      entityKeysOfColumns(
        cols.map((c) => (Array.isArray(c) ? c : plainTags(c as TagColumn)!)),
        n,
      ),
    );
  if (dicts.length === 1) {
    const { values, codes } = dicts[0]!;
    return { keys: values.map((v) => `[${jsonOf(v)}]`), of: codes };
  }
  // A row's combination of codes as one number (mixed radix): its key is formatted once.
  const keys: string[] = [];
  const of = new Uint32Array(n);
  const seen = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    let code = 0;
    for (const d of dicts) code = code * d.values.length + d.codes[i]!;
    let k = seen.get(code);
    if (k === undefined) {
      let key = '[';
      for (let j = 0; j < dicts.length; j++)
        key += (j === 0 ? '' : ',') + jsonOf(dicts[j]!.values[dicts[j]!.codes[i]!]);
      seen.set(code, (k = keys.length));
      keys.push(key + ']');
    }
    of[i] = k;
  }
  return { keys, of };
}

/**
 * Entity keys by `resource`'s entity where a row may lack an entity tag (a measure whose entity a
 * rewrite changed): a missing tag counts as the value stored in its place, so the liaison's dual
 * writes and the backfill route such a row alike.
 */
export function storedEntityKeyer(resource: Measure | Stream): (tagAt: (tag: string) => unknown) => string {
  const types = new Map(resource.tag_families.flatMap((f) => f.tags.map((t) => [t.name, t.type] as const)));
  return (tagAt) => entityKeyOf(resource.entity, (t) => tagAt(t) ?? missingTagValue(types.get(t) ?? 'string'));
}
