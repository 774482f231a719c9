/**
 * What every benchmark script shares: flag parsers that name the flag in every error, the parse
 * step that turns commander's errors into `BenchArgsError`, the script runner (signals, the JSON
 * report on stdout and in `--report`, exit codes), and the plain timing helpers of a run (pauses,
 * bounded polls, the warm-up and measurement window, percentiles).
 */
import { writeFileSync } from 'node:fs';
import { CommanderError, InvalidArgumentError, Option, type Command } from 'commander';
import { parseDuration } from '../../transport/duration.js';

/** A bad flag; the message names it. A benchmark exits with `exitCode` (0 after `--help`, else 2). */
export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `v` as an integer in [min, max], or an error naming `flag`. */
export function integerOf(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return n;
}

/** Parser of an integer flag in [min, max]. */
export function integer(flag: string, min: number, max: number) {
  return (v: string): number => integerOf(flag, v, min, max);
}

/** Parser of a positive rate (operations per second) of at most `max`. */
export function rate(flag: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(
        `${flag} must be a positive number of operations per second, at most ${max} (got ${JSON.stringify(v)})`,
      );
    }
    return n;
  };
}

/** Parser of a duration (`5s`, `2m`) in ms: positive (or ≥ 0 with `allowZero`), at most `max.ms`. */
export function duration(flag: string, allowZero: boolean, max: { ms: number; text: string }) {
  return (v: string): number => {
    let ms: number;
    try {
      ms = parseDuration(v, flag);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    const ok = allowZero ? ms >= 0 : ms > 0;
    if (!ok || ms > max.ms) {
      throw new InvalidArgumentError(
        `${flag} must be a ${allowZero ? 'non-negative' : 'positive'} duration of at most ${max.text} (got ${JSON.stringify(v)})`,
      );
    }
    return ms;
  };
}

/** Parser of a non-empty file path. */
export function path(flag: string) {
  return (v: string): string => {
    if (v.trim() === '') throw new InvalidArgumentError(`${flag} must be a file path`);
    return v;
  };
}

/** Parser of one of `values`. */
export function oneOf<T extends string>(flag: string, values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v))
      throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')} (got ${JSON.stringify(v)})`);
    return v as T;
  };
}

/** An option with its parser and, optionally, a default (shown as `dfltText`). */
export function opt(
  flags: string,
  description: string,
  parse: (v: string) => unknown,
  dflt?: unknown,
  dfltText?: string,
): Option {
  const o = new Option(flags, description).argParser(parse);
  return dflt === undefined ? o : o.default(dflt, dfltText);
}

/**
 * Parses user flags with `cmd` (built with `exitOverride`); returns its options, or throws a
 * `BenchArgsError` naming the bad flag.
 */
export function parseFlags<T extends object>(cmd: Command, argv: readonly string[]): T {
  cmd
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError)
      throw new BenchArgsError(err.message.replace(/^error: /, ''), err.exitCode === 0 ? 0 : 2);
    throw err;
  }
  return cmd.opts<T>();
}

/** Grace for the event loop to empty by itself after a run before the process exits anyway. */
const EXIT_GRACE_MS = 2000;

/**
 * Runs a benchmark script: parses its flags, runs it with an abort signal raised by SIGINT or
 * SIGTERM, prints the report (and writes it to `--report`), sets the exit code (0, 1 on failure, 2
 * on a bad flag, 130 when interrupted). The run reports failures by throwing; its messages are
 * printed prefixed with `name`.
 */
export async function runBenchScript<A extends { report?: string }>(
  name: string,
  parse: (argv: readonly string[]) => A,
  run: (args: A, signal: AbortSignal) => Promise<unknown>,
): Promise<void> {
  const exitCode = await (async () => {
    let args: A;
    try {
      args = parse(process.argv.slice(2));
    } catch (err) {
      if (!(err instanceof BenchArgsError)) throw err;
      if (err.exitCode !== 0) process.stderr.write(`${name}: ${err.message}\n`);
      return err.exitCode;
    }
    const stopper = new AbortController();
    const onSignal = () => stopper.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const report = await run(args, stopper.signal);
      const json = JSON.stringify(report, null, 2);
      if (args.report) writeFileSync(args.report, `${json}\n`);
      process.stdout.write(`${json}\n`);
      return stopper.signal.aborted ? 130 : 0;
    } catch (err) {
      process.stderr.write(`${name}: ${(err as Error).message}\n`);
      return 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  })();
  process.exitCode = exitCode;
  // Everything a run opens is closed by the time it returns, so the process ends by itself; a
  // handle it does not own must not hang the caller: say which, and exit.
  setTimeout(() => {
    process.stderr.write(
      `${name}: handles still open ${EXIT_GRACE_MS} ms after the run (${process.getActiveResourcesInfo().join(', ')}); exiting\n`,
    );
    process.exit(exitCode);
  }, EXIT_GRACE_MS).unref();
}

/** Resolves after `ms` (at once when `ms` is not positive). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/**
 * Polls `probe` every `pollMs` until it is true or `timeoutMs` passed; returns its last answer. A
 * probe that throws (no liaison serving yet, say) counts as "not yet".
 */
export async function pollUntil(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  pollMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; i <= Math.ceil(timeoutMs / pollMs); i++) {
    let ok = false;
    try {
      ok = await probe();
    } catch {
      // Not yet.
    }
    if (ok) return true;
    if (performance.now() > deadline) return false;
    await sleep(pollMs);
  }
  return false;
}

/** The phases on `performance.now()`: warm-up from `start`, measurement from `measureStart` to `end`. */
export interface Window {
  start: number;
  measureStart: number;
  end: number;
}

/** The window of a run starting now: `warmUpMs` of warm-up, then `measureMs` measured. */
export function windowFromNow(warmUpMs: number, measureMs: number): Window {
  const start = performance.now();
  return { start, measureStart: start + warmUpMs, end: start + warmUpMs + measureMs };
}

/** What `runTimings` reports. */
export type RunTimings = ReturnType<typeof runTimings>;

/** Timed runs summed up: their count, the middle value (mean of the two middle ones for an even count), nearest-rank percentiles, min and max, in ms rounded to µs. */
export function runTimings(ms: readonly number[]): {
  runs: number;
  median_ms: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  min_ms: number;
  max_ms: number;
} {
  const s = [...ms].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length === 0 ? 0 : s.length % 2 === 1 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    runs: s.length,
    median_ms: r(median),
    p50_ms: percentile(s, 50),
    p95_ms: percentile(s, 95),
    p99_ms: percentile(s, 99),
    min_ms: r(s[0] ?? 0),
    max_ms: r(s[s.length - 1] ?? 0),
  };
}

/** Nearest-rank percentile of ascending values, rounded to µs; 0 for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i]! * 1000) / 1000;
}
