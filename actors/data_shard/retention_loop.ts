/**
 * Retention of one shard owner (DESIGN §8): which ttl applies, and one pass that drops the shard's
 * expired segments. The shard actor runs a pass at open and then every `retentionIntervalMs`,
 * through its mailbox so a pass never interleaves with an apply or a flush.
 */
import type { Logger } from '../../runtime/log.js';
import type { SchemaCache } from '../../runtime/schema_cache.js';
import type { RetentionResult } from '../../storage/retention.js';
import type { ShardStore } from '../../storage/shard_store.js';
import type { Group } from '../../transport/schema_types.js';
import { ttlMs } from '../../transport/schema_types.js';

/** Default interval between retention passes of a shard (ms): segments are hours or days long. */
export const DEFAULT_RETENTION_INTERVAL_MS = 60_000;

/** The group's ttl in ms as this node applied it last (a ttl update takes effect at the next pass). */
export function currentTtlMs(cache: SchemaCache, opened: Group): number {
  const stored = cache.get({ kind: 'group', group: opened.name, name: '' })?.resource as Group | undefined;
  return ttlMs(stored ?? opened);
}

/** Drops the shard's expired segments and logs what went. */
export async function retentionPass(
  store: ShardStore,
  ttl: number,
  log: Logger,
  where: { group: string; shard: number },
): Promise<RetentionResult> {
  const r = await store.dropExpired(ttl);
  if (r.dropped.length > 0 || r.leftovers.length > 0) {
    log.info(
      {
        ...where,
        ttl_ms: ttl,
        dropped: r.dropped.map((s) => ({
          segment: s.name,
          start: new Date(s.startMs).toISOString(),
          end: new Date(s.endMs).toISOString(),
        })),
        leftovers: r.leftovers,
      },
      `retention dropped ${r.dropped.length} expired segment(s)`,
    );
  }
  return r;
}
