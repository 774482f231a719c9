/**
 * Aggregating blocks while decoding them (storage/query/block_fold.ts): a folded block gives the
 * statistics its decoded rows give, bucket by bucket, or null when it cannot be folded; and a
 * shard's answers with folding equal those of decoding every block and aggregating the rows —
 * with tags that change inside a series, missing values, buckets, criteria and rows overwritten.
 */
import assert from 'node:assert/strict';
import { Memtable } from '../../actors/data_shard/memtable.js';
import { fieldStats } from '../../storage/block_stats.js';
import { encodeBlock, type BlockRows, type BlockSchema, type TimeRange } from '../../storage/block.js';
import { decodeColumns, readVerifiedBlock } from '../../storage/block_decode.js';
import { encodeFloats, FloatCodec, floatCodecOf } from '../../storage/encoding/index.js';
import { aggregate } from '../../storage/query/aggregate.js';
import {
  foldColumns,
  foldIndexes,
  foldSpec,
  type BlockFold,
  type FoldedBlock,
} from '../../storage/query/block_fold.js';
import { compileCriteria } from '../../storage/query/criteria.js';
import { mergeShardResults } from '../../storage/query/merge.js';
import { bucketStart, planQuery } from '../../storage/query/plan.js';
import { overlaySeries, shardScanQueries } from '../../storage/query/shard_exec.js';
import { executeOnShard, type ShardSource } from '../../storage/query/shard_run.js';
import { runScanPlan, type PartReader } from '../../storage/scan_plan.js';
import { ShardStore } from '../../storage/shard_store.js';
import type { Group } from '../../transport/schema_types.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';
import { mergedAnswer } from '../harness/merged_answer.js';
import { QUERY_CPU } from '../harness/fixtures.js';
import { TestShard } from '../harness/test_shard.js';
import { useTempDir } from '../harness/temp_dir.js';

const rnd = mulberry32(SEED ^ 0xf01d);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

describe('block fold', function () {
  this.timeout(60_000);

  describe('one block: the statistics of its decoded rows, per bucket', () => {
    const SCHEMA: BlockSchema = {
      fields: [
        { name: 'f', type: 'float' },
        { name: 'i', type: 'int' },
      ],
      tags: [
        { name: 's', type: 'string' },
        { name: 'n', type: 'int' },
        { name: 'l', type: 'string[]' },
      ],
    };

    function randomBlock(): BlockRows {
      const n = 1 + Math.floor(rnd() * 300);
      const regular = rnd() < 0.6;
      const step = pick([1, 1000, 10_000, 60_000]);
      const ts = new Float64Array(n);
      let t = 1_700_000_000_000 + Math.floor(rnd() * 1e6);
      for (let k = 0; k < n; k++) ts[k] = t += regular ? step : 1 + Math.floor(rnd() * 2 * step);
      const floatKind = pick(['decimal', 'noisy', 'constant', 'walk', 'counter']);
      let walk = 500; // tenths: a slow walk, stored as deltas
      let counter = 0;
      const nanRate = rnd() < 0.5 ? 0 : 0.1; // a missing value keeps a column off the decimal codecs
      const f = Float64Array.from({ length: n }, () => {
        if (rnd() < nanRate) return NaN;
        if (floatKind === 'decimal') return Math.round(rnd() * 10_000) / 100;
        if (floatKind === 'noisy') return rnd() * 1e6 - 5e5;
        if (floatKind === 'constant') return 7.25;
        if (floatKind === 'counter') return (counter += 25) / 100;
        return (walk += Math.round(rnd() * 20 - 10)) / 10;
      });
      const i = Float64Array.from({ length: n }, () => Math.floor(rnd() * 1000) - 300);
      // Tags: the same in every row, or changing at one row (so constant on one side of it).
      const cut = rnd() < 0.5 ? n : Math.floor(rnd() * n);
      const s = Array.from({ length: n }, (_, k) => (k < cut ? 'eu-west' : 'us-east'));
      const nt = Float64Array.from({ length: n }, (_, k) => (k < cut || rnd() < 0.5 ? 3 : 4));
      const l = Array.from({ length: n }, () => ['x']);
      return { timestamps: ts, fields: { f, i }, tags: { s, n: nt, l } };
    }

    /** A fold as plain arrays. */
    interface PlainFold {
      tags: unknown[];
      starts: number[];
      rows: number[];
      stats: number[][];
    }

    /** A fold's runs as plain arrays (its arrays are the thread's, with room to spare; no run: nothing). */
    const plain = (b: FoldedBlock): PlainFold =>
      b.runs === 0
        ? { tags: [], starts: [], rows: [], stats: [] }
        : {
            tags: [...b.tags],
            starts: [...b.starts.subarray(0, b.runs)],
            rows: [...b.rows.subarray(0, b.runs)],
            stats: b.stats.map((s) => [...s.subarray(0, 4 * b.runs)]),
          };

    /** What folding must give: from the decoded rows in range, null when a folded tag varies or is a list. */
    function expected(rows: BlockRows, fold: BlockFold): PlainFold | null {
      const n = rows.timestamps.length;
      if (n === 0) return { tags: [], starts: [], rows: [], stats: [] };
      const tags: unknown[] = [];
      for (const t of fold.tags) {
        const col = rows.tags[t]!;
        if (!(col instanceof Float64Array) && Array.isArray(col[0])) return null;
        for (let k = 1; k < n; k++) if (col[k] !== col[0]) return null;
        tags.push(col[0]);
      }
      const starts: number[] = [];
      const ends: number[] = [];
      for (let k = 0; k < n; k++) {
        const start = fold.bucket ? bucketStart(fold.bucket, rows.timestamps[k]!) : NaN;
        if (k === 0 || !Object.is(start, starts[starts.length - 1])) {
          starts.push(start);
          ends.push(k + 1);
        } else ends[ends.length - 1] = k + 1;
      }
      const stats = fold.fields.map((f) =>
        ends.flatMap((e, r) => {
          const s = fieldStats(rows.fields[f]!, r === 0 ? 0 : ends[r - 1]!, e);
          return [s.n, s.sum, s.min, s.max];
        }),
      );
      return {
        tags,
        starts,
        rows: ends.map((e, r) => e - (r === 0 ? 0 : ends[r - 1]!)),
        stats,
      };
    }

    it('2,000 random blocks, ranges, buckets and folds: equal to the decoded rows, or null exactly when a tag varies', () => {
      let folded = 0;
      let refused = 0;
      const codecs = new Set<number | undefined>();
      for (let round = 0; round < 2000; round++) {
        const rows = randomBlock();
        codecs.add(floatCodecOf(encodeFloats(rows.fields.f!)));
        const bytes = encodeBlock(rows, SCHEMA);
        const ts = rows.timestamps;
        const span = ts[ts.length - 1]! - ts[0]!;
        const range: TimeRange = {
          minTs: ts[0]! - 5000 + Math.floor(rnd() * (span + 10_000)),
          maxTs: 0,
        };
        range.maxTs = range.minTs + Math.floor(rnd() * span * 1.2);
        const fold: BlockFold = {
          fields: pick([['f'], ['i'], ['f', 'i'], []]),
          tags: pick([[], ['s'], ['n'], ['s', 'n'], ['l']]),
          bucket: rnd() < 0.5 ? null : { every_ms: pick([1, 7_000, 60_000, 3_600_000]), offset_ms: 0 },
        };
        if (fold.bucket && rnd() < 0.5) fold.bucket.offset_ms = Math.floor(rnd() * fold.bucket.every_ms);
        const got = readVerifiedBlock('mem', bytes, SCHEMA, 'block', (h) =>
          foldColumns(bytes, h, foldIndexes(SCHEMA, fold), fold, range),
        );
        const decoded = readVerifiedBlock('mem', bytes, SCHEMA, 'block', (h) =>
          decodeColumns(bytes, h, SCHEMA, undefined, range),
        );
        const want = expected(decoded, fold);
        const ctx = `round ${round}: ${JSON.stringify({ fold, range, n: ts.length })}`;
        if (want === null) {
          assert.equal(got, null, ctx);
          refused++;
          continue;
        }
        assert.ok(got !== null, ctx);
        assert.deepEqual(plain(got), want, ctx);
        if (got.runs > 0) folded++;
      }
      assert.ok(folded > 800 && refused > 200, `${folded} folded, ${refused} refused`);
      // Packed decimals are folded without their values; every other codec through them.
      for (const c of [FloatCodec.packed, FloatCodec.gorilla])
        assert.ok(codecs.has(c), `float codec ${c} among ${[...codecs].join(', ')}`);
    });

    it('a field or tag the block lacks: null (the block is decoded and the column filled)', () => {
      const rows = randomBlock();
      const bytes = encodeBlock(rows, SCHEMA);
      const all = { minTs: -Infinity, maxTs: Infinity };
      const fold = (f: BlockFold) =>
        readVerifiedBlock('mem', bytes, SCHEMA, 'b', (h) => foldColumns(bytes, h, foldIndexes(SCHEMA, f), f, all));
      assert.equal(fold({ fields: ['absent'], tags: [], bucket: null }), null);
      assert.equal(fold({ fields: ['f'], tags: ['absent'], bucket: null }), null);
      assert.notEqual(fold({ fields: ['f'], tags: [], bucket: null }), null);
    });
  });

  describe('a shard: folded answers equal decoded ones', () => {
    const tmp = useTempDir('fold');
    const GROUP: Group = {
      name: 'g',
      catalog: 'measure',
      shards: 1,
      segment_interval: '1h',
      ttl: '3650d',
      replicas: 1,
    };
    const CPU = QUERY_CPU;
    const T0 = Date.UTC(2024, 4, 1, 10);
    const MIN = 60_000;
    const HOSTS = ['a', 'b', 'c', 'd', 'e', 'f'];
    let shard: TestShard;
    let store: ShardStore;
    let mem: Memtable;
    after(async () => shard?.close());

    const point = (host: string, minute: number) => ({
      host,
      ts: T0 + minute * MIN,
      // Host b moves region at minute 100 and host c changes rack every 37 minutes: some blocks
      // hold two values of a tag, and are decoded.
      region: host === 'b' && minute >= 100 ? 'us' : host < 'd' ? 'eu' : 'us',
      rack: host === 'c' ? Math.floor(minute / 37) : 1,
      count: Math.floor(rnd() * 100),
      ...(rnd() < 0.9 ? { value: Math.round(rnd() * 10_000) / 100 } : {}),
    });
    const write = (points: ReturnType<typeof point>[]) =>
      shard.write(
        points.map((p) => ({
          ts: p.ts,
          tags: { host: p.host, region: p.region, rack: p.rack },
          fields: (p.value === undefined ? { count: p.count } : { value: p.value, count: p.count }) as Record<
            string,
            number
          >,
        })),
      );
    const flush = () => shard.flush();

    before(async () => {
      shard = await TestShard.open(tmp.path, GROUP, CPU, 16);
      ({ store, mem } = shard);
      // Four hours a point a minute (host f every 17 s: irregular within a block), overwrites of
      // host a in a later part, and rows of host e left in the memtable.
      write(HOSTS.flatMap((h) => Array.from({ length: 240 }, (_, m) => point(h, h === 'f' ? (m * 17) / 60 : m))));
      await flush();
      write(Array.from({ length: 30 }, () => point('a', Math.floor(rnd() * 240))));
      await flush();
      write(Array.from({ length: 20 }, () => point('e', Math.floor(rnd() * 260))));
    });

    function randomQuery(): Record<string, unknown> {
      const from = T0 + (Math.floor(rnd() * 280) - 20) * MIN + Math.floor(rnd() * 3) * 7_000;
      const fns = [
        { fn: 'count' },
        { fn: 'count', field: 'value' },
        { fn: 'sum', field: 'value' },
        { fn: 'mean', field: 'value' },
        { fn: 'min', field: 'count' },
        { fn: 'max', field: 'value' },
      ];
      const q: Record<string, unknown> = {
        from,
        to: from + Math.floor(rnd() * 200 + 1) * MIN,
        group_by: pick([[], ['region'], ['host'], ['rack', 'region']]),
        aggregations: fns.filter(() => rnd() < 0.5).concat({ fn: 'sum', field: 'count' }),
        limit: 10_000,
      };
      if (rnd() < 0.5) q.bucket = pick(['1m', '5m', '7m', '1h']);
      if (rnd() < 0.3) q.criteria = { tag: pick(['region', 'host']), op: 'in', value: ['eu', 'a', 'c'] };
      else if (rnd() < 0.2) q.criteria = { tag: 'rack', op: 'ne', value: 2 };
      if (rnd() < 0.2) q.top = { n: 2, fn: 'max', field: 'value', order: 'desc' };
      return q;
    }

    /** The decoded way: every planned block read whole-row and merged, the memtable laid over, then aggregated. */
    async function decodedAnswer(plan: ReturnType<typeof planQuery>['plan']) {
      const sq = shardScanQueries(plan);
      const m = sq.memtable ? mem.scan(sq.memtable) : new Map<string, BlockRows>();
      const { plan: scan, read } = store.planRead({ ...sq.store!, summarize: undefined });
      const series = overlaySeries(plan, m, await store.trackScan(runScanPlan(scan, read)));
      const match = plan.criteria && compileCriteria(plan.criteria, plan.tag_types);
      return mergedAnswer(mergeShardResults(plan, [{ groups: aggregate(plan, series, match) }]));
    }

    const close = (got: unknown, want: unknown, ctx: string): void => {
      if (typeof want === 'number' && typeof got === 'number')
        return assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${ctx}: ${got} vs ${want}`);
      if (want === null || typeof want !== 'object') return assert.equal(got, want, ctx);
      assert.deepEqual(Object.keys(got as object), Object.keys(want), ctx);
      for (const [k, v] of Object.entries(want)) close((got as Record<string, unknown>)[k], v, `${ctx}.${k}`);
    };

    it('300 random aggregations: equal answers, most blocks folded, the varying ones decoded', async () => {
      let folded = 0;
      let decoded = 0;
      const counting: ShardSource = {
        memtableScan: (x) => mem.scan(x),
        storePlan: (x) => {
          const r = store.planRead(x);
          const read: PartReader = async (part, i, decode) => {
            const out = await r.read(part, i, decode);
            // A folded block is aggregated as it is read and comes back null; others come back decoded.
            for (const b of out) {
              if (b === null) folded++;
              else decoded++;
            }
            return out;
          };
          return { plan: r.plan, read };
        },
        track: (p) => store.trackScan(p),
      };
      let foldable = 0;
      for (let i = 0; i < 300; i++) {
        const q = randomQuery();
        const { plan } = planQuery('measure', { group: 'g', name: 'cpu', ...q }, CPU);
        if (foldSpec(plan)) foldable++;
        const got = mergedAnswer(mergeShardResults(plan, [await executeOnShard(plan, counting)]));
        close(got, await decodedAnswer(plan), `query ${i}: ${JSON.stringify(q)}`);
      }
      assert.equal(foldable, 300, 'every query is one a fold answers');
      assert.ok(folded > 2000 && decoded > 100, `${folded} blocks folded, ${decoded} decoded`);
    });

    it('not folded: field criteria, first/last/percentile/rate, raw rows', () => {
      const base = { group: 'g', name: 'cpu', from: T0, to: T0 + 60 * MIN };
      const plan = (q: Record<string, unknown>) => planQuery('measure', { ...base, ...q }, CPU).plan;
      const sum = [{ fn: 'sum', field: 'value' }];
      assert.notEqual(foldSpec(plan({ group_by: ['region'], aggregations: sum })), null);
      assert.equal(
        foldSpec(plan({ group_by: ['region'], aggregations: sum, criteria: { field: 'count', op: 'gt', value: 5 } })),
        null,
      );
      for (const fn of ['first', 'last', 'rate'])
        assert.equal(foldSpec(plan({ aggregations: [{ fn, field: 'count' }] })), null);
      assert.equal(foldSpec(plan({ aggregations: [{ fn: 'percentile', field: 'count', p: 50 }] })), null);
      assert.equal(foldSpec(plan({ limit: 10 })), null);
    });
  });
});
