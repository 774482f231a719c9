/**
 * Block statistics (storage version 3): each block's index entry keeps count, sum, min and max of
 * every field, and an aggregation takes blocks lying wholly inside its range (and bucket) from them
 * instead of decoding them — with the same answer as decoding, on random data with overwrites in
 * later parts, rows still in the memtable, missing values, buckets, criteria and top-N.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Memtable } from '../../actors/data_shard/memtable.js';
import { fieldStats } from '../../storage/block_stats.js';
import type { BlockSchema } from '../../storage/block.js';
import { CorruptDataError } from '../../storage/errors.js';
import { nodeFs } from '../../storage/fs.js';
import { openPart, PART_FILES, writePart, type PartRows } from '../../storage/part.js';
import { splitSummarized } from '../../storage/query/block_summary.js';
import { mergeShardResults } from '../../storage/query/merge.js';
import { singleShardPage } from '../../storage/query/page.js';
import { decode } from '../../transport/codec.js';
import { mergedAnswer } from '../harness/merged_answer.js';
import { planQuery } from '../../storage/query/plan.js';
import { QueryPool } from '../../storage/query/query_pool.js';
import { shardScanQueries, storeQueryAfter, type ShardResult } from '../../storage/query/shard_exec.js';
import { executeOnShard, type ShardSource } from '../../storage/query/shard_run.js';
import { DEFAULT_QUERY_BUDGET_ROWS } from '../../transport/limits.js';
import { ShardStore } from '../../storage/shard_store.js';
import { STORAGE_VERSION } from '../../storage/versions.js';
import type { Group, Measure } from '../../transport/schema_types.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';
import { TestShard } from '../harness/test_shard.js';
import { useTempDir } from '../harness/temp_dir.js';

const T0 = Date.UTC(2024, 4, 1, 10);
const MIN = 60_000;
const GROUP: Group = { name: 'g', catalog: 'measure', shards: 1, segment_interval: '1h', ttl: '3650d', replicas: 1 };
const CPU: Measure = {
  group: 'g',
  name: 'cpu',
  entity: ['host', 'dc'],
  tag_families: [
    {
      name: 'd',
      tags: [
        { name: 'host', type: 'string' },
        { name: 'dc', type: 'int' },
        { name: 'region', type: 'string' },
      ],
    },
  ],
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
};
const HOSTS = ['a', 'b', 'c', 'd', 'e', 'f'];

/** Compares answers: numbers within 1e-9 relative (sums add in another order), everything else exactly. */
function assertSame(got: unknown, want: unknown, ctx: string): void {
  if (typeof want === 'number' && typeof got === 'number') {
    if (got === want) return;
    assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${ctx}: ${got} vs ${want}`);
    return;
  }
  if (Array.isArray(want)) {
    assert.ok(
      Array.isArray(got) && got.length === want.length,
      `${ctx}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`,
    );
    want.forEach((w, i) => assertSame(got[i], w, `${ctx}[${i}]`));
    return;
  }
  if (want !== null && typeof want === 'object') {
    assert.deepEqual(Object.keys(got as object).sort(), Object.keys(want).sort(), ctx);
    for (const k of Object.keys(want))
      assertSame((got as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], `${ctx}.${k}`);
    return;
  }
  assert.equal(got, want, ctx);
}

describe('block statistics', function () {
  this.timeout(60_000);
  const tmp = useTempDir('bstats');
  const rnd = mulberry32(SEED ^ 0xb10c);

  it("format: a version-3 index keeps each block's count, sum, min and max; version 2 has none and reads the same rows", async () => {
    const schema: BlockSchema = {
      fields: [
        { name: 'value', type: 'float' },
        { name: 'count', type: 'int' },
      ],
      tags: [{ name: 'host', type: 'string' }],
    };
    const n = 300;
    const rows: PartRows = {
      seriesIds: Array.from({ length: n }, (_, i) => (i < 200 ? 's1' : 's2')),
      // Evenly spaced, but for one late row in s2's first block.
      timestamps: Float64Array.from({ length: n }, (_, i) => T0 + (i % 200) * 1000 + (i === 230 ? 500 : 0)),
      fields: {
        // Every fifth value missing; s2's are all missing after its first ten.
        value: Float64Array.from({ length: n }, (_, i) =>
          i % 5 === 0 || i >= 210 ? NaN : Math.round(rnd() * 10_000) / 100 - 50,
        ),
        count: Float64Array.from({ length: n }, () => Math.floor(rnd() * 1000)),
      },
      tags: { host: Array.from({ length: n }, (_, i) => (i < 200 ? 'x' : 'y')) },
    };
    const opts = { schema, lastSequence: 1, maxRowsPerBlock: 64 };
    const v3 = join(tmp.path, 'part-1');
    const v2 = join(tmp.path, 'part-2');
    await writePart(nodeFs, v3, rows, { ...opts, formatVersion: STORAGE_VERSION });
    await writePart(nodeFs, v2, rows, { ...opts, formatVersion: '2' });
    assert.ok(Number(STORAGE_VERSION) >= 3, 'the current format keeps statistics');
    const p3 = await openPart(nodeFs, v3);
    const p2 = await openPart(nodeFs, v2);
    try {
      const entries = p3.blocksFor();
      assert.equal(entries.length, Math.ceil(200 / 64) + Math.ceil(100 / 64));
      let at = 0;
      for (const e of entries) {
        const want = schema.fields.map((f) => fieldStats(rows.fields[f.name]!, at, at + e.rowCount));
        assert.deepEqual(e.stats, want, `block ${e.ordinal}`);
        at += e.rowCount;
      }
      assert.ok(
        entries.some((e) => e.stats![0]!.n === 0),
        'a block whose float values are all missing',
      );
      assert.ok(p2.blocksFor().every((e) => e.stats === null && e.step === 0));
      // Steps: 1 s, except s2's first block (uneven).
      assert.deepEqual(
        entries.map((e) => e.step),
        entries.map((e) => (e.seriesId === 's2' && e.minTs === T0 ? 0 : 1000)),
      );
      // A range between two rows of evenly spaced blocks reads nothing; the uneven block and
      // version 2's blocks (no step) are still read, and the rows read are the same.
      const gap = { minTs: T0 + 100_100, maxTs: T0 + 100_900 };
      assert.deepEqual(p3.blocksFor(gap), []);
      assert.equal(p2.blocksFor(gap).length, 1);
      const between = { minTs: T0 + 30_100, maxTs: T0 + 30_900 };
      assert.deepEqual(
        p3.blocksFor(between).map((e) => e.ordinal),
        entries.filter((e) => e.step === 0).map((e) => e.ordinal),
      );
      const rowsIn = async (p: typeof p3, q: { minTs: number; maxTs: number }) =>
        (await p.readBlocks(p.blocksFor(q), undefined, q)).flatMap((b) => [...b.timestamps]);
      for (let k = 0; k < 200; k++) {
        const lo = T0 + Math.floor(rnd() * 210_000) - 5_000;
        const q = { minTs: lo, maxTs: lo + Math.floor(rnd() * 3000) };
        assert.deepEqual(await rowsIn(p3, q), await rowsIn(p2, q), `range ${q.minTs - T0}..${q.maxTs - T0}`);
      }
      const all = async (p: typeof p3) => p.readBlocks(p.blocksFor());
      assert.deepEqual(await all(p2), await all(p3));
    } finally {
      await p3.close();
      await p2.close();
    }
    // A damaged statistic is caught by the index checksum, naming the index file.
    const index = join(v3, PART_FILES.index);
    const bytes = readFileSync(index);
    bytes[bytes.length - 12] = bytes[bytes.length - 12]! ^ 0x40;
    writeFileSync(index, bytes);
    await assert.rejects(
      openPart(nodeFs, v3),
      (e: unknown) => e instanceof CorruptDataError && e.message.includes(index),
    );
  });

  it("splitting: a series' whole blocks fold into one summary per bucket, the sums of theirs", () => {
    const schema: BlockSchema = { fields: [{ name: 'value', type: 'float' }], tags: [] };
    // Series a: five 10-row blocks, one a minute; the fifth sticks out of the range and is decoded.
    const entries = Array.from({ length: 5 }, (_, k) => ({
      ordinal: k,
      seriesId: 'a',
      minTs: k * 60_000,
      maxTs: k * 60_000 + 9_000,
      rowCount: 10,
      offset: k * 100,
      length: 100,
      crc: 0,
      stats: [{ n: 10 - k, sum: k * 10, min: k, max: 10 * k + 1 }],
      step: 1000,
    }));
    const range = { minTs: 0, maxTs: 4 * 60_000 + 5_000 };
    const whole = splitSummarized([{ schema, entries }], range, { fields: ['value'], bucket: null });
    // The fifth block, decoded, carries the series' tag values.
    assert.deepEqual(
      whole.decode[0]!.map((e) => e.ordinal),
      [4],
    );
    assert.deepEqual(whole.summaries.get('a'), [
      { minTs: 0, maxTs: 3 * 60_000 + 9_000, rows: 40, stats: { value: { n: 34, sum: 60, min: 0, max: 31 } } },
    ]);
    // Two-minute buckets: blocks 0, 1 | 2, 3 (each block is inside one bucket).
    const bucketed = splitSummarized([{ schema, entries }], range, {
      fields: ['value'],
      bucket: { every_ms: 120_000, offset_ms: 0 },
    });
    assert.deepEqual(
      bucketed.summaries.get('a')!.map((b) => [b.minTs, b.rows, b.stats.value!.sum]),
      [
        [0, 20, 10],
        [120_000, 20, 50],
      ],
    );
  });

  describe('aggregations from statistics answer as decoding does', () => {
    let shard: TestShard;
    let store: ShardStore;
    let mem: Memtable;
    after(async () => shard?.close());

    const write = (points: { host: string; dc: number; ts: number; value?: number; count: number }[]) =>
      shard.write(
        points.map((p) => ({
          ts: p.ts,
          tags: { host: p.host, dc: p.dc, region: p.host < 'd' ? 'eu' : 'us' },
          fields: (p.value === undefined ? { count: p.count } : { value: p.value, count: p.count }) as Record<
            string,
            number
          >,
        })),
      );
    const flush = () => shard.flush();
    const point = (host: string, dc: number, minute: number) => ({
      host,
      dc,
      ts: T0 + minute * MIN,
      count: Math.floor(rnd() * 100),
      ...(rnd() < 0.9 ? { value: Math.round(rnd() * 10_000) / 100 } : {}),
    });

    before(async () => {
      // Small blocks, so that a query holds many whole ones.
      shard = await TestShard.open(tmp.path, GROUP, CPU, 8);
      ({ store, mem } = shard);
      // Four hours of one point a minute per series, then overwrites in a later part, then rows
      // left in the memtable: blocks they overlap must be decoded and merged.
      const dense = HOSTS.flatMap((h, i) => Array.from({ length: 240 }, (_, m) => point(h, i % 2, m)));
      write(dense);
      await flush();
      write(Array.from({ length: 30 }, () => point(HOSTS[Math.floor(rnd() * 6)]!, 0, Math.floor(rnd() * 240))));
      await flush();
      write(Array.from({ length: 20 }, () => point(HOSTS[Math.floor(rnd() * 6)]!, 1, Math.floor(rnd() * 260))));
    });

    const decoding: ShardSource = {
      memtableScan: (x) => mem.scan(x),
      storePlan: (x) => store.planRead({ ...x, summarize: undefined }),
      track: (p) => store.trackScan(p),
    };
    let summarized = 0; // rows answered from block statistics
    const withStats: ShardSource = {
      memtableScan: (x) => mem.scan(x),
      storePlan: (x) => {
        const r = store.planRead(x);
        for (const list of r.plan.summaries?.values() ?? []) for (const b of list) summarized += b.rows;
        return r;
      },
      track: (p) => store.trackScan(p),
    };

    function randomQuery(): Record<string, unknown> {
      const a = Math.floor(rnd() * 280) - 20;
      const from = T0 + a * MIN + Math.floor(rnd() * 3) * 7_000;
      const to = from + Math.floor(rnd() * 200 + 1) * MIN;
      const fns = [
        { fn: 'count' },
        { fn: 'count', field: 'value' },
        { fn: 'sum', field: 'value' },
        { fn: 'mean', field: 'value' },
        { fn: 'min', field: 'count' },
        { fn: 'max', field: 'value' },
        { fn: 'mean', field: 'count' },
      ];
      const q: Record<string, unknown> = {
        from,
        to,
        group_by: [[], ['host'], ['host', 'dc'], ['dc']][Math.floor(rnd() * 4)],
        aggregations: fns.filter(() => rnd() < 0.5).concat({ fn: 'sum', field: 'count' }),
        limit: 10_000,
      };
      const r = rnd();
      if (r < 0.3) q.bucket = ['5m', '30m', '1h'][Math.floor(rnd() * 3)];
      if (r < 0.1) q.bucket_offset = '2m';
      if (rnd() < 0.3) q.criteria = { tag: 'host', op: rnd() < 0.5 ? 'in' : 'not_in', value: ['a', 'c', 'e'] };
      else if (rnd() < 0.2) q.criteria = { tag: 'dc', op: 'eq', value: 1 };
      if (rnd() < 0.25) q.top = { n: 3, fn: rnd() < 0.5 ? 'max' : 'min', field: 'value', order: 'desc' };
      return q;
    }

    async function answer(q: Record<string, unknown>, src: ShardSource) {
      const { plan } = planQuery('measure', { group: 'g', name: 'cpu', ...q }, CPU);
      return mergedAnswer(mergeShardResults(plan, [await executeOnShard(plan, src)]));
    }

    it('random queries: equal answers, most whole blocks summarized', async () => {
      let decodedBlocks = 0;
      for (let i = 0; i < 300; i++) {
        const q = randomQuery();
        const want = await answer(q, decoding);
        const before = summarized;
        const got = await answer(q, withStats);
        assertSame(got, want, `query ${i}: ${JSON.stringify(q)}`);
        if (summarized > before) decodedBlocks++;
      }
      // The check above would pass trivially if nothing were summarized.
      assert.ok(summarized > 20_000, `${summarized} rows summarized`);
      assert.ok(decodedBlocks > 150, `${decodedBlocks} of 300 queries used statistics`);
    });

    it('not summarized: raw rows, field criteria, group-by a non-entity tag, first/last/percentile/rate', async () => {
      const base = { from: T0, to: T0 + 240 * MIN };
      const plain = [
        { ...base, limit: 100 },
        {
          ...base,
          group_by: ['host'],
          aggregations: [{ fn: 'sum', field: 'value' }],
          criteria: { field: 'count', op: 'gt', value: 50 },
        },
        { ...base, group_by: ['region'], aggregations: [{ fn: 'sum', field: 'value' }] },
        { ...base, group_by: ['host'], aggregations: [{ fn: 'last', field: 'value' }] },
        { ...base, group_by: ['host'], aggregations: [{ fn: 'percentile', field: 'value', p: 90 }] },
        { ...base, group_by: ['host'], aggregations: [{ fn: 'rate', field: 'count' }] },
      ];
      for (const q of plain) {
        const before = summarized;
        assertSame(await answer(q, withStats), await answer(q, decoding), JSON.stringify(q));
        assert.equal(summarized, before, `no statistics for ${JSON.stringify(q)}`);
      }
    });

    it('the query pool summarizes the same blocks and answers like the shard thread', async () => {
      const pool = await QueryPool.create({ threads: 1 });
      try {
        for (let i = 0; i < 40; i++) {
          const q = randomQuery();
          const { plan } = planQuery('measure', { group: 'g', name: 'cpu', ...q }, CPU);
          const inline = await executeOnShard(plan, withStats);
          const sq = shardScanQueries(plan);
          const m = sq.memtable ? mem.scan(sq.memtable) : new Map();
          const scan = sq.store ? store.planScan(storeQueryAfter(sq.store, m)).plan : null;
          const pooled = (await store.trackScan(
            pool.run({ plan, mem: [...m], scan, budgetRows: DEFAULT_QUERY_BUDGET_ROWS }),
          )) as ShardResult;
          assertSame(pooled, inline, `query ${i}: ${JSON.stringify(q)}`);
          // Asked as the only shard, the pool answers with the page the liaison would build.
          const page = {
            schema_revision: 7,
            fingerprint: 'fp',
            limit: 1 << 20,
            encoding: 'msgpack' as const,
            columns: i % 2 === 0,
          };
          const paged = await store.trackScan(
            pool.run({ plan, mem: [...m], scan, budgetRows: DEFAULT_QUERY_BUDGET_ROWS, page }),
          );
          assert.ok(paged instanceof Uint8Array, `query ${i}: a page, not a result`);
          assert.deepEqual(decode(paged), decode(singleShardPage(plan, inline, page)), `query ${i}: page`);
        }
      } finally {
        await pool.destroy();
      }
    });
  });
});
