/**
 * The query benchmark's five queries asked of VictoriaMetrics (vm_peer.ts): a loopback HTTP client,
 * each query as a MetricsQL or export request over the same bounds as `queriesOf`, the check of
 * their answers against what was written, and their timing as in query_bench.ts.
 *
 * A MetricsQL rollup `f(x[w])` at time t reads the samples in (t - w, t]; our ranges are [from, to)
 * on a millisecond grid, so each is asked at t = to - 1 ms with w = to - from.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { WritePoint } from '../../transport/api_types.js';
import { runTimings } from './bench_cli.js';
import type { QueryTiming } from './query_bench.js';
import { check, queriesOf, TS_STEP_MS, type QueryData, type QueryName } from './query_data.js';

const MINUTE_MS = 60_000;
/** Deadline of every request to the server. */
export const REQUEST_TIMEOUT_MS = 60_000;

/** A loopback HTTP/1.1 client with kept-alive connections. */
export class VmHttp {
  private readonly agent: http.Agent;

  constructor(
    readonly port: number,
    sockets: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  /** One request, bounded by `timeoutMs`; resolves with the status and the body, whatever the status. */
  request(path: string, body?: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ status: number; body: string }> {
    const what = `${body === undefined ? 'GET' : 'POST'} ${path.split('?')[0]}`;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: this.port, path, method: body === undefined ? 'GET' : 'POST', agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      const timer = setTimeout(() => req.destroy(new Error(`${what} took more than ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${what} failed: ${err.message}`, { cause: err }));
      });
      req.end(body);
    });
  }

  /** GET `path` with `params`; the body of a 200 answer, or an error naming the request and the server's words. */
  async get(path: string, params: Record<string, string>, timeoutMs?: number): Promise<string> {
    const r = await this.request(`${path}?${new URLSearchParams(params).toString()}`, undefined, timeoutMs);
    if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}: ${r.body.slice(0, 500)}`);
    return r.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** `ms` as the seconds VictoriaMetrics takes in `time`, `start` and `end`, to the millisecond. */
export const secondsOf = (ms: number) => (ms / 1000).toFixed(3);

/** A Prometheus-style answer: an instant vector or a range matrix. */
interface PromAnswer {
  status: string;
  data: {
    resultType: 'vector' | 'matrix';
    result: { metric: Record<string, string>; value?: [number, string]; values?: [number, string][] }[];
  };
}
/** One line of /api/v1/export. */
interface ExportLine {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}
type Parsed = { kind: 'prom'; answer: PromAnswer } | { kind: 'export'; lines: ExportLine[] };

/** A timed query as a VictoriaMetrics request, with the rows (or groups) it must return. */
export interface VmQuery {
  name: QueryName;
  description: string;
  from: number;
  to: number;
  rows: number;
  path: '/api/v1/query' | '/api/v1/query_range' | '/api/v1/export';
  params: Record<string, string>;
}

/** Parses an answer of `q.path`. */
function parse(q: Pick<VmQuery, 'path'>, body: string): Parsed {
  if (q.path === '/api/v1/export') {
    const lines = body.split('\n').filter((l) => l !== '');
    return { kind: 'export', lines: lines.map((l) => JSON.parse(l) as ExportLine) };
  }
  const answer = JSON.parse(body) as PromAnswer;
  if (answer.status !== 'success') throw new Error(`${q.path} answered ${body.slice(0, 500)}`);
  return { kind: 'prom', answer };
}

/** Rows of an answer: values of an export, points of a matrix, elements of a vector. */
function rowsOf(p: Parsed): number {
  if (p.kind === 'export') return p.lines.reduce((n, l) => n + l.values.length, 0);
  return p.answer.data.result.reduce((n, r) => n + (r.values ? r.values.length : 1), 0);
}

async function ask(http_: VmHttp, q: Pick<VmQuery, 'path' | 'params'>, name: string): Promise<Parsed> {
  try {
    return parse(q, await http_.get(q.path, q.params));
  } catch (err) {
    throw new Error(`query ${name} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The epoch minutes of the minute query: the first and last bucket holding a step of [from, to). */
export function minuteBuckets(data: QueryData, from: number, to: number): { first: number; last: number } {
  const firstStep = Math.max(from, data.firstTs);
  const lastStep = Math.min(data.lastTs, data.firstTs + (Math.ceil((to - data.firstTs) / TS_STEP_MS) - 1) * TS_STEP_MS);
  const b = {
    first: Math.floor(firstStep / MINUTE_MS) * MINUTE_MS,
    last: Math.floor(lastStep / MINUTE_MS) * MINUTE_MS,
  };
  const n = (b.last - b.first) / MINUTE_MS + 1;
  check(
    n === data.bucketsIn(from, to, MINUTE_MS),
    `minute buckets ${n}, expected ${data.bucketsIn(from, to, MINUTE_MS)}`,
  );
  return b;
}

/**
 * The points of the minute query's edge buckets that lie outside its hour. A rollup window is a
 * whole minute, so VictoriaMetrics' first and last buckets also hold them (ours are cut at the
 * hour); the loader shows every point here, and the check adds them per region.
 */
export class EdgeTap {
  readonly count = new Map<string, number>();
  readonly sum = new Map<string, number>();
  private readonly lo: number;
  private readonly hi: number;

  constructor(
    private readonly data: QueryData,
    private readonly from: number,
    private readonly to: number,
  ) {
    const b = minuteBuckets(data, from, to);
    this.lo = b.first;
    this.hi = b.last + MINUTE_MS;
  }

  observe(points: readonly WritePoint[]): void {
    for (const p of points) {
      const ts = p.ts as number;
      if (ts < this.lo || ts >= this.hi || (ts >= this.from && ts < this.to)) continue;
      const r = String(p.tags!.region);
      this.count.set(r, (this.count.get(r) ?? 0) + 1);
      this.sum.set(r, (this.sum.get(r) ?? 0) + p.fields[this.data.field]!);
    }
  }
}

/** The five timed queries over `data`, with the bounds and rows of `queriesOf`. */
export function vmQueriesOf(data: QueryData): VmQuery[] {
  const f = `cpu_${data.field}`;
  const meanBy = (w: string) =>
    `sum by (region) (sum_over_time(${f}[${w}])) / sum by (region) (count_over_time(${f}[${w}]))`;
  return queriesOf(data).map((x): VmQuery => {
    const { name, description, rows } = x;
    const from = x.q.from as number;
    const to = x.q.to as number;
    const base = { name, description, from, to, rows };
    switch (name) {
      case 'window_mean_by_region':
        return { ...base, path: '/api/v1/query', params: { query: meanBy(`${to - from}ms`), time: secondsOf(to - 1) } };
      case 'minute_mean_by_region': {
        const b = minuteBuckets(data, from, to);
        return {
          ...base,
          path: '/api/v1/query_range',
          params: {
            query: meanBy('1m'),
            start: secondsOf(b.first + MINUTE_MS - 1),
            end: secondsOf(b.last + MINUTE_MS - 1),
            step: '60s',
          },
        };
      }
      case 'series_raw_day':
        return {
          ...base,
          path: '/api/v1/export',
          params: { 'match[]': `${f}{host="${data.probeHost}"}`, start: secondsOf(from), end: secondsOf(to - 1) },
        };
      case 'top10_series_by_max':
        return {
          ...base,
          path: '/api/v1/query',
          params: { query: `topk(10, max_over_time(${f}[${to - from}ms]))`, time: secondsOf(to - 1) },
        };
      case 'empty_range':
        // Export's start and end are both inclusive: [from, to - 1] is the 1 ms [from, to).
        return {
          ...base,
          path: '/api/v1/export',
          params: { 'match[]': '{__name__=~"cpu_.+"}', start: secondsOf(from), end: secondsOf(to - 1) },
        };
    }
  });
}

/** Per group label value, the number of each element of a vector or the sum of a matrix's values. */
function byRegion(p: Parsed): Map<string, number[]> {
  check(p.kind === 'prom', 'a vector or a matrix');
  const out = new Map<string, number[]>();
  for (const r of (p as { answer: PromAnswer }).answer.data.result)
    out.set(r.metric.region ?? '', r.values ? r.values.map((v) => Number(v[1])) : [Number(r.value![1])]);
  return out;
}

/** Checks each query's answer once against what was written (query_data.ts's `verify`, in MetricsQL). */
export async function verifyVm(http_: VmHttp, data: QueryData, qs: VmQuery[], tap: EdgeTap): Promise<void> {
  const [w, minute, raw, top, empty] = qs as [VmQuery, VmQuery, VmQuery, VmQuery, VmQuery];
  const expected = data.windowMeans();
  const counts = (q: VmQuery, win: string) => ({
    path: q.path,
    params: { ...q.params, query: `sum by (region) (count_over_time(cpu_${data.field}[${win}]))` },
  });

  const wm = byRegion(await ask(http_, w, w.name));
  const wc = byRegion(await ask(http_, counts(w, `${w.to - w.from}ms`), `${w.name} (counts)`));
  check(wm.size === w.rows, `${w.name} returned ${wm.size} groups, expected ${w.rows}`);
  for (const [region, e] of expected) {
    check(wc.get(region)?.[0] === e.count, `${w.name} region ${region}: count ${wc.get(region)}, expected ${e.count}`);
    const mean = wm.get(region)?.[0] ?? NaN;
    check(Math.abs(mean - e.mean) < 1e-6, `${w.name} region ${region}: mean ${mean}, expected ${e.mean}`);
  }

  // Per region, the minute buckets add up to the hour plus the edge buckets' points outside it.
  const mp = await ask(http_, minute, minute.name);
  check(rowsOf(mp) === minute.rows, `${minute.name} returned ${rowsOf(mp)} groups, expected ${minute.rows}`);
  const mm = byRegion(mp);
  const mc = byRegion(await ask(http_, counts(minute, '1m'), `${minute.name} (counts)`));
  for (const [region, e] of expected) {
    const cs = mc.get(region) ?? [];
    const ms = mm.get(region) ?? [];
    const count = cs.reduce((n, c) => n + c, 0);
    const sum = ms.reduce((n, m, i) => n + m * cs[i]!, 0);
    const eCount = e.count + (tap.count.get(region) ?? 0);
    const eSum = e.mean * e.count + (tap.sum.get(region) ?? 0);
    check(count === eCount, `${minute.name} region ${region}: count ${count} over the buckets, expected ${eCount}`);
    check(
      Math.abs(sum / count - eSum / eCount) < 1e-6,
      `${minute.name} region ${region}: mean ${sum / count}, expected ${eSum / eCount}`,
    );
  }

  const rp = await ask(http_, raw, raw.name);
  check(rowsOf(rp) === raw.rows, `${raw.name} returned ${rowsOf(rp)} rows, expected ${raw.rows}`);
  const lines = (rp as { lines: ExportLine[] }).lines;
  const ts = lines.flatMap((l) => l.timestamps).sort((a, b) => a - b);
  check(
    lines.every((l) => l.metric.host === data.probeHost) &&
      ts.every((t, i) => t >= raw.from && t < raw.to && (i === 0 || t - ts[i - 1]! === TS_STEP_MS)),
    `${raw.name}: rows of one host inside the day, ${TS_STEP_MS} ms apart`,
  );

  const maxima = data.topMaxima(top.rows);
  const tp = (await ask(http_, top, top.name)) as { answer: PromAnswer };
  const values = tp.answer.data.result.map((r) => Number(r.value![1])).sort((a, b) => b - a);
  check(values.length === top.rows, `${top.name} returned ${values.length} series, expected ${top.rows}`);
  // VictoriaMetrics stores a float as a decimal mantissa and exponent: equal to 1e-9, not to the bit.
  check(
    values.every((v, i) => Math.abs(v - maxima[i]!) <= 1e-9 * Math.max(1, Math.abs(maxima[i]!))),
    `${top.name} maxima ${JSON.stringify(values)}, expected ${JSON.stringify(maxima)}`,
  );

  const ep = await ask(http_, empty, empty.name);
  check(rowsOf(ep) === 0, `${empty.name} returned ${rowsOf(ep)} rows, expected 0`);
}

/** A query's timing, with the request that was timed. */
export type VmTiming = QueryTiming & { request: string };

/**
 * Runs `q` `warmUps` times untimed, then `runs` times timed (one HTTP request and the parse of its
 * answer); every run must return `q.rows` rows or groups.
 */
export async function timeVm(
  http_: VmHttp,
  q: VmQuery,
  warmUps: number,
  runs: number,
  signal: AbortSignal,
): Promise<VmTiming> {
  const ms: number[] = [];
  for (let i = 0; i < warmUps + runs; i++) {
    if (signal.aborted) throw new Error(`interrupted while timing ${q.name}`);
    const t0 = performance.now();
    const p = await ask(http_, q, q.name);
    const took = performance.now() - t0;
    check(rowsOf(p) === q.rows, `${q.name} run ${i} returned ${rowsOf(p)} rows, expected ${q.rows}`);
    if (i >= warmUps) ms.push(took);
  }
  return {
    description: q.description,
    from: q.from,
    to: q.to,
    rows: q.rows,
    ...runTimings(ms),
    request: `${q.path}?${new URLSearchParams(q.params).toString()}`,
  };
}
