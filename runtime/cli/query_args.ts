/**
 * The option grammar of `lockstep query`, as pure functions: times, aggregations, top-N and write
 * tokens (`--where` and criteria trees are in query_where.ts). Everything here throws `InvalidArgument` naming the
 * flag, so a bad option fails before any connection is opened.
 */
import { errors } from '../../transport/errors.js';
import {
  AGG_FUNCTIONS,
  type AggFunction,
  type Aggregation,
  type MeasureQuery,
  type StreamQuery,
  type TopN,
  type WriteToken,
} from '../../transport/query_types.js';
import { checkName, isValidName } from '../../transport/schema_types.js';
import { DURATION_UNITS_MS, parseDuration } from '../../transport/duration.js';
import { MAX_QUERY_LIMIT } from '../../transport/limits.js';
import { parseTimestamp } from '../../transport/timestamp.js';
import { checkWriteToken } from '../../transport/write_token.js';
import { buildCriteria } from './query_where.js';

/** Length of the default time range: `--from` defaults to one hour before `--to`. */
export const DEFAULT_RANGE_MS = 3_600_000;

const RELATIVE = /^(?:now)?-(\d{1,9})([smhd])$/;
const EPOCH_MS = /^\d{1,15}$/;
const TIME_FORMS =
  'epoch ms, RFC 3339 with a zone (2024-05-01T12:00:00Z), now, or now minus a duration (-30s, -15m, -2h, -7d)';

/** The most rows (or groups) `--limit` may ask for in all: pages of MAX_QUERY_LIMIT fetch them. */
export const MAX_CLI_LIMIT = 100_000_000;

/** Query options as commander hands them over (all strings; lists already collected). */
export interface QueryCliOptions {
  from?: string;
  to?: string;
  where?: string[];
  whereJson?: string;
  groupBy?: string[];
  agg?: string[];
  top?: string;
  topBy?: string;
  topOrder?: string;
  every?: string;
  everyOffset?: string;
  fill?: string;
  order?: string;
  limit?: string;
  offset?: string;
  tags?: string[];
  fields?: string[];
  token?: string;
  allowPartial?: boolean;
  schemaRevision?: string;
  timeout?: string;
}

/** Parses one `--from`/`--to` value into epoch ms; relative forms count back from `nowMs`. */
export function parseTime(input: string, nowMs: number, flag: string): number {
  const s = input.trim();
  if (s === 'now') return nowMs;
  const rel = RELATIVE.exec(s);
  if (rel) return nowMs - Number(rel[1]) * DURATION_UNITS_MS[rel[2] as 's' | 'm' | 'h' | 'd'];
  if (EPOCH_MS.test(s)) return Number(s);
  // Only strings shaped like a date reach the RFC 3339 parser, so its message fits the input.
  if (/^\d{4}-\d{2}-\d{2}[Tt ]/.test(s)) return parseTimestamp(s, flag);
  throw errors.invalidArgument(`${flag} ${JSON.stringify(input)} is not a time: use ${TIME_FORMS}`);
}

/** The half-open range `[from, to)`: `--to` defaults to now, `--from` to one hour before `--to`. */
export function resolveRange(
  from: string | undefined,
  to: string | undefined,
  nowMs: number,
): { from: number; to: number } {
  const t = to === undefined ? nowMs : parseTime(to, nowMs, '--to');
  const f = from === undefined ? t - DEFAULT_RANGE_MS : parseTime(from, nowMs, '--from');
  if (f >= t) {
    throw errors.invalidArgument(`--from (${iso(f)}) must be before --to (${iso(t)}): the range is from ≤ ts < to`);
  }
  return { from: f, to: t };
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** The CLI's aggregation names: the API's, with `pN` (e.g. p99) for percentile N instead of `percentile`. */
const CLI_AGGS = [...AGG_FUNCTIONS.filter((f) => f !== 'percentile'), 'pN'];
const PERCENTILE = /^p(\d{1,2}(?:\.\d+)?|100)$/;

/**
 * Parses `fn:field` or `count` (also `count:field`, which counts rows where the field is not NaN);
 * `pN:field` is percentile N (`p50`, `p99`, `p99.9`).
 */
export function parseAgg(spec: string, flag = '--agg'): Aggregation {
  const colon = spec.indexOf(':');
  const fn = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  const pct = PERCENTILE.exec(fn);
  if (!pct && (fn === 'percentile' || !(AGG_FUNCTIONS as readonly string[]).includes(fn))) {
    throw errors.invalidArgument(
      `${flag} ${JSON.stringify(spec)}: unknown function ${JSON.stringify(fn)} (functions: ${CLI_AGGS.join(', ')})`,
    );
  }
  if (colon < 0) {
    if (fn !== 'count')
      throw errors.invalidArgument(`${flag} ${JSON.stringify(spec)}: ${fn} needs a field, as ${fn}:FIELD`);
    return { fn: 'count' };
  }
  const field = spec.slice(colon + 1).trim();
  if (!isValidName(field))
    throw errors.invalidArgument(`${flag} ${JSON.stringify(spec)}: ${JSON.stringify(field)} is not a valid field name`);
  if (pct) {
    const p = Number(pct[1]);
    if (!(p > 0)) throw errors.invalidArgument(`${flag} ${JSON.stringify(spec)}: a percentile is in (0, 100]`);
    return { fn: 'percentile', field, p };
  }
  return { fn: fn as AggFunction, field };
}

/** The result column of an aggregation: `fn(field)`, `pN(field)`, or `count`. */
export function aggColumn(a: { fn: AggFunction; field?: string; p?: number }): string {
  if (a.fn === 'percentile') return `p${a.p}(${a.field})`;
  return a.field === undefined ? a.fn : `${a.fn}(${a.field})`;
}

/** Parses every `--agg`, refusing one given twice (both would fill the same column). */
export function parseAggs(specs: readonly string[] = []): Aggregation[] {
  const seen = new Set<string>();
  return specs.map((s) => {
    const a = parseAgg(s);
    const col = aggColumn(a);
    if (seen.has(col)) throw errors.invalidArgument(`--agg ${col} is given twice`);
    seen.add(col);
    return a;
  });
}

/** Parses `--top N [--top-by fn:field] [--top-order asc|desc]`; `--top-by` defaults to the first aggregation. */
export function parseTop(
  o: Pick<QueryCliOptions, 'top' | 'topBy' | 'topOrder'>,
  aggs: readonly Aggregation[],
): TopN | undefined {
  if (o.top === undefined) {
    if (o.topBy !== undefined || o.topOrder !== undefined)
      throw errors.invalidArgument('--top-by and --top-order need --top N');
    return undefined;
  }
  const n = intOption(o.top, '--top', 1, MAX_QUERY_LIMIT)!;
  let by: Aggregation;
  if (o.topBy !== undefined) by = parseAgg(o.topBy, '--top-by');
  else if (aggs[0] !== undefined) by = aggs[0];
  else throw errors.invalidArgument('--top needs --top-by FN:FIELD (or an --agg, whose first one it then ranks by)');
  const top: TopN = { n, fn: by.fn };
  if (by.field !== undefined) top.field = by.field;
  if (by.p !== undefined) top.p = by.p;
  if (o.topOrder !== undefined) top.order = oneOf(o.topOrder, '--top-order', ['asc', 'desc'] as const);
  return top;
}

/**
 * Parses `--token`: the `write_token` object a write prints, or a whole write reply holding one
 * (`lockstep write … --json`); it must be for the queried group.
 */
export function parseToken(json: string, group: string): WriteToken {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw errors.invalidArgument(`--token is not valid JSON: ${(err as Error).message}`);
  }
  if (v !== null && typeof v === 'object' && 'write_token' in v) v = (v as { write_token: unknown }).write_token;
  const bad = (m: string): never => {
    throw errors.invalidArgument(
      `--token: ${m} (expected {"group": …, "shards": {"<shard>": <sequence>, …}} or a write reply holding write_token)`,
    );
  };
  const t = checkWriteToken(v);
  if ('message' in t) bad(t.path ? `${t.path} ${t.message}` : t.message);
  const token = t as WriteToken;
  if (!isValidName(token.group)) bad(`group ${JSON.stringify(token.group)} is not a valid group name`);
  if (token.group !== group)
    throw errors.invalidArgument(`--token is for group ${token.group}, but the query is on group ${group}`);
  return token;
}

/** An integer option in `[min, max]`; undefined when absent. */
export function intOption(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d{1,15}$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= min && n <= max))
    throw errors.invalidArgument(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

function oneOf<T extends string>(v: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v))
    throw errors.invalidArgument(`${flag} must be ${allowed.join(' or ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function names(list: readonly string[], what: string): string[] {
  return list.map((n) => checkName(n, what));
}

/** Commander collector of repeatable, comma-separated list options. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  ];
}

/** Commander collector of repeatable options taken whole (a `--where` may hold commas). */
export function collectEach(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Builds the query of `lockstep query KIND GROUP/NAME` from its options; only options given are
 * set. Measure-only options on a stream query are refused (commander does not offer them anyway).
 */
export function buildQuery(
  kind: 'measure',
  group: string,
  name: string,
  o: QueryCliOptions,
  nowMs: number,
): MeasureQuery;
export function buildQuery(kind: 'stream', group: string, name: string, o: QueryCliOptions, nowMs: number): StreamQuery;
export function buildQuery(
  kind: 'measure' | 'stream',
  group: string,
  name: string,
  o: QueryCliOptions,
  nowMs: number,
): MeasureQuery | StreamQuery;
export function buildQuery(
  kind: 'measure' | 'stream',
  group: string,
  name: string,
  o: QueryCliOptions,
  nowMs: number,
): MeasureQuery | StreamQuery {
  const { from, to } = resolveRange(o.from, o.to, nowMs);
  const q: MeasureQuery = { group: checkName(group, 'group'), name: checkName(name, kind), from, to };
  const criteria = buildCriteria(o.where, o.whereJson);
  if (criteria !== undefined) q.criteria = criteria;
  if (o.tags !== undefined) q.tag_projection = names(o.tags, 'tag');
  if (o.order !== undefined) q.order = oneOf(o.order, '--order', ['asc', 'desc'] as const);
  const offset = intOption(o.offset, '--offset', 0, Number.MAX_SAFE_INTEGER);
  if (offset !== undefined) q.offset = offset;
  // The CLI pages (at most MAX_QUERY_LIMIT rows a request), so a total may be larger than a page.
  const limit = intOption(o.limit, '--limit', 1, MAX_CLI_LIMIT);
  if (limit !== undefined) q.limit = limit;
  if (o.token !== undefined) q.write_token = parseToken(o.token, q.group);
  if (o.allowPartial) q.allow_partial = true;
  const rev = intOption(o.schemaRevision, '--schema-revision', 0, Number.MAX_SAFE_INTEGER);
  if (rev !== undefined) q.schema_revision = rev;
  if (o.timeout !== undefined) {
    const ms = parseDuration(o.timeout, '--timeout');
    if (!(ms > 0)) throw errors.invalidArgument(`--timeout must be positive, got ${JSON.stringify(o.timeout)}`);
    q.timeout_ms = Math.ceil(ms);
  }
  const measureOnly = {
    fields: o.fields,
    groupBy: o.groupBy,
    agg: o.agg,
    top: o.top,
    topBy: o.topBy,
    topOrder: o.topOrder,
    every: o.every,
    everyOffset: o.everyOffset,
    fill: o.fill,
  };
  if (kind === 'stream') {
    const given = Object.entries(measureOnly).find(([, v]) => v !== undefined);
    if (given)
      throw errors.invalidArgument(
        `--${given[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies to measure queries only`,
      );
    return q;
  }
  if (o.fields !== undefined) q.field_projection = names(o.fields, 'field');
  const aggs = parseAggs(o.agg);
  if (aggs.length > 0) q.aggregations = aggs;
  const top = parseTop(o, aggs);
  if (top !== undefined) q.top = top;
  if (o.groupBy !== undefined) {
    if (aggs.length === 0 && top === undefined) throw errors.invalidArgument('--group-by needs an --agg (or --top)');
    q.group_by = names(o.groupBy, 'tag');
  }
  if (o.every !== undefined) {
    if (aggs.length === 0 && top === undefined) throw errors.invalidArgument('--every needs an --agg (or --top)');
    parseDuration(o.every, '--every'); // named by its flag here; the server checks the rest
    q.bucket = o.every.trim();
  }
  if (o.everyOffset !== undefined || o.fill !== undefined) {
    if (o.every === undefined) throw errors.invalidArgument('--every-offset and --fill need --every DURATION');
    if (o.everyOffset !== undefined) {
      parseDuration(o.everyOffset, '--every-offset');
      q.bucket_offset = o.everyOffset.trim();
    }
    if (o.fill !== undefined) q.fill = oneOf(o.fill, '--fill', ['none', 'null'] as const);
  }
  return q;
}
