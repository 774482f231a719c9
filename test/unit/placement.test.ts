/**
 * Placement by rendezvous hashing. Invariants: a pure function of its arguments (node order and
 * duplicates do not matter); every shard has `replicas` distinct owners, or every node when fewer;
 * load is balanced; removing a node re-homes only the shards it owned, adding one takes only the
 * shards where it now ranks among the owners.
 */
import assert from 'node:assert/strict';
import { ownersOf, shardsOwnedBy } from '../../storage/placement.js';

const NODES = ['data-1', 'data-2', 'data-3', 'data-4', 'data-5'];
const SHARDS = 256;

function placement(group: string, nodes: string[], replicas: number): string[][] {
  return Array.from({ length: SHARDS }, (_, s) => ownersOf(group, s, nodes, replicas));
}

describe('placement', () => {
  it('placement - is deterministic and independent of node order and duplicates', () => {
    const a = placement('metrics', NODES, 2);
    const b = placement('metrics', [...NODES].reverse().concat(['data-3']), 2);
    assert.deepEqual(a, b);
    assert.deepEqual(placement('metrics', NODES, 2), a);
    // Another group places differently (the group is part of the key).
    assert.notDeepEqual(placement('logs', NODES, 2), a);
  });

  it('placement - every shard has exactly replicas distinct owners, or every node when fewer', () => {
    for (const replicas of [1, 2, 3]) {
      for (const owners of placement('metrics', NODES, replicas)) {
        assert.equal(owners.length, replicas);
        assert.equal(new Set(owners).size, replicas);
        for (const o of owners) assert.ok(NODES.includes(o));
      }
    }
    assert.deepEqual(ownersOf('metrics', 0, ['only'], 3), ['only']);
    assert.deepEqual(new Set(ownersOf('metrics', 7, ['a', 'b'], 3)), new Set(['a', 'b']));
    assert.deepEqual(ownersOf('metrics', 0, [], 2), []);
  });

  it('placement - the first owners are the owners with fewer replicas (one ranking)', () => {
    for (let s = 0; s < SHARDS; s++) {
      const three = ownersOf('metrics', s, NODES, 3);
      assert.deepEqual(ownersOf('metrics', s, NODES, 1), three.slice(0, 1));
      assert.deepEqual(ownersOf('metrics', s, NODES, 2), three.slice(0, 2));
    }
  });

  it('placement - balances 256 shards over 5 nodes within ±30%', () => {
    for (const group of ['metrics', 'logs', 'g']) {
      for (const replicas of [1, 2]) {
        const load = new Map<string, number>(NODES.map((n) => [n, 0]));
        for (const owners of placement(group, NODES, replicas)) for (const o of owners) load.set(o, load.get(o)! + 1);
        const expected = (SHARDS * replicas) / NODES.length;
        for (const [node, n] of load) {
          assert.ok(
            Math.abs(n - expected) <= 0.3 * expected,
            `${group} replicas=${replicas}: ${node} owns ${n}, expected ${expected} ±30%`,
          );
        }
      }
    }
  });

  it('placement - removing a node moves only the shards it owned', () => {
    for (const replicas of [1, 2]) {
      const before = placement('metrics', NODES, replicas);
      const after = placement(
        'metrics',
        NODES.filter((n) => n !== 'data-3'),
        replicas,
      );
      let moved = 0;
      for (let s = 0; s < SHARDS; s++) {
        if (!before[s]!.includes('data-3')) {
          assert.deepEqual(after[s], before[s], `shard ${s} moved though data-3 did not own it`);
        } else {
          moved++;
          // The surviving owners stay, in the same order; one new owner joins at the end.
          assert.deepEqual(
            after[s]!.slice(0, replicas - 1),
            before[s]!.filter((n) => n !== 'data-3'),
          );
        }
      }
      assert.ok(moved > 0);
    }
  });

  it('placement - adding a node takes only the shards where it ranks among the owners', () => {
    const before = placement('metrics', NODES, 2);
    const after = placement('metrics', [...NODES, 'data-6'], 2);
    let taken = 0;
    for (let s = 0; s < SHARDS; s++) {
      if (after[s]!.includes('data-6')) taken++;
      else assert.deepEqual(after[s], before[s]);
    }
    // About 2/6 of the shards; a wide bound keeps the check about movement, not luck.
    assert.ok(taken > SHARDS * 0.2 && taken < SHARDS * 0.5, `data-6 took ${taken} shards`);
  });

  it('placement - shardsOwnedBy agrees with ownersOf', () => {
    const all: number[] = [];
    for (const node of NODES) {
      const mine = shardsOwnedBy(node, 'metrics', SHARDS, NODES, 2);
      for (const s of mine) assert.ok(ownersOf('metrics', s, NODES, 2).includes(node));
      all.push(...mine);
    }
    assert.equal(all.length, SHARDS * 2);
    assert.deepEqual(shardsOwnedBy('stranger', 'metrics', SHARDS, NODES, 2), []);
  });

  it('placement - refuses bad arguments', () => {
    assert.throws(() => ownersOf('metrics', 0, NODES, 0), RangeError);
    assert.throws(() => ownersOf('metrics', -1, NODES, 1), RangeError);
    assert.throws(() => ownersOf('', 0, NODES, 1), RangeError);
  });
});
