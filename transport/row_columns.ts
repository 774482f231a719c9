/**
 * The rows of a `columns` reply as the row objects of a `rows` reply (clients that asked for
 * columns on the wire and want rows in hand; `LockstepClient.pages` uses it).
 */
import type { WriteTagValue } from './api_types.js';
import { plainColumns } from './packed_columns.js';
import type { MeasureRow, RowColumns, StreamRow } from './query_types.js';

/** Row objects of `columns` (packed or not): a missing float (NaN in msgpack, null in JSON) is null. */
export function rowsOfColumns(kind: 'measure' | 'stream', columns: RowColumns): (MeasureRow | StreamRow)[] {
  const c = plainColumns(columns);
  const tagNames = Object.keys(c.tags);
  const fieldNames = Object.keys(c.fields);
  const tagCols = tagNames.map((t) => c.tags[t]!);
  return Array.from(c.ts, (ts, i) => {
    const tags: Record<string, WriteTagValue> = {};
    for (let j = 0; j < tagNames.length; j++) tags[tagNames[j]!] = tagCols[j]!.values[tagCols[j]!.codes[i]!]!;
    if (kind === 'stream') return { ts, element_id: c.element_id![i]!, tags };
    const fields: Record<string, number | null> = {};
    for (const f of fieldNames) {
      const v = c.fields[f]![i];
      fields[f] = v === null || v === undefined || Number.isNaN(v) ? null : v;
    }
    return { ts, tags, fields };
  });
}
