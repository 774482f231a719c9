/**
 * The live load of the migration benchmark (test/bench/migration_bench.ts): latency samples by
 * send time, the bulk load, the open-loop probe writer and the count loop.
 *
 * Times are `performance.now()` and timestamps `Date.now()`: this is a measuring tool outside the
 * system, not logic under test.
 */
import { performance } from 'node:perf_hooks';
import type { LockstepClient, MeasureQuery } from '../../transport/client.js';
import { codeOf } from '../../transport/errors.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { percentile, sleep } from './bench_cli.js';

/** What the benchmark writes and queries. */
export const GROUP = 'mbench';
export const MEASURE = 'cpu';
export const BATCH_POINTS = 5000;
export const PROBE_TICK_MS = 20;
export const MAX_ERROR_SAMPLES = 5;

const PROBE_WRITE_TIMEOUT_MS = 10_000;
/** Probe writes awaiting their reply at once; a tick finding this many skips its batch (and says so). */
const PROBE_MAX_IN_FLIGHT = 256;
/** The query loop issues at most one count every QUERY_INTERVAL_MS. */
const QUERY_INTERVAL_MS = 100;

/** Wall-clock epoch ms, comparable with the status record's times (same host). */
export const epochNow = () => performance.timeOrigin + performance.now();
export const round3 = (x: number) => Math.round(x * 1000) / 1000;
export const epochOf = (t: string | null) => (t === null ? null : Date.parse(t));

/** Latency figures of one window. */
export type WindowStats = Record<'samples' | 'p50_ms' | 'p99_ms' | 'max_ms', number>;

/** Latency samples by send time (epoch ms). */
export class Timings {
  private readonly sent: number[] = [];
  private readonly took: number[] = [];

  record(sentAt: number, ms: number): void {
    this.sent.push(sentAt);
    this.took.push(ms);
  }

  /** Samples sent in [from, to) or, with `overlap`, whose [send, reply] meets [from, to]. */
  stats(from: number, to: number, overlap = false): WindowStats {
    const ms = this.took
      .filter((d, i) =>
        overlap ? this.sent[i]! <= to && this.sent[i]! + d >= from : this.sent[i]! >= from && this.sent[i]! < to,
      )
      .sort((a, b) => a - b);
    return { samples: ms.length, p50_ms: percentile(ms, 50), p99_ms: percentile(ms, 99), max_ms: percentile(ms, 100) };
  }
}

/** The live write load: a batch every PROBE_TICK_MS, open loop, to hosts `p<j>` at timestamp `firstTs + tick`. */
export class Probe {
  readonly writes = new Timings();
  acked = 0;
  refused = 0;
  skipped = 0;
  lastTs = 0;
  token: WriteToken = { group: GROUP, shards: {} };
  readonly errorSamples = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly firstTs = Math.floor(epochNow());

  constructor(
    private readonly client: LockstepClient,
    private readonly rate: number,
  ) {}

  /** Sends until `stop` or `boundMs` passed, then joins every write in flight. */
  async run(stop: AbortSignal, boundMs: number): Promise<void> {
    const t0 = performance.now();
    const ticks = Math.ceil(boundMs / PROBE_TICK_MS);
    const due = (i: number) => Math.floor((this.rate * i * PROBE_TICK_MS) / 1000);
    for (let i = 0; i < ticks && !stop.aborted; i++) {
      await sleep(t0 + i * PROBE_TICK_MS - performance.now());
      const n = due(i + 1) - due(i);
      if (stop.aborted || n === 0) continue;
      if (this.inFlight.size >= PROBE_MAX_IN_FLIGHT) {
        this.skipped++;
        continue;
      }
      const ts = this.firstTs + i * PROBE_TICK_MS;
      // Columns: the fast form a high-rate writer uses (one object per point costs both sides).
      const columns = {
        ts: new Float64Array(n).fill(ts),
        tags: { host: Array.from({ length: n }, (_, j) => `p${j}`) },
        fields: { f1: Float64Array.from({ length: n }, (_, j) => j), f2: new Float64Array(n).fill(i) },
      };
      const sentAt = epochNow();
      const w: Promise<void> = this.client
        .writeMeasureColumns(GROUP, MEASURE, columns, { timeoutMs: PROBE_WRITE_TIMEOUT_MS })
        .then(
          (r) => {
            this.writes.record(sentAt, epochNow() - sentAt);
            if (!r.duplicate) this.acked += r.points;
            this.lastTs = Math.max(this.lastTs, ts);
            this.token = mergeTokens(GROUP, [this.token, r.write_token]);
          },
          (err) => {
            this.refused++;
            this.lastTs = Math.max(this.lastTs, ts);
            if (this.errorSamples.size < MAX_ERROR_SAMPLES)
              this.errorSamples.add(`${codeOf(err)}: ${(err as Error).message}`);
          },
        )
        .finally(() => this.inFlight.delete(w));
      this.inFlight.add(w);
    }
    await Promise.all(this.inFlight);
  }
}

/** A count over one loaded hour, at most every QUERY_INTERVAL_MS, one at a time. */
export class QueryLoop {
  readonly times = new Timings();
  errors = 0;
  /** Send times (epoch ms) of the counts that answered a wrong number. */
  readonly wrongAt: number[] = [];
  readonly samples = new Set<string>();

  constructor(
    private readonly client: LockstepClient,
    private readonly q: MeasureQuery,
    private readonly expected: number,
  ) {}

  async run(stop: AbortSignal, boundMs: number): Promise<void> {
    const end = performance.now() + boundMs;
    for (let i = 0; i < Math.ceil(boundMs / QUERY_INTERVAL_MS) && !stop.aborted && performance.now() < end; i++) {
      const t = performance.now();
      const sentAt = epochNow();
      try {
        const n = await countOf(this.client, this.q);
        this.times.record(sentAt, epochNow() - sentAt);
        if (n !== this.expected) {
          this.wrongAt.push(sentAt);
          if (this.samples.size < MAX_ERROR_SAMPLES) this.samples.add(`counted ${n}, expected ${this.expected}`);
        }
      } catch (err) {
        this.errors++;
        if (this.samples.size < MAX_ERROR_SAMPLES) this.samples.add(`${codeOf(err)}: ${(err as Error).message}`);
      }
      await sleep(QUERY_INTERVAL_MS - (performance.now() - t));
    }
  }
}

export async function countOf(client: LockstepClient, q: MeasureQuery): Promise<number> {
  const r = await client.queryMeasure({ ...q, aggregations: [{ fn: 'count' }] });
  return Number(r.groups?.[0]?.values.count ?? 0);
}
