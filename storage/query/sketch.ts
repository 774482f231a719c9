/**
 * A quantile sketch with a relative error bound (DDSketch, Masson et al., VLDB 2019): values are
 * counted in buckets whose bounds grow by γ = (1 + α) / (1 − α), so any quantile it answers is
 * within α × |true value| of the value of that rank. Sketches of the same α merge by adding counts,
 * so each shard sketches its rows and the liaison merges: percentiles cost one bucket per distinct
 * magnitude, not one entry per row. Pure data (plain objects), so it crosses threads and NATS as is.
 */

/** The relative error bound of every percentile the engine answers: 1%. */
export const SKETCH_RELATIVE_ERROR = 0.01;

const GAMMA = (1 + SKETCH_RELATIVE_ERROR) / (1 - SKETCH_RELATIVE_ERROR);
const LOG_GAMMA = Math.log(GAMMA);
/** Magnitudes below this count as zero (no bucket index for them). */
const MIN_MAGNITUDE = 1e-300;

/** Bucket counts by index for positive and for negative values, and the zeros. */
export interface Sketch {
  pos: Record<string, number>;
  neg: Record<string, number>;
  zero: number;
  count: number;
}

/** An empty sketch. */
export function newSketch(): Sketch {
  return { pos: {}, neg: {}, zero: 0, count: 0 };
}

function indexOf(magnitude: number): number {
  return Math.ceil(Math.log(magnitude) / LOG_GAMMA);
}

/** The value a bucket stands for: within α of every magnitude it holds. */
function valueOf(index: number): number {
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}

/** Counts `v` (NaN is skipped by the caller; ±Infinity is not a stored value). */
export function addValue(s: Sketch, v: number): void {
  s.count++;
  const m = Math.abs(v);
  if (m < MIN_MAGNITUDE) {
    s.zero++;
    return;
  }
  const store = v > 0 ? s.pos : s.neg;
  const k = String(indexOf(m));
  store[k] = (store[k] ?? 0) + 1;
}

/** Adds `b` into `a`. */
export function mergeSketch(a: Sketch, b: Sketch): void {
  a.count += b.count;
  a.zero += b.zero;
  for (const [k, n] of Object.entries(b.pos)) a.pos[k] = (a.pos[k] ?? 0) + n;
  for (const [k, n] of Object.entries(b.neg)) a.neg[k] = (a.neg[k] ?? 0) + n;
}

/**
 * The value of rank ⌊q × (count − 1)⌋ (0-based, ascending), within α of the true value of that
 * rank; null for an empty sketch. `q` in [0, 1].
 */
export function quantile(s: Sketch, q: number): number | null {
  if (s.count === 0) return null;
  const rank = Math.floor(q * (s.count - 1));
  let seen = 0;
  // Ascending: the most negative first (largest index of the negative store), zeros, then positives.
  const neg = Object.keys(s.neg)
    .map(Number)
    .sort((a, b) => b - a);
  for (const i of neg) {
    seen += s.neg[String(i)]!;
    if (seen > rank) return -valueOf(i);
  }
  seen += s.zero;
  if (seen > rank) return 0;
  const pos = Object.keys(s.pos)
    .map(Number)
    .sort((a, b) => a - b);
  for (const i of pos) {
    seen += s.pos[String(i)]!;
    if (seen > rank) return valueOf(i);
  }
  return null; // unreachable when counts add up
}
