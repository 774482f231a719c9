/**
 * Segment time buckets (storage/segment.ts) and retention (storage/retention.ts).
 * Invariants: buckets start at UTC epoch multiples of the interval and a boundary timestamp belongs
 * to the bucket starting there; retention drops exactly the segments whose end is at or before
 * now - ttl (by the injected clock), and a drop interrupted by a crash is invisible and cleaned.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeFs, type StorageFs } from '../../storage/fs.js';
import { dropExpiredSegments } from '../../storage/retention.js';
import { createSegment, listSegments, segmentFor, segmentName } from '../../storage/segment.js';
import { FakeClock } from '../harness/fake_clock.js';
import { useTempDir } from '../harness/temp_dir.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const T0 = Date.UTC(2024, 4, 10); // a midnight UTC

describe('storage segments and retention', () => {
  const tmp = useTempDir('retention');
  let n = 0;
  let shardDir = '';

  beforeEach(() => {
    shardDir = join(tmp.path, `case-${n++}`, 'g1', 'shard-0');
  });

  /** Hour segments starting at T0 + h hours for each h. */
  async function hourSegments(hours: number[]): Promise<void> {
    for (const h of hours) await createSegment(nodeFs, shardDir, T0 + h * HOUR_MS, T0 + (h + 1) * HOUR_MS);
  }

  async function names(): Promise<string[]> {
    return (await readdir(shardDir)).sort();
  }

  it('segments - 1h buckets align to the hour, a boundary belongs to the next bucket', () => {
    const t = T0 + 13 * HOUR_MS;
    assert.deepEqual(segmentFor(t, HOUR_MS), { startMs: t, endMs: t + HOUR_MS });
    assert.deepEqual(segmentFor(t - 1, HOUR_MS), { startMs: t - HOUR_MS, endMs: t });
    assert.deepEqual(segmentFor(t + HOUR_MS - 1, HOUR_MS), { startMs: t, endMs: t + HOUR_MS });
    assert.deepEqual(segmentFor(t + 25 * 60_000 + 7, HOUR_MS), { startMs: t, endMs: t + HOUR_MS });
    assert.deepEqual(segmentFor(0, HOUR_MS), { startMs: 0, endMs: HOUR_MS });
    assert.deepEqual(segmentFor(-1, HOUR_MS), { startMs: -HOUR_MS, endMs: 0 });
  });

  it('segments - 1d buckets start at midnight UTC, a boundary belongs to the next bucket', () => {
    assert.deepEqual(segmentFor(T0, DAY_MS), { startMs: T0, endMs: T0 + DAY_MS });
    assert.deepEqual(segmentFor(T0 - 1, DAY_MS), { startMs: T0 - DAY_MS, endMs: T0 });
    assert.deepEqual(segmentFor(T0 + DAY_MS - 1, DAY_MS), { startMs: T0, endMs: T0 + DAY_MS });
    assert.deepEqual(segmentFor(T0 + DAY_MS, DAY_MS), { startMs: T0 + DAY_MS, endMs: T0 + 2 * DAY_MS });
    assert.equal(
      segmentName(segmentFor(Date.UTC(2024, 1, 29, 23, 59, 59, 999), DAY_MS).startMs),
      'seg-20240229T000000Z',
    );
    // Multi-hour buckets are epoch multiples too: 6h buckets start at 00, 06, 12, 18 UTC.
    assert.deepEqual(segmentFor(T0 + 7 * HOUR_MS, 6 * HOUR_MS), {
      startMs: T0 + 6 * HOUR_MS,
      endMs: T0 + 12 * HOUR_MS,
    });
    assert.throws(() => segmentFor(1.5, HOUR_MS), { name: 'InvariantError', code: 'Internal' });
    assert.throws(() => segmentFor(0, 0), { name: 'InvariantError', code: 'Internal' });
  });

  it('retention - drops exactly the segments whose end is at or before now - ttl', async () => {
    await hourSegments([5, 0, 2, 3, 1, 4]);
    // now - ttl = T0 + 3h: hours 0, 1, 2 end at or before it; hour 3 ends after it (holds T0 + 3h).
    const clock = new FakeClock(T0 + 6 * HOUR_MS);
    const r = await dropExpiredSegments(nodeFs, shardDir, 3 * HOUR_MS, clock);
    assert.deepEqual(
      r.dropped.map((s) => s.startMs),
      [T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS],
    );
    assert.deepEqual(r.leftovers, []);
    assert.deepEqual(
      await names(),
      [3, 4, 5].map((h) => segmentName(T0 + h * HOUR_MS)),
    );

    // One millisecond short of hour 3's expiry keeps it.
    clock.setNow(T0 + 7 * HOUR_MS - 1);
    assert.deepEqual((await dropExpiredSegments(nodeFs, shardDir, 3 * HOUR_MS, clock)).dropped, []);
    clock.setNow(T0 + 7 * HOUR_MS);
    assert.deepEqual(
      (await dropExpiredSegments(nodeFs, shardDir, 3 * HOUR_MS, clock)).dropped.map((s) => s.name),
      [segmentName(T0 + 3 * HOUR_MS)],
    );
    assert.deepEqual(
      (await listSegments(nodeFs, shardDir)).map((s) => s.startMs),
      [T0 + 4 * HOUR_MS, T0 + 5 * HOUR_MS],
    );
  });

  it('retention - nothing expires in a shard that is empty or missing', async () => {
    const clock = new FakeClock(T0 + 100 * DAY_MS);
    assert.deepEqual(await dropExpiredSegments(nodeFs, shardDir, DAY_MS, clock), { dropped: [], leftovers: [] });
    await mkdir(shardDir, { recursive: true });
    assert.deepEqual(await dropExpiredSegments(nodeFs, shardDir, DAY_MS, clock), { dropped: [], leftovers: [] });
    await assert.rejects(dropExpiredSegments(nodeFs, shardDir, 0, clock), { name: 'InvariantError', code: 'Internal' });
  });

  it('retention - a leftover .dropping directory is invisible to listSegments and cleaned by the next pass', async () => {
    await hourSegments([0, 1]);
    const leftover = join(shardDir, `${segmentName(T0 - HOUR_MS)}.dropping`);
    await mkdir(join(leftover, 'part-7'), { recursive: true });
    await writeFile(join(leftover, 'part-7', 'data'), 'x');
    assert.deepEqual(
      (await listSegments(nodeFs, shardDir)).map((s) => s.startMs),
      [T0, T0 + HOUR_MS],
    );
    const r = await dropExpiredSegments(nodeFs, shardDir, DAY_MS, new FakeClock(T0));
    assert.deepEqual(r, { dropped: [], leftovers: [`${segmentName(T0 - HOUR_MS)}.dropping`] });
    assert.deepEqual(await names(), [segmentName(T0), segmentName(T0 + HOUR_MS)]);
  });

  it('retention - a crash between rename and removal leaves only a leftover the next pass cleans', async () => {
    await hourSegments([0, 1]);
    await writeFile(join(shardDir, segmentName(T0), 'part-data'), 'points');
    // The "crash": removing the renamed segment fails once.
    let failRm = true;
    const fs: StorageFs = {
      ...nodeFs,
      rm: async (path) => {
        if (failRm && path.endsWith('.dropping')) {
          failRm = false;
          throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
        }
        return nodeFs.rm(path);
      },
    };
    const clock = new FakeClock(T0 + HOUR_MS + DAY_MS);
    await assert.rejects(dropExpiredSegments(fs, shardDir, DAY_MS, clock), /injected/);
    assert.deepEqual(await names(), [`${segmentName(T0)}.dropping`, segmentName(T0 + HOUR_MS)]);
    assert.deepEqual(
      (await listSegments(nodeFs, shardDir)).map((s) => s.startMs),
      [T0 + HOUR_MS],
    );

    const r = await dropExpiredSegments(fs, shardDir, DAY_MS, clock);
    assert.deepEqual(r.leftovers, [`${segmentName(T0)}.dropping`]);
    assert.deepEqual(r.dropped, []);
    assert.deepEqual(await names(), [segmentName(T0 + HOUR_MS)]);
  });

  it('retention - segments of different lengths are judged each by its own end', async () => {
    // A 1d segment, then hour segments after segment_interval changed to 1h.
    await createSegment(nodeFs, shardDir, T0 - DAY_MS, T0);
    await hourSegments([0, 1]);
    const r = await dropExpiredSegments(nodeFs, shardDir, HOUR_MS, new FakeClock(T0 + 2 * HOUR_MS));
    assert.deepEqual(
      r.dropped.map((s) => s.name),
      [segmentName(T0 - DAY_MS), segmentName(T0)],
    );
    assert.deepEqual(await names(), [segmentName(T0 + HOUR_MS)]);
  });
});
