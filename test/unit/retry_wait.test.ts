import assert from 'node:assert/strict';
import { retryWaitMs } from '../../runtime/clock.js';

describe('retry waits', () => {
  it('retry - waits back off, the last one ends exactly at the deadline, then the loop gives up', () => {
    const deadline = 2000;
    let now = 0;
    const waits: number[] = [];
    for (let attempt = 0; ; attempt++) {
      const w = retryWaitMs(attempt, now, deadline, 100, 5000);
      if (w === null) break;
      waits.push(w);
      now += w;
    }
    assert.deepEqual(waits, [100, 200, 400, 800, 500]);
    assert.equal(now, deadline, 'a bounded retry loop uses its whole budget, never less');
    assert.equal(retryWaitMs(0, deadline + 1, deadline, 100, 5000), null);
  });
});
