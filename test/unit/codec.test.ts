/**
 * The body codec's guard (transport/body_check.ts). Invariants: a decoded body never holds a
 * BigInt nor nests deeper than MAX_BODY_NESTING (each refused with `InvalidArgument` naming the
 * first offending path), in msgpack and JSON alike; safe integers sent at 64 bits decode as
 * numbers; the byte scanner measures the nesting of msgpack exactly as the decoded value has it.
 */
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { msgpackNestsDeeper } from '../../transport/body_check.js';
import { decodeRequest as decode, encode } from '../../transport/codec.js';
import { Code, codeOf, type LockstepError } from '../../transport/errors.js';
import { MAX_BODY_NESTING } from '../../transport/limits.js';
import { mulberry32, runSeed } from '../harness/random.js';

/** The seed of the nesting-scan property test: `CODEC_SEED` to replay a failure, else fresh (printed). */
const SEED = runSeed('CODEC_SEED');

function refusal(data: Uint8Array, encoding: 'msgpack' | 'json' = 'msgpack'): LockstepError {
  try {
    decode(data, encoding);
  } catch (err) {
    assert.equal(codeOf(err), Code.InvalidArgument, (err as Error).message);
    return err as LockstepError;
  }
  return assert.fail('decoded');
}

const json = (s: string) => new TextEncoder().encode(s);

// `levels` nested arrays around `inner`.
function nested(levels: number, inner: unknown = 1): unknown {
  let v = inner;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

// msgpack of `levels` nested one-element arrays around nil, built by hand (msgpackr's packer recurses).
function deepMsgpack(levels: number): Uint8Array {
  const b = new Uint8Array(levels + 1).fill(0x91);
  b[levels] = 0xc0;
  return b;
}

function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + children.reduce<number>((m, x) => Math.max(m, depthOf(x)), 0);
}

function randomValue(r: () => number, budget: number): unknown {
  const pick = r();
  if (budget <= 0 || pick < 0.3) {
    const leaves = [0, -1, 127, 128, 65536, 2 ** 40, -(2 ** 40), 1.5, 'x', 'a'.repeat(40), 'é'.repeat(300), true, null];
    return leaves[Math.floor(r() * leaves.length)];
  }
  if (pick < 0.35) return new Float64Array(Math.floor(r() * 4));
  if (pick < 0.4) return new Uint8Array(Math.floor(r() * 300));
  const n = Math.floor(r() * (pick < 0.45 ? 20 : 4));
  if (pick < 0.7) return Array.from({ length: n }, () => randomValue(r, budget - 1));
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, randomValue(r, budget - 1)]));
}

describe('codec', () => {
  it('codec - an integer beyond ±2^53 is InvalidArgument naming its path', () => {
    const cases: [unknown, string][] = [
      [2n ** 60n, 'body'],
      [{ group: -(2n ** 63n) }, 'group'],
      [{ points: [{}, {}, {}, { fields: { value: 2n ** 64n - 1n } }] }, 'points[3].fields.value'],
      [{ a: [[1, 2n ** 53n + 1n]] }, 'a[0][1]'],
      [
        { 'not an identifier': { ok: 1, [`k${'x'.repeat(60)}`]: -(2n ** 53n) - 1n } },
        `["not an identifier"]["k${'x'.repeat(39)}…"]`,
      ],
      [{ t: new BigInt64Array([1n]) }, 't'],
    ];
    for (const [value, field] of cases) {
      const err = refusal(encode(value));
      assert.equal(err.details?.field, field, err.message);
      assert.ok(err.message.startsWith(`${field}: `), err.message);
    }
    // The first in document order is named, not whichever a walk meets first.
    assert.equal(refusal(encode({ a: 1, b: [2n ** 60n], c: 2n ** 61n })).details?.field, 'b[0]');
  });

  it('codec - integers sent at 64 bits decode as numbers while safe', () => {
    for (const n of [0, 5, -5, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      const bytes = encode({ v: BigInt(n) });
      assert.ok(bytes.includes(0xd3) || bytes.includes(0xcf), 'sent as a 64-bit integer');
      assert.deepEqual(decode(bytes), { v: n });
    }
  });

  it('codec - nesting up to the limit decodes; one level more is InvalidArgument in msgpack and JSON', () => {
    assert.deepEqual(decode(encode(nested(MAX_BODY_NESTING))), nested(MAX_BODY_NESTING));
    const atLimit = `${'['.repeat(MAX_BODY_NESTING)}1${']'.repeat(MAX_BODY_NESTING)}`;
    assert.deepEqual(decode(json(atLimit), 'json'), nested(MAX_BODY_NESTING));
    const over = { group: 'g', points: nested(MAX_BODY_NESTING) };
    const errs = [refusal(encode(over)), refusal(json(JSON.stringify(over)), 'json')];
    for (const err of errs) {
      assert.match(err.message, new RegExp(`nested deeper than ${MAX_BODY_NESTING} levels`));
      assert.equal(err.details?.field, `points${'[0]'.repeat(MAX_BODY_NESTING - 1)}`);
    }
  });

  it('codec - 100,000 levels are InvalidArgument, not a stack overflow', () => {
    const levels = 100_000;
    const mp = refusal(deepMsgpack(levels));
    assert.match(mp.message, /nested deeper than/);
    const js = refusal(json(`${'['.repeat(levels)}${']'.repeat(levels)}`), 'json');
    assert.match(js.message, /nested deeper than/);
    // Still a plain malformed body when the bytes are cut short rather than deep.
    assert.match(refusal(deepMsgpack(10).subarray(0, 5)).message, /^malformed msgpack body/);
  });

  it('codec - structured-clone references (shared or cyclic values) are refused', () => {
    const cloning = new Packr({ structuredClone: true, useRecords: false });
    const shared = [1];
    assert.match(refusal(cloning.pack({ a: shared, b: shared })).message, /^malformed msgpack body/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.match(refusal(cloning.pack(cyclic)).message, /^malformed msgpack body/);
  });

  it('codec - the msgpack nesting scan agrees with the decoded depth (seeded)', () => {
    const r = mulberry32(SEED);
    for (let i = 0; i < 300; i++) {
      const value = randomValue(r, 1 + Math.floor(r() * 8));
      const bytes = encode(value);
      const depth = depthOf(decode(bytes));
      for (const limit of [0, 1, 2, depth - 1, depth, depth + 1]) {
        if (limit < 0) continue;
        assert.equal(msgpackNestsDeeper(bytes, limit), depth > limit, `seed ${SEED} case ${i} limit ${limit}`);
      }
    }
    assert.equal(msgpackNestsDeeper(deepMsgpack(100_000), MAX_BODY_NESTING), true);
    assert.equal(msgpackNestsDeeper(deepMsgpack(MAX_BODY_NESTING), MAX_BODY_NESTING), false);
  });
});
