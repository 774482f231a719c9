/**
 * `lockstep write line GROUP [FILE]`: InfluxDB line protocol from a file or stdin into a group's
 * measures (`P.api.write.line.<group>`), sent in batches of whole lines; transient failures are
 * retried with the same batch id, so a retry never stores a batch twice.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { LineWriteReply } from '../../transport/api_types.js';
import type { LockstepClient } from '../../transport/client.js';
import { errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import { checkPrecision, LINE_PRECISIONS } from '../../transport/line_protocol.js';
import { MAX_POINTS_PER_BATCH } from '../../transport/limits.js';
import { isTransientCode } from '../../transport/rpc.js';
import { checkName } from '../../transport/schema_types.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { backoffMs, systemClock } from '../clock.js';
import { runCommand } from './output.js';
import { progressEnabled, WriteProgress } from './progress.js';
import {
  bytesRead,
  DEFAULT_BATCH_SIZE,
  DEFAULT_RETRIES,
  intOption,
  MAX_RETRIES,
  openInput,
  RETRY_BACKOFF_BASE_MS,
  RETRY_BACKOFF_MAX_MS,
  RUN_ID,
} from './write_cmd.js';

/** Bytes of lines per request: well under NATS's default 1 MiB message limit. */
const MAX_BATCH_BYTES = 768 * 1024;

type Opts = { batchSize?: string; precision?: string; retries?: string; runId?: string };

const HELP = `
Each line: <measure>[,<tag>=<value>...] <field>=<value>[,...] [<timestamp>] — the measure is one
of the group's, tags and fields are checked against its schema (an int tag takes digits; fields
are numbers: 1.5, 3i or 3u), the timestamp is in --precision units (default ns; none: the server's
time). Blank lines and # comments are skipped. Every line of a batch is validated before any is
stored: a bad line fails its batch, naming the input line.

Examples:
  lockstep write line metrics points.lp
  influx_inspect export -lponly -out - … | lockstep write line metrics --precision ns
  printf 'cpu,host=h1 value=0.5 %s\\n' "$(date +%s)" | lockstep write line metrics --precision s

Exit status: 0 when every line was written; 2 on an error, with how many points were acknowledged
before it.`;

/** Adds `write line` under `write`. */
export function writeLineCommand(write: Command): void {
  write
    .command('line')
    .description('write InfluxDB line protocol from FILE or stdin into the measures of GROUP, in batches')
    .argument('<GROUP>', 'the group whose measures the lines name')
    .argument('[FILE]', 'line protocol file; - or none reads stdin')
    .option('--precision <unit>', `timestamp unit: ${LINE_PRECISIONS.join(', ')}`, 'ns')
    .option('--batch-size <n>', `lines per write, 1–${MAX_POINTS_PER_BATCH}`, String(DEFAULT_BATCH_SIZE))
    .option(
      '--retries <n>',
      'retries of a batch that failed with Unavailable or DeadlineExceeded, with backoff',
      String(DEFAULT_RETRIES),
    )
    .option('--run-id <id>', 'prefix of the batch ids, 1–48 of A-Z, a-z, 0-9, _ and - (default: random)')
    .addHelpText('after', HELP)
    .action((groupArg: string, file: string | undefined, o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const group = checkName(groupArg, 'group');
        const precision = checkPrecision(o.precision);
        const size = intOption(o.batchSize, '--batch-size', 1, MAX_POINTS_PER_BATCH)!;
        const retries = intOption(o.retries, '--retries', 0, MAX_RETRIES)!;
        const runId = o.runId ?? randomUUID().replaceAll('-', '');
        if (!RUN_ID.test(runId))
          throw errors.invalidArgument(`--run-id must be 1–48 of A-Z, a-z, 0-9, _ and -, got ${JSON.stringify(runId)}`);
        const { input, label, totalBytes } = await openInput(file);
        const shown = new WriteProgress(progressEnabled(out.json, process.stderr, process.env.TERM), {
          noun: 'points',
          totalBytes,
          stream: process.stderr,
          now: () => Date.now(),
        });
        const tokens: WriteToken[] = [];
        let points = 0;
        let sent = 0;
        let lines: string[] = [];
        let lineNos: number[] = [];
        let bytes = 0;
        const flush = async () => {
          if (lines.length === 0) return;
          const batchId = `${runId}-${sent + 1}`;
          const r = await send(await client(), group, lines.join('\n'), precision, batchId, retries).catch(
            (err: unknown) => {
              throw failure(err, label, lineNos, points);
            },
          );
          sent++;
          points += r.points;
          tokens.push(r.write_token);
          shown.update(bytesRead(input), points);
          lines = [];
          lineNos = [];
          bytes = 0;
        };
        const rl = createInterface({ input, crlfDelay: Infinity });
        let n = 0;
        try {
          for await (const raw of rl) {
            n++;
            const t = raw.trim();
            if (t === '' || t.startsWith('#')) continue;
            const len = Buffer.byteLength(raw) + 1;
            if (lines.length > 0 && bytes + len > MAX_BATCH_BYTES) await flush();
            lines.push(raw);
            lineNos.push(n);
            bytes += len;
            if (lines.length >= size) await flush();
          }
          await flush();
        } finally {
          rl.close();
          input.destroy();
          shown.stop();
        }
        const token = mergeTokens(group, tokens);
        out.result({ points, batches: sent, run_id: runId, write_token: token }, () => {
          const seqs = Object.entries(token.shards).map(([s, seq]) => `${s}→${seq}`);
          return `wrote ${points} points in ${sent} ${sent === 1 ? 'batch' : 'batches'}${seqs.length > 0 ? ` (write token: ${seqs.join(' ')})` : ''}`;
        });
      }),
    );
}

async function send(
  lc: LockstepClient,
  group: string,
  text: string,
  precision: ReturnType<typeof checkPrecision>,
  batchId: string,
  retries: number,
): Promise<LineWriteReply> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await lc.writeLines(group, text, { precision, batchId });
    } catch (err) {
      const le = toLockstepError(err);
      if (!isTransientCode(le.code) || attempt >= retries) throw le;
      await systemClock.sleep(backoffMs(attempt, RETRY_BACKOFF_BASE_MS, RETRY_BACKOFF_MAX_MS));
    }
  }
}

/** The server's error with the input line it names (the batch's `line N` is its N-th line) and what was acknowledged before. */
function failure(err: unknown, label: string, lineNos: number[], points: number): LockstepError {
  const le = toLockstepError(err);
  const message = le.message.replace(/\bline (\d+)\b/g, (m, k: string) => {
    const input = lineNos[Number(k) - 1];
    return input === undefined ? m : `${label}:${input}`;
  });
  return new LockstepError(le.code, `${message}; ${points} points were acknowledged before the failure`, {
    details: le.details,
    cause: le,
  });
}
