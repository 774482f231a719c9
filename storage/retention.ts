/**
 * Retention (DESIGN §8): drops whole segments older than the group's ttl. A segment is dropped only
 * when its exclusive end is at or before `now - ttl`, so it cannot hold a point still inside the
 * window. Time comes from the injected clock only.
 *
 * Crash safety: a segment is first renamed to `seg-<start>.dropping` (atomic, and invisible to
 * listSegments from then on), then removed. A crash in between leaves a leftover that the next
 * retention pass or the next open removes; a crash before the rename leaves the segment whole.
 */
import { assert } from '../runtime/assert.js';
import { join } from 'node:path';
import type { Clock } from '../runtime/clock.js';
import type { StorageFs } from './fs.js';
import { DROPPING_SUFFIX, listSegments, removeSegmentLeftovers, type SegmentEntry } from './segment.js';

/** What one retention pass did in a shard. */
export interface RetentionResult {
  /** The segments dropped, oldest first. */
  dropped: SegmentEntry[];
  /** Names of `.dropping` leftovers of an earlier crashed pass that were removed. */
  leftovers: string[];
}

/** Removes the segments of `shardDir` whose end is at or before `clock.now() - ttlMs`. */
export async function dropExpiredSegments(
  fs: StorageFs,
  shardDir: string,
  ttlMs: number,
  clock: Clock,
): Promise<RetentionResult> {
  assert(Number.isSafeInteger(ttlMs) && ttlMs > 0, `retention ttlMs is a positive integer, got ${ttlMs}`);
  // Only `.dropping` leftovers: a `.creating` one may belong to a segment being created right now.
  const leftovers = await removeSegmentLeftovers(fs, shardDir, true);
  const cutoffMs = clock.now() - ttlMs;
  const dropped: SegmentEntry[] = [];
  for (const seg of await listSegments(fs, shardDir)) {
    // Each segment on its own end (no early exit): after a segment_interval change, ends are not
    // guaranteed to rise with starts.
    if (seg.endMs > cutoffMs) continue;
    const dropping = join(shardDir, `${seg.name}${DROPPING_SUFFIX}`);
    await fs.rename(seg.dir, dropping);
    await fs.syncDir(shardDir);
    await fs.rm(dropping);
    dropped.push(seg);
  }
  return { dropped, leftovers };
}
