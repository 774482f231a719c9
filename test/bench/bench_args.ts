/**
 * Flags of the barrier benchmark, parsed with commander and validated into numbers with units in
 * their names. Every failure names the flag, so a typo in a long run is caught before the cluster
 * starts.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDurationMs } from '../../runtime/config.js';

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

/** A bad flag; the message names it. The benchmark exits with code 2 on it. */
export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
  /** Exit code for the process: 0 after `--help`, 2 for a bad flag. */
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

function integer(flag: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
    }
    return n;
  };
}

function rate(flag: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(`${flag} must be a positive number of operations per second, at most ${max} (got ${JSON.stringify(v)})`);
    }
    return n;
  };
}

function duration(flag: string, allowZero: boolean) {
  return (v: string): number => {
    let ms: number;
    try {
      ms = parseDurationMs(v, flag);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    const ok = allowZero ? ms >= 0 : ms > 0;
    if (!ok || ms > MAX_DURATION_MS) {
      throw new InvalidArgumentError(`${flag} must be a ${allowZero ? 'non-negative' : 'positive'} duration of at most 1d (got ${JSON.stringify(v)})`);
    }
    return ms;
  };
}

function path(flag: string) {
  return (v: string): string => {
    if (v.trim() === '') throw new InvalidArgumentError(`${flag} must be a file path`);
    return v;
  };
}

function opt(flags: string, description: string, parse: (v: string) => unknown, dflt?: unknown, dfltText?: string): Option {
  const o = new Option(flags, description).argParser(parse);
  return dflt === undefined ? o : o.default(dflt, dfltText);
}

function program(): Command {
  return new Command('barrier_bench')
    .description('barrier load benchmark: concurrent barrier.revision callers against a paced schema mutator on a local multi-process cluster')
    .addOption(opt('--callers <n>', 'concurrent barrier callers', integer('--callers', 1, MAX_CALLERS), 100))
    .addOption(opt('--mutate-rate <per_s>', 'schema mutations per second', rate('--mutate-rate', MAX_MUTATE_RATE), 10))
    .addOption(opt('--warm-up <duration>', 'load before measuring', duration('--warm-up', true), 10_000, '10s'))
    .addOption(opt('--measure <duration>', 'measurement window', duration('--measure', false), 60_000, '60s'))
    .addOption(opt('--data-nodes <n>', 'data node processes', integer('--data-nodes', 0, MAX_NODES_PER_ROLE), 3))
    .addOption(opt('--liaisons <n>', 'liaison node processes', integer('--liaisons', 1, MAX_NODES_PER_ROLE), 1))
    .addOption(opt('--barrier-timeout <duration>', 'timeout_ms of every barrier call', duration('--barrier-timeout', false), 5000, '5s'))
    .addOption(opt('--report <file>', 'also write the JSON report to this file', path('--report')))
    .allowExcessArguments(false)
    .exitOverride()
    // Errors are rethrown as BenchArgsError and printed once by the caller.
    .configureOutput({ writeErr: () => undefined });
}

/** Parses the user's flags (`process.argv.slice(2)`); throws `BenchArgsError` naming a bad flag. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const cmd = program();
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      throw new BenchArgsError(err.message.replace(/^error: /, ''), err.exitCode === 0 ? 0 : 2);
    }
    throw err;
  }
  const o = cmd.opts<{
    callers: number;
    mutateRate: number;
    warmUp: number;
    measure: number;
    dataNodes: number;
    liaisons: number;
    barrierTimeout: number;
    report?: string;
  }>();
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
