import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { checkWriteToken, mergeTokens, tokenSequences, type WriteToken } from '../../transport/write_token.js';

describe('write tokens across layout generations', () => {
  it('write token - a token without a generation is generation 1, as every token was before generations', () => {
    const t: WriteToken = { group: 'g', shards: { '0': 5 } };
    assert.deepEqual(tokenSequences(t, 1), { '0': 5 });
    assert.deepEqual(tokenSequences(t, 2), {});
  });

  it('write token - a dual write holds both generations, so it still names its sequences after a cutover', () => {
    const t: WriteToken = {
      group: 'g',
      shards: { '0': 10 },
      generations: { '1': { '0': 10 }, '2': { '0': 11, '3': 12 } },
    };
    assert.deepEqual(tokenSequences(t, 1), { '0': 10 });
    assert.deepEqual(tokenSequences(t, 2), { '0': 11, '3': 12 });
    assert.deepEqual(tokenSequences(t, 3), {});
  });

  it('write token - merging keeps the latest sequence per generation and shard', () => {
    const a: WriteToken = { group: 'g', shards: { '0': 4, '1': 9 } };
    const b: WriteToken = { group: 'g', shards: { '0': 7 }, generations: { '1': { '0': 7 }, '2': { '2': 8 } } };
    const m = mergeTokens('g', [a, b]);
    assert.deepEqual(tokenSequences(m, 1), { '0': 7, '1': 9 });
    assert.deepEqual(tokenSequences(m, 2), { '2': 8 });
    assert.deepEqual(mergeTokens('g', [a]), { group: 'g', shards: { '0': 4, '1': 9 } });
    assert.deepEqual(mergeTokens('g', []), { group: 'g', shards: {} });
  });

  it('write token - malformed tokens name the part that is wrong', () => {
    const problem = (v: unknown) => {
      const r = checkWriteToken(v);
      assert.ok('message' in r, `expected a problem for ${JSON.stringify(v)}`);
      return `${r.path} ${r.message}`;
    };
    assert.match(problem(null), /must be an object/);
    assert.match(problem({ group: 'g', shards: { '0': 1 }, generation: 0 }), /^generation must be a positive integer/);
    assert.match(problem({ group: 'g', shards: {}, generations: { x: {} } }), /^generations\.x is not a generation/);
    assert.match(problem({ group: 'g', shards: {}, generations: { '2': { '0': -1 } } }), /^generations\.2\.0 must be/);
    const ok = checkWriteToken({ group: 'g', shards: { '1': 3 }, generation: 2, generations: { '2': { '1': 3 } } });
    assert.deepEqual(ok, { group: 'g', shards: { '1': 3 }, generation: 2, generations: { '2': { '1': 3 } } });
  });
});
