/**
 * The `--format` outputs of `lockstep query` besides the table (query_cmd.ts): `json` (the reply,
 * pages put back together), `ndjson` (one row or group per line, written as pages arrive) and `csv`
 * (RFC 4180, a header line first). Pure functions over the rows of a page.
 */
import { errors } from '../../transport/errors.js';
import type { GroupRow, MeasureQuery, MeasureRow, StreamRow } from '../../transport/query_types.js';

/** The output formats. */
export const QUERY_FORMATS = ['table', 'json', 'csv', 'ndjson'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

/** `--format`, or json under `--json`; `InvalidArgument` for an unknown one or a clash. */
export function queryFormat(flag: string | undefined, json: boolean): QueryFormat {
  if (flag === undefined) return json ? 'json' : 'table';
  const f = flag.trim().toLowerCase();
  if (!(QUERY_FORMATS as readonly string[]).includes(f))
    throw errors.invalidArgument(`--format must be one of ${QUERY_FORMATS.join(', ')}, got ${JSON.stringify(flag)}`);
  if (json && f !== 'json') throw errors.invalidArgument(`--json and --format ${f} ask for two outputs: give one`);
  return f as QueryFormat;
}

type Item = MeasureRow | StreamRow | GroupRow;

/** One CSV cell: lists and objects as JSON, null as empty; quoted when it holds , " or a line break. */
export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The CSV columns of a query's answer, from its first page: time, element id, tags, fields or values. */
export function csvColumns(first: readonly Item[], q: MeasureQuery): string[] {
  const keys = (pick: (i: Item) => Record<string, unknown> | undefined, preferred?: readonly string[]) => {
    const out = [...(preferred ?? [])];
    for (const i of first) for (const k of Object.keys(pick(i) ?? {})) if (!out.includes(k)) out.push(k);
    return out;
  };
  const grouped = first.length > 0 && 'values' in first[0]!;
  const time = !grouped || q.bucket !== undefined ? ['time'] : [];
  const eid = first.length > 0 && 'element_id' in first[0]! ? ['element_id'] : [];
  const tags = keys((i) => i.tags, grouped ? q.group_by : q.tag_projection).map((t) => `tag.${t}`);
  const values = grouped
    ? keys((i) => (i as GroupRow).values)
    : keys((i) => (i as MeasureRow).fields, q.field_projection).map((f) => `field.${f}`);
  return [...time, ...eid, ...tags, ...values];
}

/** One CSV line of `item` in `columns`. */
export function csvLine(item: Item, columns: readonly string[]): string {
  return columns
    .map((c) => {
      if (c === 'time') return csvCell(item.ts === undefined ? null : new Date(item.ts).toISOString());
      if (c === 'element_id') return csvCell((item as StreamRow).element_id);
      if (c.startsWith('tag.')) return csvCell(item.tags?.[c.slice(4)]);
      if (c.startsWith('field.')) return csvCell((item as MeasureRow).fields?.[c.slice(6)]);
      return csvCell((item as GroupRow).values?.[c]);
    })
    .join(',');
}
