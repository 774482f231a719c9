/**
 * Time windows of a query held to a row budget (storage/query/shard_run.ts), as pure functions:
 * the windows cover the range exactly, in order, each expected to hold at most the budget (or one
 * millisecond wide), and a window's memtable rows are exactly those inside it.
 */
import assert from 'node:assert/strict';
import { memIn, planWindows, rowsIn, type RowSpan } from '../../storage/query/shard_run.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';

describe('query windows', () => {
  const rnd = mulberry32(SEED ^ 0x3141);

  it('windows cover the range in order, each within the budget or one ms wide', () => {
    for (let k = 0; k < 300; k++) {
      const spans: RowSpan[] = Array.from({ length: Math.floor(rnd() * 40) }, () => {
        const minTs = Math.floor(rnd() * 10_000);
        return {
          minTs,
          maxTs: minTs + Math.floor(rnd() * (rnd() < 0.2 ? 1 : 3000)),
          rows: 1 + Math.floor(rnd() * 512),
        };
      });
      const range = { minTs: Math.floor(rnd() * 2000), maxTs: 8000 + Math.floor(rnd() * 4000) };
      const budget = 1 + Math.floor(rnd() * 2000);
      const ws = planWindows(spans, range, budget);
      const total = spans.reduce((n, s) => n + rowsIn(s, range.minTs, range.maxTs), 0);
      if (total <= budget) assert.deepEqual(ws, [range]);
      assert.equal(ws[0]!.minTs, range.minTs);
      assert.equal(ws.at(-1)!.maxTs, range.maxTs);
      ws.forEach((w, i) => {
        assert.ok(w.minTs <= w.maxTs);
        if (i > 0) assert.equal(w.minTs, ws[i - 1]!.maxTs + 1, `window ${i} follows the previous one`);
        const held = spans.reduce((n, s) => n + rowsIn(s, w.minTs, w.maxTs), 0);
        assert.ok(held <= budget || w.minTs === w.maxTs, `window ${i} holds ${held} > ${budget}`);
      });
    }
  });

  it("a window's memtable rows are exactly the rows inside it", () => {
    for (let k = 0; k < 300; k++) {
      const n = Math.floor(rnd() * 50);
      const ts = Float64Array.from({ length: n }, () => Math.floor(rnd() * 100)).sort();
      const rows = { timestamps: ts, fields: { v: ts.map((t) => t * 2) }, tags: { h: [...ts].map((t) => `h${t}`) } };
      const lo = Math.floor(rnd() * 100);
      const w = { minTs: lo, maxTs: lo + Math.floor(rnd() * 30) };
      const got = memIn(new Map([['s', rows]]), w).get('s');
      const want = [...ts].filter((t) => t >= w.minTs && t <= w.maxTs);
      assert.deepEqual(got ? [...got.timestamps] : [], want);
      if (got)
        assert.deepEqual(
          got.tags.h,
          want.map((t) => `h${t}`),
        );
    }
  });
});
