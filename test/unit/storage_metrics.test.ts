/** What a shard's parts amount to (actors/data_shard/storage_metrics.ts `storageStats`), on fabricated part lists. */
import assert from 'node:assert/strict';
import { storageStats } from '../../actors/data_shard/storage_metrics.js';
import type { PartRef } from '../../storage/shard_load.js';

const DAY = 86_400_000;

function part(name: string, segment: number, seq: number, rows: number, bytes: number): PartRef {
  return {
    name,
    segmentStartMs: segment * DAY,
    seq,
    part: { metadata: { row_count: rows, data_bytes: bytes, index_bytes: 10 } },
  } as unknown as PartRef;
}

describe('storage stats of a shard', () => {
  it('sums parts, bytes and rows; counts segments with parts; nothing for no parts', () => {
    assert.deepEqual(storageStats([], 8), { parts: 0, bytes: 0, rows: 0, segments: 0, mergeBacklog: 0 });
    const parts = [part('cpu', 0, 1, 100, 1000), part('mem', 0, 2, 50, 500), part('cpu', 1, 1, 7, 70)];
    assert.deepEqual(storageStats(parts, 8), { parts: 3, bytes: 1600, rows: 157, segments: 2, mergeBacklog: 0 });
  });

  it('the merge backlog counts (segment, name) pairs over the bound, not parts', () => {
    const many = (name: string, segment: number, n: number) =>
      Array.from({ length: n }, (_, i) => part(name, segment, i + 1, 1, 1));
    // cpu in segment 0 is over a bound of 3 (4 parts); mem in segment 0 is at it; cpu in segment 1 over it.
    const parts = [...many('cpu', 0, 4), ...many('mem', 0, 3), ...many('cpu', 1, 5)];
    assert.equal(storageStats(parts, 3).mergeBacklog, 2);
    assert.equal(storageStats(parts, 4).mergeBacklog, 1);
    assert.equal(storageStats(parts, 5).mergeBacklog, 0);
  });
});
