/**
 * Flags of the migration benchmark, parsed with commander and validated into numbers with units in
 * their names. Every failure names the flag, so a typo in a long run is caught before any process
 * starts.
 */
import { Command, InvalidArgumentError } from 'commander';
import { SHARDS_MAX, SHARDS_MIN } from '../../transport/limits.js';
import { BenchArgsError, duration as durationOf, integer, opt, parseFlags, path, rate } from './bench_cli.js';

/** A bad flag of the migration benchmark (the shared benchmark flag error). */
export const MigrationArgsError = BenchArgsError;

/** The deployments the benchmark knows: one standalone node, or 1 liaison + 2 data nodes + 1 claimer. */
export const MIGRATION_PROFILES = ['standalone', 'cluster'] as const;
/** A deployment under test. */
export type MigrationProfile = (typeof MIGRATION_PROFILES)[number];

/** Distinct series of the load (host h0..h999, the query benchmark's data). */
export const LOAD_SERIES = 1000;
/**
 * Most points one run loads: at one point every 10 s per series, 50 000 points per series span
 * 5.8 days, inside the group's 7 d ttl with the margin the loader keeps before now.
 */
export const MAX_POINTS = 50_000 * LOAD_SERIES;
/** Highest probe write rate: at most MAX_POINTS_PER_BATCH points every probe tick of 20 ms. */
export const MAX_WRITE_RATE = 200_000;
/** Longest baseline window accepted. */
export const MAX_BASELINE_MS = 3_600_000;
/** Longest load or migration bound accepted. */
export const MAX_PHASE_TIMEOUT_MS = 4 * 3_600_000;

/** The validated benchmark profile. */
export interface MigrationArgs {
  points: number;
  fromShards: number;
  toShards: number;
  /** Probe write rate, points per second. */
  writeRate: number;
  /** The deployments to run, in order. */
  profiles: MigrationProfile[];
  /** Steady probe writes before the migration starts, measured as the baseline. */
  baselineMs: number;
  /** Bound on the load: writes, apply and flush. */
  loadTimeoutMs: number;
  /** Bound on the migration, from its start until it ended. */
  migrationTimeoutMs: number;
  /** Where to write the JSON report, if anywhere. */
  report?: string;
}

function profileOf(flag: string) {
  return (v: string): MigrationProfile[] => {
    if (v === 'both') return [...MIGRATION_PROFILES];
    if (!(MIGRATION_PROFILES as readonly string[]).includes(v)) {
      throw new InvalidArgumentError(
        `${flag} must be one of ${MIGRATION_PROFILES.join(', ')}, both (got ${JSON.stringify(v)})`,
      );
    }
    return [v as MigrationProfile];
  };
}

function program(): Command {
  const shards = (flag: string) => integer(flag, SHARDS_MIN, SHARDS_MAX);
  const bound = (flag: string) => durationOf(flag, false, { ms: MAX_PHASE_TIMEOUT_MS, text: '4h' });
  return new Command('migration_bench')
    .description(
      'migration benchmark: loads points, then re-shards the group under a steady live write load, ' +
        'timing the copy, the cutover and the writes and queries around them',
    )
    .addOption(
      opt(
        '--points <n>',
        `points to load before the migration (a multiple of ${LOAD_SERIES})`,
        integer('--points', 1, MAX_POINTS),
        5_000_000,
      ),
    )
    .addOption(opt('--from-shards <n>', 'shards of the group as created', shards('--from-shards'), 2))
    .addOption(opt('--to-shards <n>', 'shards the migration re-shards it to', shards('--to-shards'), 8))
    .addOption(
      opt(
        '--write-rate <points_per_s>',
        'live probe writes, points per second',
        rate('--write-rate', MAX_WRITE_RATE),
        50_000,
      ),
    )
    .addOption(
      opt(
        '--profile <name>',
        `deployment: ${MIGRATION_PROFILES.join(', ')} or both`,
        profileOf('--profile'),
        [...MIGRATION_PROFILES],
        'both',
      ),
    )
    .addOption(
      opt(
        '--baseline <duration>',
        'steady probe writes measured before the migration starts',
        durationOf('--baseline', false, { ms: MAX_BASELINE_MS, text: '1h' }),
        10_000,
        '10s',
      ),
    )
    .addOption(
      opt(
        '--load-timeout <duration>',
        'bound on the load (writes, apply, flush)',
        bound('--load-timeout'),
        1_800_000,
        '30m',
      ),
    )
    .addOption(
      opt('--migration-timeout <duration>', 'bound on the migration', bound('--migration-timeout'), 1_800_000, '30m'),
    )
    .addOption(opt('--report <file>', 'also write the JSON report to this file', path('--report')));
}

/** Parses the user's flags (`process.argv.slice(2)`); throws `MigrationArgsError` naming a bad flag. */
export function parseMigrationArgs(argv: readonly string[]): MigrationArgs {
  const o = parseFlags<{
    points: number;
    fromShards: number;
    toShards: number;
    writeRate: number;
    profile: MigrationProfile[];
    baseline: number;
    loadTimeout: number;
    migrationTimeout: number;
    report?: string;
  }>(program(), argv);
  if (o.points % LOAD_SERIES !== 0)
    throw new BenchArgsError(`--points must be a multiple of ${LOAD_SERIES}, the load's series (got ${o.points})`);
  if (o.fromShards === o.toShards)
    throw new BenchArgsError(`--to-shards must differ from --from-shards (both are ${o.toShards}): nothing to copy`);
  const args: MigrationArgs = {
    points: o.points,
    fromShards: o.fromShards,
    toShards: o.toShards,
    writeRate: o.writeRate,
    profiles: o.profile,
    baselineMs: o.baseline,
    loadTimeoutMs: o.loadTimeout,
    migrationTimeoutMs: o.migrationTimeout,
  };
  if (o.report !== undefined) args.report = o.report;
  return args;
}
