/**
 * The benchmarks' data shapes: random 2-decimal floats per point (`random`, the shape the peers
 * were compared on), or a random-walk float and an int counter (`walk`, what a metrics agent sends).
 */
export const DATA_SHAPES = ['random', 'walk'] as const;
export type DataShape = (typeof DATA_SHAPES)[number];

/**
 * The benchmarks' `walk` data shape, what a metrics agent sends: per series a float `value` that
 * moves from 50 by a random step in [-1, 1) (2 decimals) and an int counter `requests` that grows
 * by a random 0–99 per point.
 */
export class Walks {
  private readonly values: Float64Array;
  private readonly counters: Float64Array;

  constructor(series: number) {
    this.values = new Float64Array(series).fill(50);
    this.counters = new Float64Array(series);
  }

  /** Series `i`'s next point's fields. */
  next(i: number): { value: number; requests: number } {
    const value = Math.round((this.values[i]! + (Math.random() * 2 - 1)) * 100) / 100;
    this.values[i] = value;
    this.counters[i]! += Math.floor(Math.random() * 100);
    return { value, requests: this.counters[i]! };
  }
}
