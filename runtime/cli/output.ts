/**
 * Printing for the `lockstep` commands: with `--json` one JSON document on stdout, otherwise
 * compact human text. Errors go to stderr as `error: <Code>: <message>` (or `{"error": …}` on
 * stdout with `--json`) and set exit code 2. Also the one way a command handler runs, so every
 * handler connects, closes and reports errors alike.
 */
import type { Command } from 'commander';
import { LockstepClient } from '../../transport/client.js';
import { Code, isNoResponders, LockstepError, toLockstepError } from '../../transport/errors.js';
import { DEFAULT_PREFIX } from '../../transport/subjects.js';
import { describeNatsUrl, globalOptions, START_HINT, urlSource, type GlobalOptions } from './global_options.js';

/** Exit code of a failed command (bad arguments, unreachable cluster, an error reply). */
export const EXIT_ERROR = 2;

/** Writes results in the mode chosen by `--json`. */
export class Output {
  constructor(readonly json: boolean) {}

  /** Prints `value` as JSON, or the human text `human()` returns (lines, or one string). */
  result(value: unknown, human: () => string | string[]): void {
    if (this.json) {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      return;
    }
    const text = human();
    const lines = Array.isArray(text) ? text : [text];
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  }

  /** Prints an error and sets exit code 2. Never prints a stack trace. */
  error(err: unknown): void {
    const le = toLockstepError(err);
    if (this.json) {
      process.stdout.write(`${JSON.stringify({ error: { code: le.code, message: le.message } }, null, 2)}\n`);
    } else {
      process.stderr.write(`error: ${le.code}: ${le.message}\n`);
    }
    process.exitCode = EXIT_ERROR;
  }
}

/** Lays out rows under a header as left-aligned columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** What a handler gets: the output and a lazily opened client, closed after the handler. */
export interface CommandContext {
  out: Output;
  /** Connects on first use (arguments are parsed before, so bad ones fail without NATS). */
  client(): Promise<LockstepClient>;
}

/** Connects, explaining a failure to reach NATS: which URL, where it came from, how to start a cluster. */
async function connect(g: GlobalOptions): Promise<LockstepClient> {
  try {
    return await LockstepClient.connect({
      natsUrl: g.natsUrl,
      user: g.natsAuth.user,
      password: g.natsAuth.pass,
      inboxPrefix: g.natsAuth.inboxPrefix,
      credsFile: g.natsAuth.credsFile,
    });
  } catch (err) {
    const le = toLockstepError(err);
    if (le.code !== Code.Unavailable) throw le;
    // NatsBus names the URL (redacted) and the cause; this adds where the URL came from.
    throw new LockstepError(Code.Unavailable, `${le.message} (${urlSource(g)}); ${START_HINT}`, {
      cause: le,
      details: le.details,
    });
  }
}

/**
 * NATS answered, but nothing serves the public API: no liaison runs there. Says so instead of
 * `no responders on lockstep.api.…`. Other errors pass unchanged.
 */
function explainNoLiaison(err: unknown, g: GlobalOptions): unknown {
  if (!isNoResponders(err)) return err;
  const subject = String((err as LockstepError).details?.subject ?? '');
  if (!subject.startsWith(`${DEFAULT_PREFIX}.api.`)) return err;
  return new LockstepError(
    Code.Unavailable,
    `no Lockstep liaison answers on ${subject} at ${describeNatsUrl(g)}: NATS is up, but no cluster serves it; ${START_HINT}`,
    { cause: err, details: (err as LockstepError).details },
  );
}

/**
 * Runs a command handler: its return value is the exit code (0 when void); any error is printed
 * and exits 2; the connection, if one was opened, is always closed. Never calls process.exit().
 */
export async function runCommand(
  cmd: Command,
  handler: (ctx: CommandContext) => Promise<number | void>,
): Promise<void> {
  let g: GlobalOptions;
  try {
    g = globalOptions(cmd);
  } catch (err) {
    new Output(!!(cmd.optsWithGlobals() as { json?: boolean }).json).error(err);
    return;
  }
  const out = new Output(g.json);
  let connecting: Promise<LockstepClient> | undefined;
  try {
    const code = await handler({
      out,
      client: () => (connecting ??= connect(g)),
    });
    process.exitCode = code ?? 0;
  } catch (err) {
    out.error(explainNoLiaison(err, g));
  } finally {
    if (connecting) {
      const c = await connecting.catch(() => undefined);
      await c?.close().catch(() => undefined);
    }
  }
}
