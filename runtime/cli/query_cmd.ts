/**
 * `lockstep query measure|stream GROUP/NAME`: builds a query from flags (grammar in query_args.ts),
 * sends it to the query API page by page and prints a table, the reply as JSON, CSV or one JSON
 * line per row. Every option is parsed before connecting, so a bad one exits 2 with nothing sent.
 */
import type { Command } from 'commander';
import type { GroupRow, MeasureQuery, MeasureRow, QueryReply, StreamRow } from '../../transport/query_types.js';
import { systemClock } from '../clock.js';
import { DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT } from '../../transport/limits.js';
import { runCommand, table } from './output.js';
import { aggColumn, buildQuery, collectEach, collectList, MAX_CLI_LIMIT, type QueryCliOptions } from './query_args.js';
import { parseRef } from './schema_cmd.js';
import { csvColumns, csvLine, queryFormat, type QueryFormat } from './query_format.js';
import { errors } from '../../transport/errors.js';
import type { LockstepClient } from '../../transport/client.js';
import { rowsOfColumns } from '../../transport/row_columns.js';

type Kind = 'measure' | 'stream';

/** How a null or absent value is shown in a table. */
export const NULL_CELL = '-';

/** A time as RFC 3339 UTC with milliseconds (the number itself when it is no valid date). */
export function formatTime(ts: number): string {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString();
}

/** One table cell: null and absent as `-`, lists as `[a,b]`, the empty string as `""`. */
export function formatCell(v: unknown): string {
  if (v === null || v === undefined) return NULL_CELL;
  if (typeof v === 'string') return v === '' ? '""' : v;
  if (Array.isArray(v)) return `[${v.map((x) => String(x)).join(',')}]`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// The columns of one part of the rows: the asked-for ones in their order, then any others in
// the order they first appear, so a table's columns do not depend on which row came first.
function columns(preferred: readonly string[] | undefined, objects: readonly Record<string, unknown>[]): string[] {
  const cols = [...(preferred ?? [])];
  const seen = new Set(cols);
  for (const o of objects) {
    for (const k of Object.keys(o)) {
      if (!seen.has(k)) {
        seen.add(k);
        cols.push(k);
      }
    }
  }
  return cols;
}

/** The human form of a reply: a table of rows or groups, or one line saying there are none. */
export function renderReply(kind: Kind, reply: QueryReply<MeasureRow | StreamRow>, q: MeasureQuery): string[] {
  if (reply.groups !== undefined) return renderGroups(reply.groups, q);
  const rows = reply.rows ?? [];
  if (rows.length === 0) return ['(no rows)'];
  const tagCols = columns(
    q.tag_projection,
    rows.map((r) => r.tags ?? {}),
  );
  if (kind === 'stream') {
    const srows = rows as StreamRow[];
    return table(
      ['time', 'element_id', ...tagCols],
      srows.map((r) => [formatTime(r.ts), formatCell(r.element_id), ...tagCols.map((t) => formatCell(r.tags?.[t]))]),
    );
  }
  const mrows = rows as MeasureRow[];
  const fieldCols = columns(
    q.field_projection,
    mrows.map((r) => r.fields ?? {}),
  );
  return table(
    ['time', ...tagCols, ...fieldCols],
    mrows.map((r) => [
      formatTime(r.ts),
      ...tagCols.map((t) => formatCell(r.tags?.[t])),
      ...fieldCols.map((f) => formatCell(r.fields?.[f])),
    ]),
  );
}

function renderGroups(groups: readonly GroupRow[], q: MeasureQuery): string[] {
  if (groups.length === 0) return ['(no groups)'];
  const tagCols = columns(
    q.group_by,
    groups.map((g) => g.tags ?? {}),
  );
  const valueCols = columns(
    q.aggregations?.map(aggColumn),
    groups.map((g) => g.values ?? {}),
  );
  const bucketed = q.bucket !== undefined;
  return table(
    [...(bucketed ? ['time'] : []), ...tagCols, ...valueCols],
    groups.map((g) => [
      ...(bucketed ? [g.ts === undefined ? NULL_CELL : formatTime(g.ts)] : []),
      ...tagCols.map((t) => formatCell(g.tags?.[t])),
      ...valueCols.map((c) => formatCell(g.values?.[c])),
    ]),
  );
}

/** The stderr warning of a partial answer; undefined when no shard was left out. */
export function missingShardsWarning(group: string, missing: readonly number[] | undefined): string | undefined {
  if (!missing || missing.length === 0) return undefined;
  const s = missing.length === 1 ? 'shard' : 'shards';
  return `warning: partial answer: ${s} ${missing.join(', ')} of group ${group} had no live owner and ${missing.length === 1 ? 'is' : 'are'} left out`;
}

const HELP = (kind: Kind) => {
  const examples =
    kind === 'measure'
      ? `  lockstep query measure metrics/cpu --from -15m --where 'host in (h1,h2)' --fields value
  lockstep query measure metrics/cpu --from 2024-05-01T00:00:00Z --to 2024-05-02T00:00:00Z \\
      --group-by host --agg mean:value --agg max:value --top 5 --top-by max:value
  lockstep query measure metrics/cpu --from -1h --where 'core=0' --where 'host!="42"' --json`
      : `  lockstep query stream logs/app --from -30m --where 'level in (3,4)' --order desc --limit 20
  lockstep query stream logs/app --from now-2h --where-json '{"or": [{"tag": "svc", "op": "eq", "value": "api"}, {"tag": "level", "op": "eq", "value": 4}]}'
  lockstep query stream logs/app --token "$(lockstep write stream logs/app in.jsonl --json)" --json`;
  return `
Times (--from, --to): epoch milliseconds (1714564800000), RFC 3339 with a zone
(2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00), now, or now minus a count of s, m, h or d
(-30s, -15m, -2h, -7d; also written now-15m). The range is half-open, from ≤ ts < to.

--where EXPR (repeatable; every one must hold):
  tag=value   tag!=value   tag in (v1,v2,…)   tag not in (v1,v2,…)
A bare value of digits (e.g. 42 or -7) is an integer, for int tags; any other bare value is a
string. A quoted value ("42" or '42') is always a string; quote values that are empty or hold
spaces, commas, parentheses or quotes (inside quotes \\ escapes the next character). Bare digits
with a leading zero (007) are refused as ambiguous. On a list tag, = and in mean "contains".
--where-json takes a criteria tree verbatim (a condition {"tag", "op": eq|ne|in|not_in, "value"},
or {"and": [...]} / {"or": [...]}); it is ANDed with the --where conditions.
${
  kind === 'measure'
    ? `
Aggregation: --agg FN:FIELD or --agg count (FN one of count, sum, min, max, mean, first, last,
rate, or pN for percentile N such as p50, p99, p99.9 — within 1% of the true value; rate is a
counter's rise per second over the bucket or range, resets handled; repeatable or comma-separated),
grouped by the --group-by tags (none: one group of everything). --top N keeps the
N groups with the largest (--top-order desc, default) or smallest (asc) --top-by FN:FIELD, by
default the first --agg; without --group-by the groups are the series. With --agg or --top the
reply holds groups, else rows. --every DURATION splits the groups into time buckets aligned to the
epoch (or to --every-offset): one group per (tags, bucket), with the bucket's start as its time,
in --order within each group; --fill null lists empty buckets too. A top-N then ranks the
(tags, bucket) groups.
`
    : ''
}
Output: a table of ${
    kind === 'measure'
      ? 'rows (time as RFC 3339 UTC, tag columns, field columns) or groups (tag\ncolumns, then one column per aggregation: fn(field), or count)'
      : 'rows (time as RFC 3339 UTC, element_id, tag columns)'
  }. A null or absent value shows as ${NULL_CELL}.
--json (or --format json) prints the reply (${kind === 'measure' ? 'rows or groups' : 'rows'}, has_more, cursor, missing_shards, schema_revision)
for exact values; --format ndjson prints one JSON ${kind === 'measure' ? 'row or group' : 'row'} per line and --format csv a header line then
one line per ${kind === 'measure' ? 'row or group' : 'row'}, both as pages arrive. Answers of any size come page by page (each page one
message); --limit (default ${DEFAULT_QUERY_LIMIT}) caps the total, --all takes everything. When more remain, stderr says so
with the --cursor that continues the answer.
With --allow-partial, shards without a live owner are left out and named in a warning on stderr.

Exit status: 0 on an answer (also an empty or partial one); 2 on a bad option (nothing is sent) or
an error reply, printed as error: <Code>: <message>.

Examples:
${examples}`;
};

function queryCommand(parent: Command, kind: Kind): void {
  const c = parent
    .command(kind)
    .description(
      `query ${kind === 'measure' ? 'measure points (rows or aggregated groups)' : 'stream elements'} in a time range`,
    )
    .argument('<GROUP/NAME>', `group and ${kind} name`)
    .option('--from <time>', 'start of the range, inclusive (default: one hour before --to)')
    .option('--to <time>', 'end of the range, exclusive (default: now)')
    .option('--where <expr>', 'a tag condition, repeatable (ANDed); grammar below', collectEach)
    .option('--where-json <json>', 'a criteria tree as JSON (for or-trees), ANDed with --where')
    .option('--tags <tags>', 'tags returned with each row, comma-separated (default: every tag)', collectList);
  if (kind === 'measure') {
    c.option('--fields <fields>', 'fields returned with each row, comma-separated (default: every field)', collectList)
      .option(
        '--group-by <tags>',
        'tags whose values form the groups, comma-separated (needs --agg or --top)',
        collectList,
      )
      .option(
        '--agg <fn:field>',
        'an aggregation: count, or count|sum|min|max|mean|first|last|rate|pN:FIELD (pN: percentile N, e.g. p99); repeatable',
        collectList,
      )
      .option('--top <n>', 'keep the top N groups')
      .option('--top-by <fn:field>', 'what --top ranks by (default: the first --agg)')
      .option('--top-order <order>', 'desc keeps the largest (default), asc the smallest')
      .option('--every <duration>', 'time buckets: one group per bucket (and --group-by tags), e.g. 1m, 5m, 1h')
      .option('--every-offset <duration>', 'shift bucket starts from the epoch, e.g. 2h for days from 02:00 UTC')
      .option('--fill <mode>', 'null: show empty buckets too, with - values (default none)');
  }
  c.option('--order <order>', 'time order of rows: asc (default) or desc')
    .option(
      '--limit <n>',
      `${kind === 'measure' ? 'rows (or groups)' : 'rows'} returned at most in all, 1–${MAX_CLI_LIMIT} (default ${DEFAULT_QUERY_LIMIT}), fetched in pages of up to ${MAX_QUERY_LIMIT}`,
    )
    .option('--offset <n>', `${kind === 'measure' ? 'rows (or groups)' : 'rows'} skipped first (default 0)`)
    .option('--token <json>', 'read your writes: a write token, or the whole reply of lockstep write --json')
    .option('--allow-partial', 'answer from the shards with a live owner instead of failing with Unavailable')
    .option('--schema-revision <n>', `query only against this revision of the ${kind} (older fails with ExpiredSchema)`)
    .option(
      '--timeout <duration>',
      'how long the query may take in total, e.g. 500ms, 5s or bare ms (server default 10s)',
    )
    .option(
      '--all',
      `every ${kind === 'measure' ? 'row (or group)' : 'row'} of the answer, fetched page by page (not with --limit)`,
    )
    .option('--cursor <cursor>', 'continue an answer: the cursor a previous --json reply gave (with the same query)')
    .option(
      '--format <format>',
      'table (default), json (as --json), csv or ndjson; csv and ndjson print pages as they arrive',
    )
    .addHelpText('after', HELP(kind))
    .action((ref: string, o: QueryCliOptions & PagingOptions, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const key = parseRef(kind, ref);
        const q = buildQuery(kind, key.group, key.name, o, systemClock.now());
        const format = queryFormat(o.format, out.json);
        if (o.all && o.limit !== undefined) throw errors.invalidArgument('--all and --limit: give one of them');
        if (o.cursor !== undefined) q.cursor = o.cursor;
        const total = o.all ? Infinity : (q.limit ?? DEFAULT_QUERY_LIMIT);
        await runPaged(await client(), kind, q, total, format, (reply) =>
          out.result(reply, () => renderReply(kind, reply, q)),
        );
      }),
    );
}

type PagingOptions = { all?: boolean; cursor?: string; format?: string };

/**
 * Asks page after page (each within the server's limit, the next after the previous one's cursor)
 * until `total` rows or groups or the end of the answer. csv and ndjson go out as pages arrive; the
 * table and json come at the end, as one reply. When rows remain, stderr says so and how to go on.
 */
async function runPaged(
  lc: LockstepClient,
  kind: Kind,
  q: MeasureQuery,
  total: number,
  format: QueryFormat,
  finish: (reply: QueryReply<MeasureRow | StreamRow>) => void,
): Promise<void> {
  const kept: (MeasureRow | StreamRow | GroupRow)[] = [];
  let count = 0;
  let columns: string[] | undefined;
  let warned = false;
  let last: QueryReply<MeasureRow | StreamRow>;
  // Raw rows travel as columns (far cheaper on both sides) and are printed as rows.
  const raw = q.aggregations === undefined && q.top === undefined;
  for (;;) {
    const page = { ...q, limit: Math.min(total - count, MAX_QUERY_LIMIT), ...(raw ? { columns: true } : {}) };
    last = kind === 'measure' ? await lc.queryMeasure(page) : await lc.queryStream(page);
    const warning = missingShardsWarning(q.group, last.missing_shards);
    if (warning !== undefined && !warned) process.stderr.write(`${warning}\n`);
    warned ||= warning !== undefined;
    const items: (MeasureRow | StreamRow | GroupRow)[] =
      last.rows ?? (last.columns ? rowsOfColumns(kind, last.columns) : last.groups) ?? [];
    count += items.length;
    if (format === 'ndjson') for (const i of items) process.stdout.write(`${JSON.stringify(i)}\n`);
    else if (format === 'csv') {
      const cols = (columns ??= csvColumns(items, q));
      if (count === items.length) process.stdout.write(`${cols.join(',')}\n`);
      for (const i of items) process.stdout.write(`${csvLine(i, cols)}\n`);
    } else kept.push(...items);
    if (!last.has_more || last.cursor === undefined || count >= total) break;
    q = { ...q, cursor: last.cursor };
    delete q.offset; // the cursor carries the position now
  }
  if (last.has_more) {
    const noun = last.groups !== undefined ? 'groups' : 'rows';
    process.stderr.write(
      `note: more ${noun} follow these ${count}: raise --limit, give --all, or continue with --cursor ${last.cursor}\n`,
    );
  }
  if (format === 'table' || format === 'json') {
    const { columns: _, ...reply } = last;
    if (last.groups !== undefined) reply.groups = kept as GroupRow[];
    else reply.rows = kept as (MeasureRow | StreamRow)[];
    finish(reply);
  }
}

/** Adds `query measure` and `query stream` to the program. */
export function registerQueryCommands(program: Command): void {
  const query = program.command('query').description('query measure points or stream elements in a time range');
  queryCommand(query, 'measure');
  queryCommand(query, 'stream');
}
