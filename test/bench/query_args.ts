/**
 * Flags of the query benchmark, parsed with commander and validated into numbers with units in
 * their names. Every failure names the flag, so a typo in a long run is caught before any process
 * starts.
 */
import { Command } from 'commander';
import { DEFAULT_QUIET_MERGE_MS } from '../../actors/data_shard/shard_actor.js';
import { BenchArgsError, duration as durationOf, integer, oneOf, opt, parseFlags, path } from './bench_cli.js';
import { INGEST_FORMS, type IngestForm } from './ingest_args.js';
import { DATA_SHAPES, type DataShape } from './walk.js';

/** A bad flag of the query benchmark (the shared benchmark flag error). */
export const QueryArgsError = BenchArgsError;

/**
 * Default warm-up runs per query. A node's JavaScript is compiled by V8 as it runs: traced on the
 * raw day of one series, its first 1,500 queries paid ~1.5 s of first-time optimizing compiles
 * beside ~5 ms of work each, so timing the 3rd to 102nd run timed the compiler as much as the
 * query. A server runs for days; 200 untimed runs per query (1,000 queries before the last one
 * is timed) measure what it answers once warm. `--warm-up-runs 2` still times a cold node.
 */
export const DEFAULT_WARM_UP_RUNS = 200;
/** Most points one run loads (the timestamps of a series must fit the group's 7 d ttl). */
export const MAX_POINTS = 100_000_000;
/** Most series (distinct `host` values) one run writes. */
export const MAX_SERIES = 100_000;
/** Most timed runs, and most warm-up runs, per query. */
export const MAX_RUNS = 10_000;
/** Most concurrent writers of the load. */
export const MAX_WRITERS = 64;
/** Longest load (writes, then waiting until every point is applied and flushed). */
export const MAX_LOAD_TIMEOUT_MS = 4 * 3_600_000;
/** Longest --settle, and the longest wait for merges to settle. */
export const MAX_SETTLE_MS = 180_000;
/** Default --settle: longer than the shard actor's quiet-merge check (quiet time × 1.5), so a quiet segment's merge has begun. */
export const DEFAULT_SETTLE_MS = 1.5 * DEFAULT_QUIET_MERGE_MS + 2000;
/**
 * Most points per series: at one point every 10 s, 50 000 points span 5.8 days, inside the 7 d ttl
 * with the hour of margin the loader keeps before now.
 */
export const MAX_POINTS_PER_SERIES = 50_000;

/** The validated benchmark profile. */
export interface QueryArgs {
  points: number;
  series: number;
  /** The data written (query_data.ts). */
  shape: DataShape;
  /** Timed runs of each query. */
  runs: number;
  /** Runs of each query before the timed ones, not counted. */
  warmUpRuns: number;
  /** Concurrent writers of the load. */
  writers: number;
  /** How the load's batches are sent: typed-array columns or an object per point. */
  form: IngestForm;
  /** Bound on the whole load: writes, apply and flush. */
  loadTimeoutMs: number;
  /** Timing starts once the part count held still this long after the load (merges settled); 0: at once. */
  settleMs: number;
  /** Where to write the JSON report, if anywhere. */
  report?: string;
}

function program(): Command {
  return new Command('query_bench')
    .description(
      'query benchmark: loads points through the public write API into a standalone node, then times five queries',
    )
    .addOption(
      opt('--points <n>', 'points to load (a multiple of --series)', integer('--points', 1, MAX_POINTS), 10_000_000),
    )
    .addOption(opt('--series <n>', 'distinct series (host h0..h<n-1>)', integer('--series', 1, MAX_SERIES), 1000))
    .addOption(
      opt(
        '--shape <name>',
        'random: two random floats per point; walk: a random-walk float and an int counter',
        oneOf('--shape', DATA_SHAPES),
        'random',
      ),
    )
    .addOption(opt('--runs <n>', 'timed runs of each query', integer('--runs', 1, MAX_RUNS), 20))
    .addOption(
      opt(
        '--warm-up-runs <n>',
        'untimed runs of each query first (the steady state: a node compiles its query path over its first hundreds of queries)',
        integer('--warm-up-runs', 0, MAX_RUNS),
        DEFAULT_WARM_UP_RUNS,
      ),
    )
    .addOption(opt('--writers <n>', 'concurrent writers of the load', integer('--writers', 1, MAX_WRITERS), 4))
    .addOption(
      opt(
        '--form <name>',
        'the load as columns: typed arrays per batch (writeMeasureColumns); points: an object per point (writeMeasure)',
        oneOf('--form', INGEST_FORMS),
        'columns',
      ),
    )
    .addOption(
      opt(
        '--load-timeout <duration>',
        'bound on the load (writes, apply, flush)',
        durationOf('--load-timeout', false, { ms: MAX_LOAD_TIMEOUT_MS, text: '4h' }),
        1_800_000,
        '30m',
      ),
    )
    .addOption(
      opt(
        '--settle <duration>',
        'before timing, wait until the part count on disk held still this long (the merges after the load settled, waiting 3m at most); 0: time at once',
        durationOf('--settle', true, { ms: MAX_SETTLE_MS, text: '3m' }),
        DEFAULT_SETTLE_MS,
        `${DEFAULT_SETTLE_MS / 1000}s`,
      ),
    )
    .addOption(opt('--report <file>', 'also write the JSON report to this file', path('--report')));
}

/** Parses the user's flags (`process.argv.slice(2)`); throws `QueryArgsError` naming a bad flag. */
export function parseQueryArgs(argv: readonly string[]): QueryArgs {
  const o = parseFlags<{
    points: number;
    series: number;
    shape: DataShape;
    runs: number;
    warmUpRuns: number;
    writers: number;
    form: IngestForm;
    loadTimeout: number;
    settle: number;
    report?: string;
  }>(program(), argv);
  const fail = (message: string): never => {
    throw new BenchArgsError(message);
  };
  if (o.points % o.series !== 0)
    fail(`--points must be a multiple of --series (got ${o.points} points over ${o.series} series)`);
  if (o.points / o.series > MAX_POINTS_PER_SERIES) {
    fail(
      `--points must be at most ${MAX_POINTS_PER_SERIES} per series so every timestamp fits the ttl (got ${o.points / o.series})`,
    );
  }
  const args: QueryArgs = {
    points: o.points,
    series: o.series,
    shape: o.shape,
    runs: o.runs,
    warmUpRuns: o.warmUpRuns,
    writers: o.writers,
    form: o.form,
    loadTimeoutMs: o.loadTimeout,
    settleMs: o.settle,
  };
  if (o.report !== undefined) args.report = o.report;
  return args;
}
