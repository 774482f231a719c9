/** Where the WAL of a shard may be trimmed (actors/data_shard/wal_trim.ts), as a pure function. */
import assert from 'node:assert/strict';
import { trimDecision, type FloorSample } from '../../actors/data_shard/wal_trim.js';
import { mulberry32 } from '../harness/random.js';

describe('WAL trim decision', () => {
  it('trim - only through a floor seen at least the window ago; the samples kept start there', () => {
    const s: FloorSample[] = [
      { atMs: 0, floor: 10 },
      { atMs: 30_000, floor: 50 },
      { atMs: 60_000, floor: 90 },
    ];
    assert.deepEqual(trimDecision(s, 65_000, 60_000), { trimThrough: 10, keep: s });
    assert.deepEqual(trimDecision(s, 95_000, 60_000), { trimThrough: 50, keep: s.slice(1) });
    assert.deepEqual(trimDecision(s, 59_999, 60_000), { trimThrough: 0, keep: s }, 'nothing old enough');
    assert.deepEqual(trimDecision(s, 60_000, 0), { trimThrough: 90, keep: s.slice(2) }, 'no window: the floor now');
    assert.deepEqual(trimDecision([], 1000, 0), { trimThrough: 0, keep: [] });
  });

  it('trim - under random floors and passes, nothing younger than the window is ever trimmed', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = mulberry32(seed);
      const keepMs = Math.floor(rnd() * 10_000);
      let samples: FloorSample[] = [];
      const all: FloorSample[] = [];
      let now = 0;
      let floor = 0;
      let trimmed = 0;
      for (let pass = 0; pass < 100; pass++) {
        now += Math.floor(rnd() * 3000);
        floor += Math.floor(rnd() * 100);
        const sample = { atMs: now, floor };
        all.push(sample);
        const d = trimDecision([...samples, sample], now, keepMs);
        samples = d.keep;
        assert.ok(samples.length <= all.length);
        // The floor trimmed through was reached at least keepMs ago.
        const reachedAt = all.find((x) => x.floor >= d.trimThrough)!.atMs;
        if (d.trimThrough > 0)
          assert.ok(now - reachedAt >= keepMs, `seed ${seed}: trimmed a floor reached ${now - reachedAt} ms ago`);
        trimmed = Math.max(trimmed, d.trimThrough);
      }
      // Progress: once the window passed, the trim point moves.
      assert.ok(trimmed > 0 || now < keepMs, `seed ${seed}: never trimmed in ${now} ms with a ${keepMs} ms window`);
    }
  });
});
