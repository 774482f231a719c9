/** The seeded generator the encoding property tests use. */
import assert from 'node:assert/strict';
import { mulberry32 } from '../harness/encoding_harness.js';

describe('encoding harness', () => {
  it('encoding harness - mulberry32 is deterministic per seed and spreads over [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(
      xs,
      Array.from({ length: 1000 }, () => b()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.ok(Math.min(...xs) < 0.01 && Math.max(...xs) > 0.99);
    assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, mulberry32(43)));
  });
});
