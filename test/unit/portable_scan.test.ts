/**
 * The scan plan packed for a query worker (storage/portable_scan.ts) unpacks to the blocks' locations
 * as planned, without their statistics.
 */
import assert from 'node:assert/strict';
import type { BlockEntry } from '../../storage/part_format.js';
import { packScan, unpackScan } from '../../storage/portable_scan.js';
import type { ScanPlan } from '../../storage/scan_plan.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';

describe('portable scan plan', () => {
  it('unpacks to every block location as planned, statistics left behind', () => {
    const rnd = mulberry32(SEED);
    const int = (max: number) => Math.floor(rnd() * max);
    const entry = (ordinal: number): BlockEntry => {
      const minTs = 1_700_000_000_000 + int(1e9);
      return {
        ordinal,
        seriesId: int(1 << 30)
          .toString(16)
          .padStart(16, '0'),
        minTs,
        maxTs: minTs + int(1e7),
        rowCount: 1 + int(512),
        offset: int(2 ** 40),
        length: 1 + int(1 << 20),
        crc: int(2 ** 32),
        stats: [{ n: 3, sum: 1.5, min: 0, max: 1 }],
        step: 10_000,
      } as BlockEntry;
    };
    const plan: ScanPlan = {
      name: 'cpu',
      range: { minTs: 1, maxTs: 2 },
      projection: { fields: ['value'] },
      parts: [0, 1, 300].map((n, age) => ({
        dataPath: `/d/part-${age}/data`,
        schema: { tags: [], fields: [{ name: 'value', type: 'float' }] } as unknown as ScanPlan['parts'][0]['schema'],
        age,
        entries: Array.from({ length: n }, (_, i) => entry(i)),
      })),
    };
    const back = unpackScan(structuredClone(packScan(plan)));
    assert.deepEqual(back, {
      ...plan,
      parts: plan.parts.map((p) => ({
        ...p,
        entries: p.entries.map((e) => {
          const { stats: _s, step: _t, ...location } = e as BlockEntry;
          return location;
        }),
      })),
    });
  });
});
