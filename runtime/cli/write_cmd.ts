/**
 * `lockstep write measure|stream GROUP/NAME [FILE]`: streams JSON lines from a file or stdin to the
 * write API in batches. Lines are read with readline, never the whole input at once, and every line
 * of a batch is parsed before the batch is sent, so a malformed line fails naming its file and line
 * with nothing of its batch written. Each batch carries the id `<run id>-<batch number>`, so a retry
 * is stored once (within the WAL's de-duplication window).
 */
import { randomUUID } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { MAX_POINTS_PER_BATCH } from '../../transport/limits.js';
import type { LockstepClient, WriteElement, WritePoint, WriteReply } from '../../transport/client.js';
import { errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import { isTransientCode } from '../../transport/rpc.js';
import { backoffMs, systemClock } from '../clock.js';
import { runCommand } from './output.js';
import { progressEnabled, WriteProgress } from './progress.js';
import { parseRef } from './schema_cmd.js';
import { mergeTokens } from '../../transport/write_token.js';
import { writeLineCommand } from './write_line_cmd.js';

/** Points (or elements) per write unless `--batch-size` says otherwise. */
export const DEFAULT_BATCH_SIZE = 5000;
/** Retries of a batch that failed with `Unavailable` or `DeadlineExceeded`, unless `--retries` says otherwise. */
export const DEFAULT_RETRIES = 2;
/** The most retries `--retries` accepts. */
export const MAX_RETRIES = 100;
/** First wait before a retry; it doubles per attempt up to `RETRY_BACKOFF_MAX_MS`. */
export const RETRY_BACKOFF_BASE_MS = 250;
/** Longest wait before a retry. */
export const RETRY_BACKOFF_MAX_MS = 5000;
// A run id leaves room for `-<batch number>` within the server's 64-character batch id.
export const RUN_ID = /^[A-Za-z0-9_-]{1,48}$/;

type Kind = 'measure' | 'stream';
type Row = Record<string, unknown>;
type Opts = { batchSize?: string; schemaRevision?: string; retries?: string; runId?: string };

/** One batch of parsed input rows with the input line of each row. */
interface Batch {
  rows: Row[];
  lines: number[];
}

/** What was acknowledged so far. */
interface Progress {
  points: number;
  batches: number;
  lastLine: number;
  tokens: WriteReply['write_token'][];
}

export function intOption(
  v: string | undefined,
  flag: string,
  min: number,
  max: number,
  dflt?: number,
): number | undefined {
  if (v === undefined) return dflt;
  const n = /^[0-9]{1,15}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max))
    throw errors.invalidArgument(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? 'a string' : `a ${typeof v}`;
}

/** Yields batches of at most `size` rows parsed from JSON lines; blank lines are skipped. */
async function* readBatches(input: Readable, label: string, kind: Kind, size: number): AsyncGenerator<Batch> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  const shape = kind === 'measure' ? '{ts, tags, fields}' : '{ts, element_id, tags}';
  let batch: Batch = { rows: [], lines: [] };
  let lineNo = 0;
  try {
    for await (const raw of rl) {
      lineNo++;
      const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (err) {
        throw errors.invalidArgument(`${label}:${lineNo}: not valid JSON: ${(err as Error).message}`);
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw errors.invalidArgument(`${label}:${lineNo}: expected a JSON object ${shape}, got ${describe(v)}`);
      }
      batch.rows.push(v as Row);
      batch.lines.push(lineNo);
      if (batch.rows.length === size) {
        yield batch;
        batch = { rows: [], lines: [] };
      }
    }
    if (batch.rows.length > 0) yield batch;
  } finally {
    rl.close();
    input.destroy();
  }
}

// Sends one batch, retrying only transient failures; the fixed batch id makes a retry idempotent.
async function send(
  lc: LockstepClient,
  kind: Kind,
  group: string,
  name: string,
  rows: Row[],
  opts: { schemaRevision?: number; batchId: string },
  retries: number,
): Promise<WriteReply> {
  for (let attempt = 0; ; attempt++) {
    try {
      // The rows are only known to be JSON objects: the server validates each one.
      return kind === 'measure'
        ? await lc.writeMeasure(group, name, rows as unknown as WritePoint[], opts)
        : await lc.writeStream(group, name, rows as unknown as WriteElement[], opts);
    } catch (err) {
      const le = toLockstepError(err);
      if (!isTransientCode(le.code) || attempt >= retries) throw le;
      await systemClock.sleep(backoffMs(attempt, RETRY_BACKOFF_BASE_MS, RETRY_BACKOFF_MAX_MS));
    }
  }
}

// The error to report: the server's code and message, the input line of a row it names, and how
// much was acknowledged before, so the user knows where to resume.
function failure(err: unknown, p: Progress, noun: string, label: string, runId: string, batch?: Batch): LockstepError {
  const le = toLockstepError(err);
  let message = le.message;
  // Server validation names the row by its index in the batch (`points[i]…`) in details.field.
  const row = /^(?:points|elements)\[(\d+)\]/.exec(String(le.details?.field ?? ''));
  const line = row && batch ? batch.lines[Number(row[1])] : undefined;
  if (line !== undefined) message = `${label}:${line}: ${message}`;
  const through = p.points > 0 ? ` (input through line ${p.lastLine})` : '';
  const acked = `${p.points} ${noun} in ${batches(p.batches)}${through} were acknowledged before the failure`;
  return new LockstepError(le.code, `${message}; ${acked} (run id ${runId})`, { details: le.details, cause: le });
}

const batches = (n: number) => `${n} ${n === 1 ? 'batch' : 'batches'}`;

/** The input, its name for messages, and its size when it is a regular file (for the ETA). */
export async function openInput(
  file: string | undefined,
): Promise<{ input: Readable; label: string; totalBytes?: number }> {
  if (file === undefined || file === '-') {
    let totalBytes: number | undefined;
    try {
      const st = fstatSync(0); // stdin redirected from a file has a size; a pipe or terminal has none
      if (st.isFile()) totalBytes = st.size;
    } catch {
      // No size: progress shows no ETA.
    }
    return { input: process.stdin, label: 'stdin', totalBytes };
  }
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw errors.invalidArgument(`cannot read ${file}: ${(err as Error).message}`);
  }
  const st = await fh.stat().catch(() => undefined); // no size: progress shows no ETA
  return { input: fh.createReadStream(), label: file, totalBytes: st?.isFile() ? st.size : undefined };
}

/** Bytes taken from the input so far (file and socket streams both count them). */
export const bytesRead = (input: Readable) => (input as Readable & { bytesRead?: number }).bytesRead ?? 0;

const HELP = (kind: Kind) => {
  const example =
    kind === 'measure'
      ? '{"ts": 1714564800000, "tags": {"host": "h1"}, "fields": {"value": 1.5}}'
      : '{"ts": "2024-05-01T12:00:00Z", "element_id": "e1", "tags": {"host": "h1"}}';
  return `
Input: one JSON object per line (blank lines are skipped), e.g.
  ${example}
ts is epoch milliseconds or an RFC 3339 time with a zone.${kind === 'stream' ? " The element id may instead be given by the stream's element-id tag." : ''}

Every line of a batch is parsed before the batch is sent; a malformed line stops the command with
FILE:LINE and nothing of its batch is written (earlier batches stay written). Batch n carries the id
<run id>-<n>; the WAL stores a batch id once within its de-duplication window (2 min), so retries,
and a re-run on the same input with the same --run-id and --batch-size, do not duplicate
acknowledged batches. The summary's write token holds the latest WAL sequence per shard.

Exit status: 0 when every ${kind === 'measure' ? 'point' : 'element'} was written; 2 on any error, with the server's code and message and
how many ${kind === 'measure' ? 'points' : 'elements'} were acknowledged before it.`;
};

function writeCommand(parent: Command, kind: Kind): void {
  const noun = kind === 'measure' ? 'points' : 'elements';
  parent
    .command(kind)
    .description(`write ${kind} ${noun} from JSON lines in FILE or on stdin, in batches`)
    .argument('<GROUP/NAME>', `group and ${kind} name`)
    .argument('[FILE]', 'JSON-lines file; - or none reads stdin')
    .option('--batch-size <n>', `${noun} per write, 1–${MAX_POINTS_PER_BATCH}`, String(DEFAULT_BATCH_SIZE))
    .option(
      '--schema-revision <n>',
      `write only against this revision of the ${kind}: an older one fails with ExpiredSchema, a newer one than the liaison applied waits for it (then SchemaNotApplied)`,
    )
    .option(
      '--retries <n>',
      'retries of a batch that failed with Unavailable or DeadlineExceeded, with backoff',
      String(DEFAULT_RETRIES),
    )
    .option('--run-id <id>', 'prefix of the batch ids, 1–48 of A-Z, a-z, 0-9, _ and - (default: random)')
    .addHelpText('after', HELP(kind))
    .action((ref: string, file: string | undefined, o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const key = parseRef(kind, ref);
        const size = intOption(o.batchSize, '--batch-size', 1, MAX_POINTS_PER_BATCH)!;
        const retries = intOption(o.retries, '--retries', 0, MAX_RETRIES)!;
        const schemaRevision = intOption(o.schemaRevision, '--schema-revision', 0, Number.MAX_SAFE_INTEGER);
        const runId = o.runId ?? randomUUID().replaceAll('-', '');
        if (!RUN_ID.test(runId))
          throw errors.invalidArgument(`--run-id must be 1–48 of A-Z, a-z, 0-9, _ and -, got ${JSON.stringify(runId)}`);
        const { input, label, totalBytes } = await openInput(file);
        const p: Progress = { points: 0, batches: 0, lastLine: 0, tokens: [] };
        const shown = new WriteProgress(progressEnabled(out.json, process.stderr, process.env.TERM), {
          noun,
          totalBytes,
          stream: process.stderr,
          now: () => Date.now(),
        });
        let batch: Batch | undefined;
        try {
          for await (batch of readBatches(input, label, kind, size)) {
            const batchId = `${runId}-${p.batches + 1}`;
            const r = await send(
              await client(),
              kind,
              key.group,
              key.name,
              batch.rows,
              { schemaRevision, batchId },
              retries,
            );
            p.points += r.points;
            p.batches++;
            p.lastLine = batch.lines[batch.lines.length - 1]!;
            p.tokens.push(r.write_token);
            shown.update(bytesRead(input), p.points);
          }
        } catch (err) {
          throw failure(err, p, noun, label, runId, batch);
        } finally {
          shown.stop(); // before the summary or the error is printed
        }
        const token = mergeTokens(key.group, p.tokens);
        out.result(
          { points: p.points, batches: p.batches, run_id: runId, write_token: token, write_tokens: p.tokens },
          () => {
            const seqs = Object.entries(token.shards).map(([s, seq]) => `${s}→${seq}`);
            return `wrote ${p.points} ${noun} in ${batches(p.batches)}${seqs.length > 0 ? ` (write token: ${seqs.join(' ')})` : ''}`;
          },
        );
      }),
    );
}

/** Adds `write measure` and `write stream` to the program. */
export function registerWriteCommands(program: Command): void {
  const write = program
    .command('write')
    .description('write measure points or stream elements from JSON lines, or InfluxDB line protocol');
  writeCommand(write, 'measure');
  writeCommand(write, 'stream');
  writeLineCommand(write);
}
