/**
 * The liaison's forwarding gate (actors/liaison/forward_gate.ts): a shard is forwarded to only
 * within `ttlMs` of its owners answering a page the long way; no live owner, or an answer that is
 * no page, ends it at once; it remembers a bounded number of shards.
 */
import assert from 'node:assert/strict';
import { ForwardGate } from '../../actors/liaison/forward_gate.js';
import { mulberry32 } from '../harness/random.js';

describe('forward gate', () => {
  it('forward gate - forwards within ttl of the last page answered the long way, never otherwise (seeded runs against a model)', () => {
    const rnd = mulberry32(20261207);
    for (let run = 0; run < 50; run++) {
      const ttl = 1 + Math.floor(rnd() * 2000);
      const gate = new ForwardGate(ttl);
      const subjects = ['a', 'b', 'c'];
      const last = new Map<string, number>();
      let now = 0;
      for (let step = 0; step < 500; step++) {
        now += Math.floor(rnd() * 300);
        const s = subjects[Math.floor(rnd() * subjects.length)]!;
        const want = last.has(s) && now - last.get(s)! < ttl;
        assert.equal(gate.mayForward(s, now), want, `run ${run} step ${step}: ${s} at ${now}`);
        // What the long way saw: a page, nobody, or a shard of an older version (no page).
        const seen = rnd();
        if (want) continue;
        if (seen < 0.7) {
          gate.answeredPage(s, now);
          last.set(s, now);
        } else {
          gate.unconfirmed(s);
          last.delete(s);
        }
      }
    }
  });

  it('forward gate - a shard with no live owner goes the long way at once, whatever its ttl', () => {
    const gate = new ForwardGate(60_000);
    gate.answeredPage('s', 0);
    assert.equal(gate.mayForward('s', 1), true);
    gate.unconfirmed('s');
    assert.equal(gate.mayForward('s', 2), false);
  });

  it('forward gate - remembers at most its capacity, dropping the longest unconfirmed', () => {
    const gate = new ForwardGate(1000, 3);
    for (const s of ['a', 'b', 'c']) gate.answeredPage(s, 0);
    gate.answeredPage('a', 1); // a is now the newest
    gate.answeredPage('d', 2);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((s) => gate.mayForward(s, 3)),
      [true, false, true, true],
    );
  });
});
