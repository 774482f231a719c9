/**
 * Seeded randomness for property, fuzz and simulation tests: one PRNG, and the run's seeds read
 * from the environment (to replay a failure) or drawn fresh — and printed either way, so every
 * failing run names the seed that reproduces it.
 */
import { randomInt } from 'node:crypto';

/** mulberry32: a tiny, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded generator with the draws simulations need; the same seed gives the same draws. */
export class Rng {
  private readonly next01: () => number;

  constructor(readonly seed: number) {
    this.next01 = mulberry32(seed);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.next01();
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next01() * (hi - lo + 1));
  }

  /** True with probability `p`; draws nothing when `p` is 0, so a fault that is off never shifts the stream. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    return this.next01() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick: empty array');
    return xs[Math.floor(this.next01() * xs.length)]!;
  }
}

const printed = new Set<string>();

/**
 * The seed of this run for `envVar`: its value when set (to replay a failure), else a fresh one.
 * Printed once per process and variable, before the tests run, with the line that replays it.
 */
export function runSeed(envVar: string, env: NodeJS.ProcessEnv = process.env): number {
  const given = env[envVar];
  const seed = given ? Number(given) >>> 0 : randomInt(0, 2 ** 32);
  if (!printed.has(envVar)) {
    printed.add(envVar);
    process.stdout.write(`seed ${envVar}=${seed} (replay with ${envVar}=${seed})\n`);
  }
  return seed;
}
