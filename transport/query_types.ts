/**
 * Query requests and replies of the public API (`P.api.query.measure`, `P.api.query.stream`),
 * shared by the liaison, the shard executors and the TypeScript client.
 *
 * Time ranges are half-open: `from` ≤ ts < `to` (epoch ms or RFC 3339 with a zone). Results are
 * deterministic: rows are ordered by time, then series id, then (streams) element id; groups by
 * their tag values — so one query gives the same answer on a standalone node and on a cluster.
 */
import type { WriteTagValue } from './api_types.js';

/** A tag condition. On a list tag (`string[]`, `int[]`) `eq`/`in` mean "the list contains". */
export interface TagCondition {
  tag: string;
  op: 'eq' | 'ne' | 'in' | 'not_in';
  /** A scalar for eq/ne, an array for in/not_in; strings for string tags, integers for int tags. */
  value: string | number | (string | number)[];
}

/**
 * A field condition (measures): the row's value of a numeric field compared with a number. A row
 * without a value for the field (a missing float) matches no field condition, `ne` included.
 */
export interface FieldCondition {
  field: string;
  op: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
  value: number;
}

/** A criteria tree: a tag or field condition, or `and`/`or` of criteria. */
export type Criteria = TagCondition | FieldCondition | { and: Criteria[] } | { or: Criteria[] };

/**
 * The aggregation functions. `count` without a field counts rows; with one, rows where it is not
 * NaN. `first`/`last`: the value at the earliest/latest time. `percentile` (with `p`): within 1% of
 * the value of that rank. `rate`: a counter's rise per second over the bucket (or the range),
 * counter resets handled.
 */
export const AGG_FUNCTIONS = ['count', 'sum', 'min', 'max', 'mean', 'first', 'last', 'percentile', 'rate'] as const;
export type AggFunction = (typeof AGG_FUNCTIONS)[number];

/** One aggregation; its result column is `fn(field)` (or `count`). NaN values are skipped. */
export interface Aggregation {
  fn: AggFunction;
  field?: string;
  /** The percentile, in (0, 100], for `percentile` only; its column is `p<p>(field)`, e.g. `p99(latency)`. */
  p?: number;
}

/** Keep the N groups with the largest (desc, default) or smallest (asc) `fn(field)`. */
export interface TopN {
  n: number;
  fn: AggFunction;
  field?: string;
  /** For `fn: "percentile"`. */
  p?: number;
  order?: 'asc' | 'desc';
}

import type { WriteToken } from './write_token.js';
export type { WriteToken } from './write_token.js';

/** What measure and stream queries share. */
export interface QueryBase {
  group: string;
  name: string;
  /** The revision the client last saw for the resource (the gates of DESIGN §6). */
  schema_revision?: number;
  /** Epoch ms or RFC 3339; `from` inclusive, `to` exclusive. */
  from: number | string;
  to: number | string;
  criteria?: Criteria;
  /** Tags returned with each row (default: every declared tag). */
  tag_projection?: string[];
  /** Time order of rows (default `asc`). */
  order?: 'asc' | 'desc';
  /** Rows (or groups) skipped, then returned at most (default limit 1000, at most 100 000). */
  offset?: number;
  limit?: number;
  /** Wait (bounded by the query deadline) until every shard of the token applied it. */
  write_token?: WriteToken;
  /** Answer from the shards that have a live owner instead of failing with `Unavailable`. */
  allow_partial?: boolean;
  /** How long the query may take in total (ms; default 10 000). */
  timeout_ms?: number;
  /** The next page of an answer: the `cursor` of the previous reply (with the same query; not with `offset`). */
  cursor?: string;
  /**
   * Raw rows come back as `columns` instead of `rows`: far cheaper to send and read for large
   * answers. `"packed"` also packs times and decimal floats where exact (msgpack only: PackedTimes,
   * PackedValues).
   */
  columns?: ColumnsForm;
}

/** `P.api.query.measure`. With `aggregations` (or `top`) the reply holds groups, else rows. */
export interface MeasureQuery extends QueryBase {
  /** Fields returned with each row (default: every declared field). */
  field_projection?: string[];
  /** Tags whose values form the groups (needs an aggregation; none = one group of everything). */
  group_by?: string[];
  aggregations?: Aggregation[];
  /** Top-N groups; without `group_by` the groups are the series (the entity tags). */
  top?: TopN;
  /**
   * Time buckets (a duration, e.g. `1m`): groups are per (group_by tags, bucket); each bucket starts
   * at a multiple of the duration since the epoch, shifted by `bucket_offset`. Needs aggregations.
   */
  bucket?: string;
  /** Shifts bucket starts (a duration; default 0): `bucket: "1d", bucket_offset: "2h"` gives days from 02:00 UTC. */
  bucket_offset?: string;
  /** `null`: every bucket of the range appears for every group, empty ones with null values (count 0). Default `none`. */
  fill?: 'none' | 'null';
}

/** `P.api.query.stream`. */
export type StreamQuery = QueryBase;

/** One measure row of a reply. */
export interface MeasureRow {
  ts: number;
  tags: Record<string, WriteTagValue>;
  fields: Record<string, number | null>;
}

/** One stream row of a reply. */
export interface StreamRow {
  ts: number;
  element_id: string;
  tags: Record<string, WriteTagValue>;
}

/** One group of an aggregated reply: its tag values and one value per aggregation (`fn(field)`). */
export interface GroupRow {
  /** The bucket's start (epoch ms), in a bucketed query only. */
  ts?: number;
  tags: Record<string, WriteTagValue>;
  values: Record<string, number | null>;
}

/**
 * A tag column as a dictionary: row i's value is `values[codes[i]]`, each distinct value once (the
 * rows of one series repeat theirs). In msgpack `codes` is a Uint8Array, Uint16Array or
 * Uint32Array (the narrowest that holds them), in JSON an array of numbers.
 */
export interface TagColumn {
  values: WriteTagValue[];
  codes: Uint8Array | Uint16Array | Uint32Array | number[];
}

/** How raw rows are answered: objects (false), columns (true), columns packed where exact ('packed'). */
export type ColumnsForm = boolean | 'packed';

/** True when `v` is one of the ColumnsForm values. */
export const isColumnsForm = (v: unknown): v is ColumnsForm => typeof v === 'boolean' || v === 'packed';

/**
 * Times of a `columns: "packed"` msgpack reply: ts[0] = base + deltas[0] (deltas[0] is 0) and
 * ts[i] = ts[i-1] + deltas[i]; `deltas` is the narrowest of Int8Array, Int16Array, Int32Array.
 */
export interface DeltaTimes {
  base: number;
  deltas: Int8Array | Int16Array | Int32Array;
}

/** Times `count` rows evenly spaced: ts[0] = base and ts[i] = ts[i-1] + step (the usual scrape). */
export interface StepTimes {
  base: number;
  step: number;
  count: number;
}

/** Packed times: by their steps, or by one step when every step is the same. */
export type PackedTimes = DeltaTimes | StepTimes;

/** A tag column of a `columns: "packed"` reply whose `count` rows all hold `values[0]`. */
export interface OneValueTag {
  values: [WriteTagValue];
  count: number;
}

/**
 * A field column of a `columns: "packed"` msgpack reply whose values are all decimals: value i is
 * `ints[i] / 10^scale`, a float64 division (exact: it gives back the stored value bit for bit);
 * `ints` is the narrowest of Int8Array, Int16Array, Int32Array. A column with a missing value stays
 * a Float64Array.
 */
export interface PackedValues {
  scale: number;
  ints: Int8Array | Int16Array | Int32Array;
}

/**
 * Raw rows as parallel columns (a query with `columns`): row i is `ts[i]`, each tag's and
 * field's value at i, and (streams) `element_id[i]`. In msgpack `ts` and each field are
 * Float64Arrays where NaN is a missing float, or packed where exact when the query asked
 * `columns: "packed"`; in JSON they are arrays where null is. `plainColumns` unpacks.
 */
export interface RowColumns {
  ts: Float64Array | PackedTimes | number[];
  element_id?: string[];
  tags: Record<string, TagColumn | OneValueTag>;
  fields: Record<string, Float64Array | PackedValues | (number | null)[]>;
}

/** Columns none of which is packed (what the TypeScript client hands back). */
export type PlainColumns = RowColumns & {
  ts: Float64Array | number[];
  tags: Record<string, TagColumn>;
  fields: Record<string, Float64Array | (number | null)[]>;
};

/** Reply of a query. Exactly one of `rows` / `columns` / `groups` is set. */
export interface QueryReply<Row = MeasureRow | StreamRow, Columns extends RowColumns = RowColumns> {
  rows?: Row[];
  columns?: Columns;
  groups?: GroupRow[];
  /** Shards left out (no live owner) when `allow_partial` was asked; empty otherwise. */
  missing_shards: number[];
  /** The resource revision the query ran against. */
  schema_revision: number;
  /**
   * More rows (or groups) follow this page: the limit was reached or the reply was cut to fit one
   * message. Ask again with `cursor` for the next page.
   */
  has_more: boolean;
  /** Where the next page starts, when `has_more`. */
  cursor?: string;
}
