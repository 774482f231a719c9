/**
 * Timestamps of test data, relative to today: a fixed date in a test ages past the group's ttl
 * (7 days by default) a week after it was written, and the write is then refused.
 */

/** One day in ms. */
export const DAY_MS = 86_400_000;

/** 00:00 UTC of the day `n` days before today (day-aligned, so the data's segments are predictable). */
export function daysAgo(n: number): number {
  return (Math.floor(Date.now() / DAY_MS) - n) * DAY_MS;
}
