/**
 * Part write and read speed for the ingest profile: 1,000 series × 1,000 points at 10 s
 * intervals, 2 random 2-decimal float fields in [0, 100). Prints write MB/s, points/s and bytes per
 * point, then the latency of random single-block reads (all columns and one field) and the scan
 * rate over every block. Run: `npx tsx test/bench/part_bench.ts [series] [points] [rounds]`.
 * Figures are rough: a shared 2-core machine is noisy, so take the best of the rounds.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockSchema } from '../../storage/block.js';
import { CRC32_NATIVE } from '../../storage/checksum.js';
import { nodeFs } from '../../storage/fs.js';
import { openPart, partDirName, writePart, type PartRows } from '../../storage/part.js';

const SERIES = Number(process.argv[2] ?? 1000);
const POINTS = Number(process.argv[3] ?? 1000);
const ROUNDS = Number(process.argv[4] ?? 3);
const READS = 2000;
const T0 = 1_700_000_000_000;
const SCHEMA: BlockSchema = {
  fields: [
    { name: 'a', type: 'float' },
    { name: 'b', type: 'float' },
  ],
  tags: [],
};

/** Deterministic rows so rounds and runs compare. */
function makeRows(): PartRows {
  let seed = 12345;
  const rng = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const n = SERIES * POINTS;
  const ids = new Array<string>(n);
  const ts = new Float64Array(n);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  for (let s = 0, i = 0; s < SERIES; s++) {
    const id = `series-${String(s).padStart(6, '0')}`;
    for (let p = 0; p < POINTS; p++, i++) {
      ids[i] = id;
      ts[i] = T0 + p * 10_000;
      a[i] = Math.floor(rng() * 10000) / 100;
      b[i] = Math.floor(rng() * 10000) / 100;
    }
  }
  return { seriesIds: ids, timestamps: ts, fields: { a, b }, tags: {} };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'lockstep-part-bench-'));
  try {
    const rows = makeRows();
    const n = rows.timestamps.length;
    let best = Infinity;
    let dir = '';
    for (let r = 0; r < ROUNDS; r++) {
      dir = join(root, partDirName(r));
      const t = performance.now();
      await writePart(nodeFs, dir, rows, { schema: SCHEMA, formatVersion: '1', lastSequence: r });
      best = Math.min(best, performance.now() - t);
    }
    const bytes = ['data', 'index', 'metadata'].reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    const rawMb = (n * 3 * 8) / 1e6; // timestamps and two fields as float64
    const part = await openPart(nodeFs, dir);
    const entries = part.entries;
    const lat = async (projection?: { fields: string[]; tags: string[] }) => {
      const ms: number[] = [];
      for (let i = 0; i < READS; i++) {
        const e = entries[(i * 7919) % entries.length]!;
        const t = performance.now();
        await part.readBlock(e, projection);
        ms.push(performance.now() - t);
      }
      return ms.sort((x, y) => x - y);
    };
    await lat(); // warm up
    const all = await lat();
    const one = await lat({ fields: ['a'], tags: [] });
    const scanStart = performance.now();
    for (const e of entries) await part.readBlock(e);
    const scanMs = performance.now() - scanStart;
    await part.close();
    const report = {
      series: SERIES,
      points: n,
      blocks: entries.length,
      crc32_native: CRC32_NATIVE,
      write_ms: +best.toFixed(1),
      write_points_per_s: Math.round(n / (best / 1000)),
      write_raw_mb_per_s: +(rawMb / (best / 1000)).toFixed(1),
      write_disk_mb_per_s: +(bytes / 1e6 / (best / 1000)).toFixed(1),
      bytes_on_disk: bytes,
      bytes_per_point: +(bytes / n).toFixed(3),
      read_block_p50_ms: +percentile(all, 0.5).toFixed(3),
      read_block_p99_ms: +percentile(all, 0.99).toFixed(3),
      read_block_one_field_p50_ms: +percentile(one, 0.5).toFixed(3),
      scan_points_per_s: Math.round(n / (scanMs / 1000)),
    };
    console.log(JSON.stringify(report, null, 1));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
