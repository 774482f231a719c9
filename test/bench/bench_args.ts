/**
 * Flags of the barrier benchmark, parsed with commander and validated into numbers with units in
 * their names. Every failure names the flag, so a typo in a long run is caught before the cluster
 * starts.
 */
import { Command } from 'commander';
import { duration as durationOf, integer, opt, parseFlags, path, rate } from './bench_cli.js';

export { BenchArgsError } from './bench_cli.js';

const duration = (flag: string, allowZero: boolean) => durationOf(flag, allowZero, { ms: MAX_DURATION_MS, text: '1d' });

/** Most concurrent callers one benchmark process drives. */
export const MAX_CALLERS = 10_000;
/** Most schema mutations per second the mutator is asked for. */
export const MAX_MUTATE_RATE = 1000;
/** Most liaisons or data nodes a local benchmark cluster starts. */
export const MAX_NODES_PER_ROLE = 32;
/** Longest warm-up, measurement or barrier timeout accepted (one day). */
export const MAX_DURATION_MS = 86_400_000;

/** The validated benchmark profile. */
export interface BenchArgs {
  callers: number;
  mutateRate: number;
  warmUpMs: number;
  measureMs: number;
  dataNodes: number;
  liaisons: number;
  barrierTimeoutMs: number;
  /** Where to write the JSON report, if anywhere. */
  report?: string;
}

function program(): Command {
  return new Command('barrier_bench')
    .description(
      'barrier load benchmark: concurrent barrier.revision callers against a paced schema mutator on a local multi-process cluster',
    )
    .addOption(opt('--callers <n>', 'concurrent barrier callers', integer('--callers', 1, MAX_CALLERS), 100))
    .addOption(opt('--mutate-rate <per_s>', 'schema mutations per second', rate('--mutate-rate', MAX_MUTATE_RATE), 10))
    .addOption(opt('--warm-up <duration>', 'load before measuring', duration('--warm-up', true), 10_000, '10s'))
    .addOption(opt('--measure <duration>', 'measurement window', duration('--measure', false), 60_000, '60s'))
    .addOption(opt('--data-nodes <n>', 'data node processes', integer('--data-nodes', 0, MAX_NODES_PER_ROLE), 3))
    .addOption(opt('--liaisons <n>', 'liaison node processes', integer('--liaisons', 1, MAX_NODES_PER_ROLE), 1))
    .addOption(
      opt(
        '--barrier-timeout <duration>',
        'timeout_ms of every barrier call',
        duration('--barrier-timeout', false),
        5000,
        '5s',
      ),
    )
    .addOption(opt('--report <file>', 'also write the JSON report to this file', path('--report')));
}

/** Parses the user's flags (`process.argv.slice(2)`); throws `BenchArgsError` naming a bad flag. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const o = parseFlags<{
    callers: number;
    mutateRate: number;
    warmUp: number;
    measure: number;
    dataNodes: number;
    liaisons: number;
    barrierTimeout: number;
    report?: string;
  }>(program(), argv);
  const args: BenchArgs = {
    callers: o.callers,
    mutateRate: o.mutateRate,
    warmUpMs: o.warmUp,
    measureMs: o.measure,
    dataNodes: o.dataNodes,
    liaisons: o.liaisons,
    barrierTimeoutMs: o.barrierTimeout,
  };
  if (o.report !== undefined) args.report = o.report;
  return args;
}
