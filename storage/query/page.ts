/**
 * Answers of any size (pure): a page is cut to fit one NATS message, and says so. The liaison turns
 * a merged answer into the reply — `has_more` and, when more follow, the `cursor` of the next page —
 * cutting rows or groups until the encoded reply fits; a shard cuts its own rows the same way and
 * marks them `truncated` (merge.ts then ends the page where that shard's rows end).
 */
import { encode, type Encoding } from '../../transport/codec.js';
import { Code, LockstepError } from '../../transport/errors.js';
import type { ColumnsForm, QueryReply } from '../../transport/query_types.js';
import { encodeCursor } from './cursor.js';
import { mergeShardResults, type MergedResult } from './merge.js';
import type { QueryPlan } from './plan.js';
import type { PageRequest } from './shard_request.js';
import type { ShardResult } from './shard_exec.js';
import { sliceRows, type ShardRows } from './shard_rows.js';
import { rowColumns, rowKey, rowObjects } from './row_answer.js';

/** Keeps the first `n` items while `size(n)` exceeds `limit`, shrinking by the measured ratio; the n kept. */
function fit(total: number, limit: number, size: (n: number) => number): number {
  let n = total;
  let bytes = size(n);
  while (bytes > limit && n > 0) {
    n = Math.min(n - 1, Math.floor((n * limit * 0.95) / bytes));
    bytes = size(n);
  }
  return n;
}

/**
 * The reply of a merged answer, within `limit` bytes in `encoding`, and its encoding (sent as it
 * is); `ResourceExhausted` when not even one row fits. Raw rows go as `columns` when `columns`.
 */
export function replyPage(
  merged: MergedResult,
  base: { missing_shards: number[]; schema_revision: number },
  fingerprint: string,
  limit: number,
  encoding: Encoding,
  columns: ColumnsForm = false,
): { reply: QueryReply; bytes: Uint8Array } {
  const build = (n: number): QueryReply => {
    if ('rows' in merged) {
      const m = merged.rows;
      const cut = n < m.part.length;
      const hasMore = merged.has_more || cut;
      return {
        ...(columns ? { columns: rowColumns(m, n, encoding, columns === 'packed') } : { rows: rowObjects(m, n) }),
        has_more: hasMore,
        ...(hasMore && n > 0 ? { cursor: encodeCursor({ fp: fingerprint, after: rowKey(m, n - 1) }) } : {}),
        ...base,
      };
    }
    const cut = n < merged.groups.length;
    const hasMore = merged.has_more || cut;
    return {
      groups: merged.groups.slice(0, n),
      has_more: hasMore,
      ...(hasMore ? { cursor: encodeCursor({ fp: fingerprint, offset: merged.offset + n }) } : {}),
      ...base,
    };
  };
  const items = 'rows' in merged ? merged.rows.part.length : merged.groups.length;
  let last: { n: number; reply: QueryReply; bytes: Uint8Array } | undefined;
  const n = fit(items, limit, (k) => {
    const reply = build(k);
    last = { n: k, reply, bytes: encode(reply, encoding) };
    return last.bytes.length;
  });
  if (n === 0 && items > 0)
    throw new LockstepError(
      Code.ResourceExhausted,
      `one ${'rows' in merged ? 'row' : 'group'} of the answer exceeds the message limit of ${limit} bytes`,
    );
  // The last size measured is the page's (fit stops on it): built and encoded once.
  if (last?.n === n) return { reply: last.reply, bytes: last.bytes };
  const reply = build(n);
  return { reply, bytes: encode(reply, encoding) };
}

/** Header of a shard's reply that is the client's reply page (ShardQueryRequest.page), not its result. */
export const SHARD_PAGE_HEADER = 'Lockstep-Reply-Page';

/**
 * The client's reply page built from the answer of the only shard a query asked: the same page the
 * liaison would build, so the liaison passes it on without decoding it (one encoding of the
 * answer instead of three).
 */
export function singleShardPage(plan: QueryPlan, result: ShardResult, page: PageRequest): Uint8Array {
  const merged = mergeShardResults(plan, [result]);
  const base = { missing_shards: [], schema_revision: page.schema_revision };
  return replyPage(merged, base, page.fingerprint, page.limit, page.encoding, page.columns).bytes;
}

/** A shard's rows cut to fit `limit` bytes (msgpack), marked `truncated` when cut. */
export function fitShardRows(rows: ShardRows, limit: number): ShardRows {
  const slice = (n: number) => sliceRows(rows, n);
  if (encode({ rows }).length <= limit) return rows;
  const n = fit(rows.ts.length, limit, (k) => encode({ rows: slice(k) }).length);
  if (n === 0) throw new LockstepError(Code.ResourceExhausted, `one row exceeds the message limit of ${limit} bytes`);
  return slice(n);
}
