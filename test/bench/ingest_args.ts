/**
 * Flags of the ingest benchmark, parsed with commander and validated into numbers with units in
 * their names. Every failure names the flag, so a typo in a long run is caught before any process
 * starts.
 */
import { Command, InvalidArgumentError } from 'commander';
import { MAX_POINTS_PER_BATCH } from '../../transport/limits.js';
import { DATA_SHAPES, type DataShape } from './walk.js';
import {
  BenchArgsError,
  duration as durationOf,
  integer,
  integerOf,
  oneOf,
  opt,
  parseFlags,
  path,
} from './bench_cli.js';

/** A bad flag of the ingest benchmark (the shared benchmark flag error). */
export const IngestArgsError = BenchArgsError;

const duration = (flag: string, allowZero: boolean) => durationOf(flag, allowZero, { ms: MAX_DURATION_MS, text: '1h' });

/**
 * The deployments the benchmark knows: one standalone node, 1 liaison + 2 data nodes on one
 * nats-server (one WAL replica), and the same nodes on a cluster of three nats-servers with three
 * replicas of the WAL.
 */
export const INGEST_CONFIGS = ['standalone', 'cluster', 'cluster_r3'] as const;
/** A deployment under test. */
export type IngestConfig = (typeof INGEST_CONFIGS)[number];

/**
 * How a writer sends its batches: `columns` (typed arrays, the client's `writeMeasureColumns`) or
 * `points` (an object per point, `writeMeasure`).
 */
export const INGEST_FORMS = ['columns', 'points'] as const;
export type IngestForm = (typeof INGEST_FORMS)[number];
/** The fields of the walk shape. */
export const WALK_FIELDS = 2;

/** Most series (distinct `host` values) one run writes. */
export const MAX_SERIES = 1_000_000;
/** Most concurrent writers of one run. */
export const MAX_WRITERS = 256;
/** Most writer counts in `--writers` (each is one run per config). */
export const MAX_WRITER_COUNTS = 16;
/** Most float fields per point. */
export const MAX_FIELDS = 64;
/** Longest warm-up or measurement accepted (one hour: the timestamps of a run must fit the ttl). */
export const MAX_DURATION_MS = 3_600_000;

/** The validated benchmark profile. */
export interface IngestArgs {
  series: number;
  /** Points per write. */
  batchPoints: number;
  /** Concurrent writers of each run, in order (one run per count and config). */
  writers: number[];
  measureMs: number;
  warmUpMs: number;
  fields: number;
  shape: DataShape;
  form: IngestForm;
  configs: IngestConfig[];
  /** Where to write the JSON report, if anywhere. */
  report?: string;
}

function integerList(flag: string, min: number, max: number) {
  return (v: string): number[] => {
    const items = v.split(',').map((s) => s.trim());
    if (items.length > MAX_WRITER_COUNTS) {
      throw new InvalidArgumentError(`${flag} takes at most ${MAX_WRITER_COUNTS} counts (got ${items.length})`);
    }
    const out = items.map((s) => integerOf(`${flag} item`, s, min, max));
    if (new Set(out).size !== out.length)
      throw new InvalidArgumentError(`${flag} lists a count twice (got ${JSON.stringify(v)})`);
    return out;
  };
}

function configList(flag: string) {
  return (v: string): IngestConfig[] => {
    const items = v.split(',').map((s) => s.trim());
    for (const s of items) {
      if (!(INGEST_CONFIGS as readonly string[]).includes(s)) {
        throw new InvalidArgumentError(
          `${flag} must list configs among ${INGEST_CONFIGS.join(', ')} (got ${JSON.stringify(s)})`,
        );
      }
    }
    if (new Set(items).size !== items.length)
      throw new InvalidArgumentError(`${flag} lists a config twice (got ${JSON.stringify(v)})`);
    return items as IngestConfig[];
  };
}

function program(): Command {
  return new Command('ingest_bench')
    .description(
      'ingest benchmark: concurrent writers of measure batches through the public API, up to the durable WAL acknowledgement',
    )
    .addOption(opt('--series <n>', 'distinct series (host h0..h<n-1>)', integer('--series', 1, MAX_SERIES), 1000))
    .addOption(opt('--batch <points>', 'points per write', integer('--batch', 1, MAX_POINTS_PER_BATCH), 5000))
    .addOption(
      opt(
        '--writers <n,...>',
        'concurrent writers; one run per count',
        integerList('--writers', 1, MAX_WRITERS),
        [1, 4],
        '1,4',
      ),
    )
    .addOption(
      opt('--duration <duration>', 'measurement window of each run', duration('--duration', false), 20_000, '20s'),
    )
    .addOption(opt('--warm-up <duration>', 'load before measuring', duration('--warm-up', true), 3000, '3s'))
    .addOption(opt('--fields <n>', 'float fields per point (random shape)', integer('--fields', 1, MAX_FIELDS), 2))
    .addOption(
      opt(
        '--shape <name>',
        'random: --fields random floats; walk: a random-walk float and an int counter',
        oneOf('--shape', DATA_SHAPES),
        'random',
      ),
    )
    .addOption(
      opt(
        '--form <name>',
        'columns: typed arrays per batch (writeMeasureColumns); points: an object per point (writeMeasure)',
        oneOf('--form', INGEST_FORMS),
        'columns',
      ),
    )
    .addOption(
      opt(
        '--configs <name,...>',
        `deployments, among ${INGEST_CONFIGS.join(', ')}`,
        configList('--configs'),
        [...INGEST_CONFIGS],
        INGEST_CONFIGS.join(','),
      ),
    )
    .addOption(opt('--report <file>', 'also write the JSON report to this file', path('--report')));
}

/** Parses the user's flags (`process.argv.slice(2)`); throws `IngestArgsError` naming a bad flag. */
export function parseIngestArgs(argv: readonly string[]): IngestArgs {
  const o = parseFlags<{
    series: number;
    batch: number;
    writers: number[];
    duration: number;
    warmUp: number;
    fields: number;
    shape: DataShape;
    form: IngestForm;
    configs: IngestConfig[];
    report?: string;
  }>(program(), argv);
  if (o.shape === 'walk' && o.fields !== WALK_FIELDS)
    throw new BenchArgsError(
      `--fields applies to --shape random; walk writes value and requests (got --fields ${o.fields})`,
    );
  const args: IngestArgs = {
    series: o.series,
    batchPoints: o.batch,
    writers: o.writers,
    measureMs: o.duration,
    warmUpMs: o.warmUp,
    fields: o.fields,
    shape: o.shape,
    form: o.form,
    configs: o.configs,
  };
  if (o.report !== undefined) args.report = o.report;
  return args;
}
