/**
 * The shard query request (DESIGN §7): what the liaison sends a shard owner on
 * `P.shard.<group>.<shard>.query`, and the reply page terms it adds when that shard is the only one
 * a query asks.
 */
import type { Encoding } from '../../transport/codec.js';
import { isColumnsForm, type ColumnsForm } from '../../transport/query_types.js';
import type { QueryPlan } from './plan.js';

/** What the liaison sends a shard on `P.shard.<group>.<shard>.query`. */
export interface ShardQueryRequest {
  plan: QueryPlan;
  /** The resource's mod_revision the liaison planned against. */
  revision: number;
  /** The write token's sequence for this shard, if any. */
  min_applied: number | null;
  /** The shard's budget for gate, token wait and run (ms). */
  timeout_ms: number;
  /**
   * Set when this shard is the only one asked: it answers with the client's reply page itself,
   * which the liaison passes on without decoding it.
   */
  page?: PageRequest;
}

/**
 * A request that only asks whether a shard has a live owner: the liaison sends it beside a query it
 * forwarded (whose answer goes to the client), since only a request's publisher learns that nobody
 * listens. An owner answers `{}` at once.
 */
export interface ShardProbe {
  probe: true;
}

/** True when `b` is a ShardProbe. */
export const isShardProbe = (b: unknown): b is ShardProbe =>
  typeof b === 'object' && b !== null && (b as ShardProbe).probe === true;

/** What a shard needs to build the client's reply page itself (the liaison's `replyPage` arguments). */
export interface PageRequest {
  schema_revision: number;
  fingerprint: string;
  /** The page's size limit in bytes (the server's message limit, less room for headers). */
  limit: number;
  encoding: Encoding;
  columns: ColumnsForm;
}

/** True when `p` is a well-formed PageRequest. */
export function isPageRequest(p: unknown): p is PageRequest {
  if (!p || typeof p !== 'object') return false;
  const q = p as Partial<PageRequest>;
  return (
    typeof q.schema_revision === 'number' &&
    typeof q.fingerprint === 'string' &&
    typeof q.limit === 'number' &&
    (q.encoding === 'msgpack' || q.encoding === 'json') &&
    isColumnsForm(q.columns)
  );
}
