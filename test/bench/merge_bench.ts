/**
 * Merge throughput and what the part pool buys the caller's event loop. Builds a shard with
 * `parts` flushes of `series` × `points` rows (2 random 2-decimal float fields, every flush
 * rewriting the previous one's keys half the time), then prints, inline and on a 1-thread pool:
 * the merge's rows in per second; the flush of one big batch (ms), and how the event loop fared
 * meanwhile (ticks of a 1 ms interval, and the longest gap between two ticks). Not an assertion:
 * a shared 2-core machine is noisy, take the best of a few runs.
 * Run: `npx tsx test/bench/merge_bench.ts [series] [points] [parts]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../runtime/clock.js';
import type { BlockSchema } from '../../storage/block.js';
import { nodeFs } from '../../storage/fs.js';
import type { PartRows } from '../../storage/part.js';
import { PartPool, type PartRunner } from '../../storage/part_pool.js';
import { ShardStore, type FlushBatch } from '../../storage/shard_store.js';

const SERIES = Number(process.argv[2] ?? 500);
const POINTS = Number(process.argv[3] ?? 200);
const PARTS = Number(process.argv[4] ?? 9);
const HOUR_MS = 3_600_000;
const T0 = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
const SCHEMA: BlockSchema = {
  fields: [
    { name: 'a', type: 'float' },
    { name: 'b', type: 'float' },
  ],
  tags: [],
};

/** Deterministic rows of flush `k`: half of them at the previous flush's timestamps. */
function makeBatch(k: number, series = SERIES, points = POINTS): FlushBatch {
  let seed = 12345 + k;
  const rng = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const n = series * points;
  const ids = new Array<string>(n);
  const ts = new Float64Array(n);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const start = Math.floor(k / 2) * points * 10;
  for (let s = 0, i = 0; s < series; s++) {
    const id = `series-${String(s).padStart(6, '0')}`;
    for (let p = 0; p < points; p++, i++) {
      ids[i] = id;
      ts[i] = T0 + (start + p) * 10;
      a[i] = Math.floor(rng() * 10000) / 100;
      b[i] = Math.floor(rng() * 10000) / 100;
    }
  }
  const rows: PartRows = { seriesIds: ids, timestamps: ts, fields: { a, b }, tags: {} };
  return { name: 'm', segmentStartMs: T0, segmentEndMs: T0 + HOUR_MS, rows, schema: SCHEMA, lastSequence: k + 1 };
}

/** Runs `fn` while a 1 ms interval counts ticks; returns its duration, the ticks and the longest gap. */
async function watchLoop(fn: () => Promise<unknown>): Promise<{ ms: number; ticks: number; maxGapMs: number }> {
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 1);
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  clearInterval(timer);
  maxGap = Math.max(maxGap, performance.now() - last);
  return { ms: +ms.toFixed(1), ticks, maxGapMs: +maxGap.toFixed(1) };
}

async function run(root: string, label: string, pool?: PartRunner) {
  const dir = join(root, label);
  const store = await ShardStore.open(nodeFs, dir, { clock: systemClock, pool });
  try {
    for (let k = 0; k < PARTS; k++) await store.flush([makeBatch(k)]);
    let rowsIn = 0;
    const merge = await watchLoop(async () => {
      for (const d of await store.merge({ keyTagOf: () => null, maxPartsPerName: 1, minPartsPerMerge: 2 }))
        rowsIn += d.rowsIn;
    });
    const big = makeBatch(PARTS, SERIES * 4, POINTS);
    const flush = await watchLoop(() => store.flush([big]));
    return {
      mode: label,
      merge_rows_in: rowsIn,
      merge_ms: merge.ms,
      merge_rows_per_s: Math.round(rowsIn / (merge.ms / 1000)),
      merge_loop_ticks: merge.ticks,
      merge_loop_max_gap_ms: merge.maxGapMs,
      flush_rows: big.rows.timestamps.length,
      flush_ms: flush.ms,
      flush_loop_ticks: flush.ticks,
      flush_loop_max_gap_ms: flush.maxGapMs,
    };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'lockstep-merge-bench-'));
  const pool = await PartPool.create({ threads: 1 });
  try {
    // Warm both paths (JIT, the pool's thread) on a small shard first.
    await run(root, 'warm-inline');
    await run(root, 'warm-pool', pool);
    const inline = await run(root, 'inline');
    const pooled = await run(root, 'pool', pool);
    console.log(JSON.stringify({ series: SERIES, points: POINTS, parts: PARTS, results: [inline, pooled] }, null, 1));
  } finally {
    await pool.destroy();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
