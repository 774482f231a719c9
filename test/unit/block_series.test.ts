/**
 * The aggregation's block-by-block way (storage/query/block_series.ts): which series may skip the
 * merged read. The answers themselves are checked against the reference model in
 * query_engine.test.ts and block_stats.test.ts.
 */
import assert from 'node:assert/strict';
import type { BlockRows } from '../../storage/block.js';
import { splitAlone } from '../../storage/query/block_series.js';
import type { ScanPlan } from '../../storage/scan_plan.js';
import { mulberry32, randInt } from '../harness/encoding_harness.js';

const block = (ordinal: number, seriesId: string, minTs: number, maxTs: number) => ({
  ordinal,
  seriesId,
  minTs,
  maxTs,
  rowCount: 10,
  offset: ordinal * 100,
  length: 100,
  crc: 0,
});

const schema = { fields: [{ name: 'value', type: 'float' as const }], tags: [] };
// A merged part (age 1) holds rows older than the part flushed before it (age 0).
const scan: ScanPlan = {
  name: 'cpu',
  range: { minTs: 0, maxTs: 1000 },
  parts: [
    {
      dataPath: 'p0/data',
      schema,
      age: 0,
      entries: [block(0, 'a', 500, 600), block(1, 'b', 100, 300), block(2, 'c', 700, 800)],
    },
    {
      dataPath: 'p1/data',
      schema,
      age: 1,
      entries: [block(0, 'a', 100, 400), block(1, 'b', 300, 350), block(2, 'c', 0, 90)],
    },
  ],
};
const ids = (p: ScanPlan) => p.parts.map((x) => x.entries.map((e) => e.seriesId));

describe('block series', () => {
  it('splitting: series with disjoint blocks and no memtable rows go block by block, parts keep their places', () => {
    const mem = new Map<string, BlockRows>([['c', { timestamps: Float64Array.of(900), fields: {}, tags: {} }]]);
    const split = splitAlone(scan, mem, false);
    // a: disjoint (100–400, 500–600); b: 300 is in both blocks; c: rows in the memtable.
    assert.deepEqual(ids(split.alone), [['a'], ['a']]);
    assert.deepEqual(ids(split.merged), [
      ['b', 'c'],
      ['b', 'c'],
    ]);
    assert.deepEqual(ids(splitAlone(scan, new Map(), false).alone), [
      ['a', 'c'],
      ['a', 'c'],
    ]);
  });

  it("splitting: 500 random plans split as sorting each series' blocks by start says", () => {
    const rng = mulberry32(0x5b117);
    for (let round = 0; round < 500; round++) {
      const sids = ['a', 'b', 'c', 'd', 'e'].slice(0, randInt(rng, 1, 5));
      const parts = Array.from({ length: randInt(rng, 1, 4) }, (_, age) => {
        const entries = [];
        for (const sid of sids) {
          let t = randInt(rng, 0, 500);
          for (let k = randInt(rng, 0, 3); k > 0; k--) {
            const lo = t + randInt(rng, 0, 30);
            entries.push(block(entries.length, sid, lo, lo + randInt(rng, 0, 60)));
            t = lo + randInt(rng, 0, 100);
          }
        }
        return { dataPath: `p${age}/data`, schema, age, entries };
      });
      const plan: ScanPlan = { name: 'cpu', range: { minTs: 0, maxTs: 2000 }, parts };
      const mem = new Map<string, BlockRows>(
        sids.filter(() => rng() < 0.2).map((sid) => [sid, { timestamps: Float64Array.of(1), fields: {}, tags: {} }]),
      );
      const want = new Set(
        sids.filter((sid) => {
          if (mem.has(sid)) return false;
          const spans = parts
            .flatMap((p) => p.entries.filter((e) => e.seriesId === sid))
            .sort((x, y) => x.minTs - y.minTs);
          return spans.every((e, k) => k === 0 || e.minTs > spans[k - 1]!.maxTs);
        }),
      );
      const split = splitAlone(plan, mem, false);
      assert.deepEqual(
        ids(split.alone),
        parts.map((p) => p.entries.filter((e) => want.has(e.seriesId)).map((e) => e.seriesId)),
      );
      assert.deepEqual(
        ids(split.merged),
        parts.map((p) => p.entries.filter((e) => !want.has(e.seriesId)).map((e) => e.seriesId)),
      );
    }
  });

  it('splitting: rows keyed by an element id as well always take the merged read', () => {
    const split = splitAlone(scan, new Map(), true);
    assert.deepEqual(ids(split.alone), [[], []]);
    assert.deepEqual(ids(split.merged), ids(scan));
  });
});
