/**
 * Paging a query's answer (pure): a cursor says where the next page starts, and names the query
 * it belongs to by a fingerprint of everything that shapes the answer, so it cannot be applied to
 * another query. Raw rows page by key — the next page starts after the last row's (ts, series id,
 * element id) in the query's order — so a cursor stays valid while the data does: rows written
 * meanwhile after the key appear, rows before it do not shift the page. Groups, computed whole,
 * page by offset.
 */
import { errors } from '../../transport/errors.js';

/** Where a row sits in the query order. */
export interface RowKey {
  ts: number;
  sid: string;
  eid: string | null;
}

/** A cursor's content. */
export type CursorState = { fp: string; after: RowKey } | { fp: string; offset: number };

/** The query properties that shape an answer (paging ones excluded). */
const SHAPING = [
  'group',
  'name',
  'from',
  'to',
  'criteria',
  'tag_projection',
  'field_projection',
  'order',
  'group_by',
  'aggregations',
  'top',
  'bucket',
  'bucket_offset',
  'fill',
] as const;

/** A fingerprint of a query body's shaping properties (FNV-1a over their JSON, hex). */
export function queryFingerprint(body: Record<string, unknown>): string {
  const text = JSON.stringify(SHAPING.map((k) => body[k] ?? null));
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The opaque text of a cursor. */
export function encodeCursor(c: CursorState): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

/** Reads a cursor given with a query of fingerprint `fp`; `InvalidArgument` when it is malformed or another query's. */
export function decodeCursor(text: unknown, fp: string): CursorState {
  const bad = (m: string) => errors.invalidArgument(`cursor: ${m}`, { field: 'cursor' });
  if (typeof text !== 'string' || text.length === 0 || text.length > 4096)
    throw bad('must be the cursor string a previous reply gave');
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('is not a cursor a reply gave (malformed)');
  }
  if (!c || typeof c !== 'object' || typeof c.fp !== 'string') throw bad('is not a cursor a reply gave (malformed)');
  if (c.fp !== fp)
    throw bad('belongs to another query: page with the same group, name, range, criteria, order and aggregations');
  if ('offset' in c) {
    if (!Number.isSafeInteger(c.offset) || (c.offset as number) < 0) throw bad('is malformed (offset)');
    return { fp, offset: c.offset as number };
  }
  const a = c.after as Record<string, unknown> | undefined;
  if (!a || !Number.isFinite(a.ts) || typeof a.sid !== 'string' || !(a.eid === null || typeof a.eid === 'string'))
    throw bad('is malformed (row key)');
  return { fp, after: { ts: a.ts as number, sid: a.sid, eid: a.eid as string | null } };
}

/** Whether a row at (ts, sid, eid) comes after `k` in the given order. */
export function isAfter(k: RowKey, ts: number, sid: string, eid: string | null, desc: boolean): boolean {
  let d = ts - k.ts;
  if (d === 0) d = sid < k.sid ? -1 : sid > k.sid ? 1 : 0;
  if (d === 0 && eid !== null && k.eid !== null) d = eid < k.eid ? -1 : eid > k.eid ? 1 : 0;
  return desc ? d < 0 : d > 0;
}
