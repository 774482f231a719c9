/**
 * The query benchmark's data and its answers: what a run writes (`QueryData`, which remembers what
 * the checks need) in one of two shapes, the five timed queries with the rows each must return, and
 * the check of their answers against what was written before anything is timed.
 */
import { performance } from 'node:perf_hooks';
import type { WriteColumns, WriteTagValue } from '../../transport/api_types.js';
import type {
  LockstepClient,
  MeasureQuery,
  MeasureRow,
  PlainColumns,
  QueryReply,
  WritePoint,
} from '../../transport/client.js';
import { codeOf } from '../../transport/errors.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import type { IngestForm } from './ingest_args.js';
import type { QueryArgs } from './query_args.js';
import { Walks, type DataShape } from './walk.js';

/** The group and measure of the run. */
export const GROUP = 'qbench';
export const MEASURE = 'cpu';
/** Deadline of every timed query and of the checks. */
const QUERY_TIMEOUT_MS = 60_000;
/** Deadline of one read-your-writes query while waiting for the load to be applied (the server's largest). */
export const APPLY_QUERY_TIMEOUT_MS = 120_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** Regions: host i is in region `r<i % REGIONS>`. */
export const REGIONS = 10;
/** Each series has a point every TS_STEP_MS; the newest is about NEWEST_TS_AGE_MS before the start. */
export const TS_STEP_MS = 10_000;
const NEWEST_TS_AGE_MS = HOUR_MS;

/** Each shape's fields (`random` has two floats here); the queries read the first. */
export const SHAPE_FIELDS: Record<DataShape, { name: string; type: 'float' | 'int' }[]> = {
  random: [
    { name: 'f1', type: 'float' },
    { name: 'f2', type: 'float' },
  ],
  walk: [
    { name: 'value', type: 'float' },
    { name: 'requests', type: 'int' },
  ],
};

const random2 = () => Math.floor(Math.random() * 10_000) / 100;

/** The names of the timed queries, in the report's order. */
export type QueryName =
  'window_mean_by_region' | 'minute_mean_by_region' | 'series_raw_day' | 'top10_series_by_max' | 'empty_range';

/** A timed query over a run's data, with the rows (or groups) it must return. */
export interface TimedQuery {
  name: QueryName;
  description: string;
  q: MeasureQuery;
  rows: number;
}

/**
 * The points of a run, made on demand: point k is series `k % series` at step `floor(k / series)`.
 * In the `random` shape `f1` and `f2` are random with 2 decimals in [0, 100); in the `walk` shape
 * `value` moves from 50 by a random step in [-1, 1) (2 decimals) and `requests` grows by a random
 * 0–99 per step. It keeps what the checks need of the first field (`field`): each series' largest
 * and, per region, the count and sum inside the hour window.
 */
export class QueryData {
  readonly steps: number;
  readonly firstTs: number;
  readonly lastTs: number;
  /** The hour window of `window_mean_by_region`: the hour ending 2 h before the newest point, or the first hour of less data. */
  readonly windowTo: number;
  readonly probeHost: string;
  /** The field the queries read. */
  readonly field: string;
  private readonly hosts: string[];
  private readonly maxima: Float64Array;
  /** The walk shape's series (null in the random shape). */
  private readonly walks: Walks | null;
  private readonly windowCount = new Map<string, number>();
  private readonly windowSum = new Map<string, number>();

  constructor(
    readonly points: number,
    readonly series: number,
    wallNowMs: number,
    readonly shape: DataShape = 'random',
  ) {
    this.field = SHAPE_FIELDS[shape][0]!.name;
    this.walks = shape === 'walk' ? new Walks(series) : null;
    this.steps = points / series;
    this.lastTs = Math.floor((wallNowMs - NEWEST_TS_AGE_MS) / TS_STEP_MS) * TS_STEP_MS;
    this.firstTs = this.lastTs - (this.steps - 1) * TS_STEP_MS;
    this.windowTo = Math.max(this.firstTs + HOUR_MS, this.lastTs + TS_STEP_MS - 2 * HOUR_MS);
    this.hosts = Array.from({ length: series }, (_, i) => `h${i}`);
    this.probeHost = this.hosts[Math.floor(series / 2)]!;
    this.maxima = new Float64Array(series).fill(-Infinity);
  }

  /** Points [start, end). */
  batch(start: number, end: number): WritePoint[] {
    const out: WritePoint[] = new Array(end - start);
    for (let k = start; k < end; k++) {
      const i = k % this.series;
      const ts = this.firstTs + Math.floor(k / this.series) * TS_STEP_MS;
      const region = `r${i % REGIONS}`;
      let v: number;
      let fields: Record<string, number>;
      if (this.walks) {
        fields = this.walks.next(i);
        v = fields.value!;
      } else {
        v = random2();
        fields = { f1: v, f2: random2() };
      }
      if (v > this.maxima[i]!) this.maxima[i] = v;
      if (ts >= this.windowTo - HOUR_MS && ts < this.windowTo) {
        this.windowCount.set(region, (this.windowCount.get(region) ?? 0) + 1);
        this.windowSum.set(region, (this.windowSum.get(region) ?? 0) + v);
      }
      out[k - start] = {
        ts,
        tags: { host: this.hosts[i]!, region },
        fields,
      };
    }
    return out;
  }

  /** How many steps of one series fall in [from, to). */
  stepsIn(from: number, to: number): number {
    const lo = Math.max(0, Math.ceil((from - this.firstTs) / TS_STEP_MS));
    const hi = Math.min(this.steps, Math.ceil((to - this.firstTs) / TS_STEP_MS));
    return Math.max(0, hi - lo);
  }

  /** How many buckets of `everyMs` (epoch-aligned) hold a step in [from, to). */
  bucketsIn(from: number, to: number, everyMs: number): number {
    const starts = new Set<number>();
    for (let i = 0; i < this.steps; i++) {
      const ts = this.firstTs + i * TS_STEP_MS;
      if (ts >= from && ts < to) starts.add(Math.floor(ts / everyMs));
    }
    return starts.size;
  }

  /** Per region, the count and mean of the first field written inside the hour window. */
  windowMeans(): Map<string, { count: number; mean: number }> {
    const out = new Map<string, { count: number; mean: number }>();
    for (const [r, n] of this.windowCount) out.set(r, { count: n, mean: this.windowSum.get(r)! / n });
    return out;
  }

  /** The `n` largest per-series maxima of the first field, descending. */
  topMaxima(n: number): number[] {
    return [...this.maxima].sort((a, b) => b - a).slice(0, n);
  }
}

/** Runs `q` once; a failure names the query and the server's code. */
export async function ask(
  client: LockstepClient,
  name: string,
  q: MeasureQuery,
): Promise<QueryReply<MeasureRow, PlainColumns>> {
  try {
    return await client.queryMeasure(q);
  } catch (err) {
    throw new Error(`query ${name} failed: ${codeOf(err)}: ${(err as Error).message}`, { cause: err });
  }
}

/** A check of the answers before any timing; a wrong answer makes the timings meaningless. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`wrong answer: ${what}`);
}

/** The five timed queries over `data`, with the rows (or groups) each must return. */
export function queriesOf(data: QueryData): TimedQuery[] {
  const base = { group: GROUP, name: MEASURE, timeout_ms: QUERY_TIMEOUT_MS };
  const wTo = data.windowTo;
  const dTo = data.lastTs + TS_STEP_MS;
  const f = data.field;
  return [
    {
      name: 'window_mean_by_region',
      description: `mean(${f}) grouped by region over every series, one hour`,
      q: { ...base, from: wTo - HOUR_MS, to: wTo, group_by: ['region'], aggregations: [{ fn: 'mean', field: f }] },
      rows: Math.min(REGIONS, data.series),
    },
    {
      // The dashboard panel: one query instead of one per minute.
      name: 'minute_mean_by_region',
      description: `mean(${f}) per minute grouped by region over every series, one hour (60 buckets)`,
      q: {
        ...base,
        from: wTo - HOUR_MS,
        to: wTo,
        group_by: ['region'],
        aggregations: [{ fn: 'mean', field: f }],
        bucket: '1m',
        limit: 100_000,
      },
      rows: Math.min(REGIONS, data.series) * data.bucketsIn(wTo - HOUR_MS, wTo, MINUTE_MS),
    },
    {
      name: 'series_raw_day',
      description: `raw points of host ${data.probeHost}, one day`,
      q: {
        ...base,
        from: dTo - DAY_MS,
        to: dTo,
        criteria: { tag: 'host', op: 'eq', value: data.probeHost },
        limit: 100_000,
        // As columns: no object per row on either side of the wire.
        columns: true,
      },
      rows: data.stepsIn(dTo - DAY_MS, dTo),
    },
    {
      name: 'top10_series_by_max',
      description: `top 10 series by max(${f}) over everything loaded`,
      q: { ...base, from: data.firstTs, to: dTo, top: { n: 10, fn: 'max', field: f, order: 'desc' } },
      rows: Math.min(10, data.series),
    },
    {
      // Between two steps of every series: no point lies in it.
      name: 'empty_range',
      description: 'raw points of every series over 1 ms between two steps',
      q: { ...base, from: wTo - HOUR_MS + TS_STEP_MS / 2, to: wTo - HOUR_MS + TS_STEP_MS / 2 + 1 },
      rows: 0,
    },
  ];
}

/** Checks each query's answer once against what was written, and the count of every point. */
export async function verify(client: LockstepClient, data: QueryData, qs: TimedQuery[]): Promise<void> {
  const f = data.field;
  const all = await ask(client, 'count', {
    group: GROUP,
    name: MEASURE,
    from: data.firstTs,
    to: data.lastTs + TS_STEP_MS,
    aggregations: [{ fn: 'count' }],
    timeout_ms: APPLY_QUERY_TIMEOUT_MS,
  });
  check(
    all.groups?.[0]?.values.count === data.points,
    `count over everything is ${JSON.stringify(all.groups)}, expected ${data.points}`,
  );

  const [w, minute, raw, top] = qs as [(typeof qs)[0], (typeof qs)[0], (typeof qs)[0], (typeof qs)[0]];
  const wr = await ask(client, w.name, { ...w.q, aggregations: [{ fn: 'mean', field: f }, { fn: 'count' }] });
  const expected = data.windowMeans();
  check(wr.groups?.length === w.rows, `${w.name} returned ${wr.groups?.length} groups, expected ${w.rows}`);
  for (const g of wr.groups!) {
    const e = expected.get(String(g.tags.region));
    check(
      e !== undefined && g.values.count === e.count,
      `${w.name} region ${String(g.tags.region)}: count ${g.values.count}, expected ${e?.count}`,
    );
    check(
      Math.abs((g.values[`mean(${f})`] ?? NaN) - e!.mean) < 1e-6,
      `${w.name} region ${String(g.tags.region)}: mean ${g.values[`mean(${f})`]}, expected ${e!.mean}`,
    );
  }

  // Per region, the minute buckets add up to the hour: the same count and sum.
  const mr = await ask(client, minute.name, {
    ...minute.q,
    aggregations: [{ fn: 'mean', field: f }, { fn: 'count' }],
  });
  check(
    mr.groups?.length === minute.rows,
    `${minute.name} returned ${mr.groups?.length} groups, expected ${minute.rows}`,
  );
  for (const [region, e] of expected) {
    const gs = mr.groups!.filter((g) => g.tags.region === region);
    const count = gs.reduce((n, g) => n + (g.values.count ?? 0), 0);
    const sum = gs.reduce((n, g) => n + (g.values[`mean(${f})`] ?? 0) * (g.values.count ?? 0), 0);
    check(count === e.count, `${minute.name} region ${region}: count ${count} over the buckets, expected ${e.count}`);
    check(
      Math.abs(sum / count - e.mean) < 1e-6,
      `${minute.name} region ${region}: mean ${sum / count}, expected ${e.mean}`,
    );
  }

  const rc = (await ask(client, raw.name, raw.q)).columns;
  check(rc?.ts.length === raw.rows, `${raw.name} returned ${rc?.ts.length} rows, expected ${raw.rows}`);
  check(
    Array.from(rc!.tags.host!.codes).every(
      (c, i) => rc!.tags.host!.values[c] === data.probeHost && (i === 0 || rc!.ts[i]! - rc!.ts[i - 1]! === TS_STEP_MS),
    ),
    `${raw.name}: rows of one host, ${TS_STEP_MS} ms apart`,
  );

  const tr = await ask(client, top.name, top.q);
  const maxima = data.topMaxima(top.rows);
  const got = (tr.groups ?? []).map((g) => g.values[`max(${f})`]);
  check(
    JSON.stringify(got) === JSON.stringify(maxima),
    `${top.name} maxima ${JSON.stringify(got)}, expected ${JSON.stringify(maxima)}`,
  );
}

/**
 * Writes every point of `data` to `target` in batches of `batchPoints`, with the writers concurrent;
 * the first failure (or `deadline`, performance.now() ms, or `signal`) stops them all. Resolves with
 * the merged write token of the load.
 */
export async function writeAll(
  writers: LockstepClient[],
  data: QueryData,
  target: { group: string; measure: string; batchPoints: number; form?: IngestForm },
  deadline: number,
  signal: AbortSignal,
): Promise<WriteToken> {
  const tokens: WriteToken[] = [];
  // Every write is bounded by the client's write timeout.
  await sendBatches(data, target.batchPoints, writers.length, deadline, signal, async (points, b, batches, w) => {
    try {
      const client = writers[w]!;
      const r =
        target.form === 'columns'
          ? await client.writeMeasureColumns(target.group, target.measure, columnsOf(points))
          : await client.writeMeasure(target.group, target.measure, points);
      if (r.duplicate) throw new Error(`batch ${b} was reported as a duplicate`);
      tokens.push(r.write_token);
    } catch (err) {
      throw new Error(`write of batch ${b} of ${batches} failed: ${codeOf(err)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  });
  return mergeTokens(target.group, tokens);
}

/** Points as write columns (every point has the same tags and fields, as QueryData's do). */
export function columnsOf(points: readonly WritePoint[]): WriteColumns {
  const n = points.length;
  const first = points[0];
  const ts = new Float64Array(n);
  const tags: Record<string, WriteTagValue[]> = {};
  const fields: Record<string, Float64Array> = {};
  for (const t of Object.keys(first?.tags ?? {})) tags[t] = new Array<WriteTagValue>(n);
  for (const f of Object.keys(first?.fields ?? {})) fields[f] = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    ts[i] = p.ts as number;
    for (const t in tags) tags[t]![i] = p.tags![t]!;
    for (const f in fields) fields[f]![i] = p.fields[f] as number;
  }
  return { ts, tags, fields };
}

/**
 * Sends every point of `data` in batches of `batchPoints` with `writers` concurrent senders, each
 * taking the next batch (`send` gets the points, the batch number, the batch count and the
 * sender's index); the first failure, the deadline or the signal stops them all, and is thrown.
 */
export async function sendBatches(
  data: QueryData,
  batchPoints: number,
  writers: number,
  deadline: number,
  signal: AbortSignal,
  send: (points: WritePoint[], b: number, batches: number, writer: number) => Promise<void>,
): Promise<void> {
  const batches = Math.ceil(data.points / batchPoints);
  let next = 0;
  let failure: Error | undefined;
  const one = async (_: unknown, w: number) => {
    // Bounded by the batch count.
    for (let i = 0; i < batches && failure === undefined; i++) {
      if (signal.aborted) failure ??= new Error('interrupted during the load');
      if (performance.now() > deadline)
        failure ??= new Error(`the load did not finish within --load-timeout (${next} of ${batches} batches issued)`);
      const b = next++;
      if (failure !== undefined || b >= batches) return;
      const points = data.batch(b * batchPoints, Math.min(data.points, (b + 1) * batchPoints));
      await send(points, b, batches, w).catch((err: Error) => (failure ??= err));
    }
  };
  await Promise.all(Array.from({ length: writers }, one));
  if (failure) throw failure;
}

/** The data and timing settings every query benchmark report names (ours and the peer's). */
export function dataProfile(args: Pick<QueryArgs, 'points' | 'series' | 'shape' | 'runs' | 'warmUpRuns' | 'writers'>) {
  return {
    points: args.points,
    series: args.series,
    shape: args.shape,
    regions: REGIONS,
    runs: args.runs,
    warm_up_runs: args.warmUpRuns,
    writers: args.writers,
    step_ms: TS_STEP_MS,
  };
}
