/**
 * Shared helpers of the encoding_* tests: a seeded PRNG, the run's seed (printed when this module
 * loads; replay with ENCODING_SEED), corruption checks, and the two property loops every column
 * kind runs (random columns round-trip; truncated or damaged columns fail only as corrupt). The
 * helpers hold no state between tests.
 */
import assert from 'node:assert/strict';
import { ByteReader, EncodingError } from '../../storage/encoding/index.js';
import { mulberry32, runSeed } from './random.js';

export { mulberry32 };

/**
 * The seed of this run's property tests: `ENCODING_SEED` when set (to replay a failure), else a
 * fresh one. Printed once per test process (each parallel worker draws and prints its own).
 */
export const SEED = runSeed('ENCODING_SEED');

/** An integer in [lo, hi] from `rng`. */
export function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** True for an EncodingError of kind `corrupt` (the only failure a decoder may raise). */
export function isCorrupt(err: unknown): boolean {
  return err instanceof EncodingError && err.kind === 'corrupt' && err.code === 'Internal';
}

/** True for an EncodingError of kind `unencodable`. */
export function isUnencodable(err: unknown): boolean {
  return err instanceof EncodingError && err.kind === 'unencodable';
}

/** A column reader: consumes `count` values of one column from `r`. */
export type ColumnReader = (r: ByteReader, count: number) => unknown;

/**
 * Every strict prefix of a valid encoding must fail as `corrupt`. The prefix is a reader window
 * over the whole buffer, so a decoder that reads past its window would see valid bytes and not
 * fail: this checks the bounds, not just the array's end. Long buffers are sampled.
 */
export function assertTruncationsCorrupt(buf: Uint8Array, count: number, read: ColumnReader, rng: () => number): void {
  const cuts =
    buf.length <= 300
      ? Array.from({ length: buf.length }, (_, i) => i)
      : [0, 1, 2, 3, buf.length - 1, ...Array.from({ length: 100 }, () => randInt(rng, 0, buf.length - 1))];
  for (const cut of cuts) {
    const r = new ByteReader(buf, 0, cut);
    assert.throws(
      () => {
        read(r, count);
        r.expectEnd('column');
      },
      isCorrupt,
      `a prefix of ${cut}/${buf.length} bytes did not fail as corrupt`,
    );
  }
}

/**
 * Random byte damage must either decode to something or fail as `corrupt`: never another error,
 * never a hang (mocha's timeout would catch one). Returns how many damaged copies failed.
 */
export function assertDamageSafe(
  buf: Uint8Array,
  count: number,
  read: ColumnReader,
  rng: () => number,
  rounds = 50,
): number {
  let failed = 0;
  for (let k = 0; k < rounds; k++) {
    const bad = buf.slice();
    const flips = randInt(rng, 1, 3);
    for (let f = 0; f < flips; f++) {
      const at = randInt(rng, 0, bad.length - 1);
      bad[at] = rng() < 0.5 ? bad[at]! ^ (1 << randInt(rng, 0, 7)) : randInt(rng, 0, 255);
    }
    try {
      const r = new ByteReader(bad);
      read(r, count);
      r.expectEnd('column');
    } catch (err) {
      assert.ok(isCorrupt(err), `damage raised ${String(err)} instead of a corrupt EncodingError`);
      failed++;
    }
  }
  return failed;
}

/** Draws one test column of `n` values from `rng` (typical or hostile data of one kind). */
export type ColumnGenerator<T extends ArrayLike<unknown>> = (rng: () => number, n: number) => T;

/**
 * Hands `count` random columns to `check`, drawn from `generators` in turn: every tenth up to
 * `long` values (a long block), the others up to `short`. `what` names the generator and the case.
 */
export function forRandomColumns<T extends ArrayLike<unknown>>(
  rng: () => number,
  generators: readonly ColumnGenerator<T>[],
  lengths: { short: number; long: number },
  check: (values: T, what: string) => void,
  count = 3000,
): void {
  for (let k = 0; k < count; k++) {
    const g = k % generators.length;
    check(
      generators[g]!(rng, randInt(rng, 0, k % 10 === 0 ? lengths.long : lengths.short)),
      `generator ${g}, array ${k}`,
    );
  }
}

/**
 * Truncated or damaged columns fail only as corrupt: `rounds` random columns of 1 to `maxLength`
 * values, drawn from `generators` in turn, each encoded by `encode` (to one buffer, or several:
 * one per codec, say). Every buffer passes `assertTruncationsCorrupt` and `damageRounds` rounds
 * of `assertDamageSafe`, and some damage must have been detected over the whole run.
 */
export function assertColumnsFailOnlyAsCorrupt<T extends ArrayLike<unknown>>(
  rng: () => number,
  generators: readonly ColumnGenerator<T>[],
  column: {
    encode: (values: T) => Uint8Array | Uint8Array[];
    read: ColumnReader;
    maxLength: number;
    damageRounds: number;
  },
  rounds = 300,
): void {
  let failed = 0;
  for (let k = 0; k < rounds; k++) {
    const values = generators[k % generators.length]!(rng, randInt(rng, 1, column.maxLength));
    const encoded = column.encode(values);
    for (const buf of Array.isArray(encoded) ? encoded : [encoded]) {
      assertTruncationsCorrupt(buf, values.length, column.read, rng);
      failed += assertDamageSafe(buf, values.length, column.read, rng, column.damageRounds);
    }
  }
  assert.ok(failed > 0, 'some damage was detected');
}

/** Bitwise equality of two float arrays (tells -0 from 0 and NaN payloads apart). */
export function assertSameBits(actual: Float64Array, expected: Float64Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length * 2);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length * 2);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) assert.fail(`${what}: value ${i >> 1} differs: ${actual[i >> 1]} vs ${expected[i >> 1]}`);
  }
}
