/**
 * The query engine (plan → shard execution over memtable + parts → merge) against a plain
 * reference model: random writes (with overwrites) over two shards, part of them flushed to parts
 * and part left in memtables, then random queries — raw rows with criteria, projections, order,
 * offset and limit; groups with aggregations and top-N — must give exactly the model's answer.
 * Also: plan validation codes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Memtable } from '../../actors/data_shard/memtable.js';
import { seriesId } from '../../storage/series_id.js';
import type { WalRecord } from '../../transport/wal_record.js';
import { decode, encode } from '../../transport/codec.js';
import { plainColumns } from '../../transport/packed_columns.js';
import type { RowColumns } from '../../transport/query_types.js';
import { mergeShardResults } from '../../storage/query/merge.js';
import { rowColumns } from '../../storage/query/row_answer.js';
import { mergedAnswer } from '../harness/merged_answer.js';
import { fitShardRows, replyPage } from '../../storage/query/page.js';
import { sliceRows } from '../../storage/query/shard_rows.js';
import { planQuery } from '../../storage/query/plan.js';
import { shardScanQueries, storeQueryAfter, type ShardResult } from '../../storage/query/shard_exec.js';
import { executeOnShard, shardSource } from '../../storage/query/shard_run.js';
import { DEFAULT_QUERY_BUDGET_ROWS } from '../../transport/limits.js';
import { QueryPool } from '../../storage/query/query_pool.js';
import { systemClock } from '../../runtime/clock.js';
import { nodeFs } from '../../storage/fs.js';
import { ShardStore } from '../../storage/shard_store.js';
import type { Group, Measure } from '../../transport/schema_types.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';
import { QUERY_CPU } from '../harness/fixtures.js';
import { useTempDir } from '../harness/temp_dir.js';
import { rowsOfColumns } from '../../transport/row_columns.js';

const T0 = Date.UTC(2024, 4, 1, 10);
const MIN = 60_000;
const GROUP: Group = { name: 'g', catalog: 'measure', shards: 2, segment_interval: '1h', ttl: '3650d', replicas: 1 };
const CPU = QUERY_CPU;
const HOSTS = Array.from({ length: 12 }, (_, i) => `h${i}`);
const regionOf = (h: string) => ['eu', 'us', 'ap'][Number(h.slice(1)) % 3]!;
const rackOf = (h: string) => Number(h.slice(1)) % 2;

type Point = { host: string; ts: number; value?: number; count: number };

/** A tag column as a reply carries it in JSON: each distinct value once, in the order first met, and a code per row. */
function dictionary<T>(col: T[]): { values: T[]; codes: number[] } {
  const values: T[] = [];
  const codes = col.map((v) => {
    const at = values.indexOf(v);
    return at >= 0 ? at : values.push(v) - 1;
  });
  return { values, codes };
}

describe('query engine against a reference model', function () {
  this.timeout(60_000);
  const shards: { mem: Memtable; store: ShardStore; seq: number }[] = [];
  const truth = new Map<string, Point>();
  const rnd = mulberry32(SEED ^ 0x5eed);

  // Registered before the temp dir: hooks of one kind run in order, so stores close before it goes.
  after(async () => {
    for (const s of shards) await s.store.close();
  });
  const tmp = useTempDir('qe');

  before(async () => {
    for (let s = 0; s < 2; s++) {
      const store = await ShardStore.open(nodeFs, join(tmp.path, `shard-${s}`), { clock: systemClock });
      shards.push({ store, seq: 0, mem: new Memtable({ group: GROUP, resolve: () => CPU }) });
    }
    // Three rounds of writes; the first two are flushed to parts, the last stays in memtables.
    for (let round = 0; round < 3; round++) {
      const points: Point[] = [];
      for (let i = 0; i < 400; i++) {
        const host = HOSTS[Math.floor(rnd() * HOSTS.length)]!;
        const ts = T0 + Math.floor(rnd() * 180) * MIN; // three one-hour segments; overwrites likely
        const p: Point = { host, ts, count: Math.floor(rnd() * 100) };
        if (rnd() < 0.9) p.value = Math.round(rnd() * 10_000) / 100;
        points.push(p);
      }
      for (const p of points) truth.set(`${p.host}@${p.ts}`, p);
      for (let s = 0; s < 2; s++) {
        const mine = points.filter(
          (p) => Number.parseInt(seriesId('measure', 'cpu', JSON.stringify([p.host])).slice(-2), 16) % 2 === s,
        );
        const sh = shards[s]!;
        for (let k = 0; k < mine.length; k += 50) {
          const chunk = mine.slice(k, k + 50);
          const record: WalRecord = {
            kind: 'measure',
            group: 'g',
            name: 'cpu',
            revision: 1,
            batch_id: `b${round}.${k}`,
            rows: chunk.map((p) => ({
              ts: p.ts,
              tags: { host: p.host, region: regionOf(p.host), rack: rackOf(p.host) },
              fields: p.value === undefined ? { count: p.count } : { value: p.value, count: p.count },
            })),
            entity_keys: chunk.map((p) => JSON.stringify([p.host])),
          };
          sh.mem.apply(record, ++sh.seq);
        }
        if (round < 2) {
          const batches = sh.mem.drainAll();
          await sh.store.flush(batches, sh.seq);
          sh.mem.resetAfterFlush(sh.seq);
        }
      }
    }
  });

  async function merged(q: Record<string, unknown>) {
    const { plan } = planQuery('measure', { group: 'g', name: 'cpu', ...q }, CPU);
    const results: ShardResult[] = [];
    for (const s of shards)
      results.push(
        await executeOnShard(
          plan,
          shardSource((x) => s.mem.scan(x), s.store),
        ),
      );
    return mergeShardResults(plan, results);
  }
  const run = async (q: Record<string, unknown>) => mergedAnswer(await merged(q));

  type Cond =
    | { tag: string; op: string; value: unknown }
    | { field: string; op: string; value: number }
    | { and: Cond[] }
    | { or: Cond[] };
  const tagsOf = (p: Point) =>
    ({ host: p.host, region: regionOf(p.host), rack: rackOf(p.host) }) as Record<string, unknown>;
  function matches(c: Cond | undefined, p: Point): boolean {
    if (!c) return true;
    if ('and' in c) return c.and.every((x) => matches(x, p));
    if ('or' in c) return c.or.some((x) => matches(x, p));
    if ('field' in c) {
      const f = c.field === 'value' ? p.value : p.count;
      if (f === undefined) return false; // a missing value matches no field condition
      const ops: Record<string, boolean> = {
        eq: f === c.value,
        ne: f !== c.value,
        gt: f > c.value,
        ge: f >= c.value,
        lt: f < c.value,
        le: f <= c.value,
      };
      return ops[c.op]!;
    }
    const v = tagsOf(p)[c.tag];
    const vals = Array.isArray(c.value) ? c.value : [c.value];
    const hit = vals.includes(v);
    return c.op === 'eq' || c.op === 'in' ? hit : !hit;
  }
  function randomCriteria(): Cond | undefined {
    const leaf = (): Cond => {
      const r = rnd();
      if (r < 0.3) return { tag: 'host', op: 'eq', value: HOSTS[Math.floor(rnd() * HOSTS.length)] };
      if (r < 0.5) return { tag: 'host', op: 'in', value: HOSTS.filter(() => rnd() < 0.4).concat('h0') };
      if (r < 0.7)
        return { tag: 'region', op: rnd() < 0.5 ? 'ne' : 'eq', value: ['eu', 'us', 'ap'][Math.floor(rnd() * 3)] };
      if (r < 0.8) return { tag: 'rack', op: 'not_in', value: [Math.floor(rnd() * 2)] };
      if (r < 0.9) {
        const op = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'][Math.floor(rnd() * 6)]!;
        // count is an int 0–99 (equality hits), value a 2-decimal float (ranges)
        return rnd() < 0.5
          ? { field: 'count', op, value: Math.floor(rnd() * 100) }
          : { field: 'value', op, value: Math.round(rnd() * 10_000) / 100 };
      }
      return { tag: 'region', op: 'in', value: ['eu', 'ap'] };
    };
    const r = rnd();
    if (r < 0.2) return undefined;
    if (r < 0.6) return leaf();
    return rnd() < 0.5 ? { and: [leaf(), leaf()] } : { or: [leaf(), leaf()] };
  }
  const randomRange = () => {
    const a = T0 + Math.floor(rnd() * 200 - 10) * MIN;
    const b = a + Math.floor(rnd() * 120) * MIN;
    return { from: a, to: b };
  };

  /** The model's value of one aggregation over the points of a group (`seconds`: the rate's divisor). */
  const sidOf = (p: Point) => seriesId('measure', 'cpu', JSON.stringify([p.host]));
  type Agg = { fn: string; field?: string; p?: number };
  function refAgg(a: Agg, ps: Point[], seconds: number): number | null {
    const of = (p: Point) => (a.field === 'value' ? p.value : p.count);
    if (a.fn === 'count' && a.field === undefined) return ps.length;
    const withValue = ps.filter((p) => of(p) !== undefined);
    const vs = withValue.map((p) => of(p)!);
    if (a.fn === 'count') return vs.length;
    if (a.fn === 'rate') {
      let inc = 0;
      let pairs = 0;
      for (const host of new Set(withValue.map((p) => p.host))) {
        const series = withValue.filter((p) => p.host === host).sort((x, y) => x.ts - y.ts);
        for (let k = 1; k < series.length; k++) {
          const [u, v] = [of(series[k - 1]!)!, of(series[k]!)!];
          inc += v >= u ? v - u : v;
          pairs++;
        }
      }
      return pairs === 0 ? null : inc / seconds;
    }
    if (vs.length === 0) return null;
    if (a.fn === 'first' || a.fn === 'last') {
      const sign = a.fn === 'first' ? 1 : -1;
      const best = [...withValue].sort(
        (x, y) => sign * (x.ts - y.ts) || (sidOf(x) < sidOf(y) ? -1 : sidOf(x) > sidOf(y) ? 1 : 0),
      )[0]!;
      return of(best)!;
    }
    if (a.fn === 'percentile') return [...vs].sort((x, y) => x - y)[Math.floor((a.p! / 100) * (vs.length - 1))]!;
    if (a.fn === 'sum') return vs.reduce((x, y) => x + y, 0);
    if (a.fn === 'min') return Math.min(...vs);
    if (a.fn === 'max') return Math.max(...vs);
    return vs.reduce((x, y) => x + y, 0) / vs.length;
  }
  /** Sums differ in the last bits with the order of addition; a percentile is within 1% of its rank's value. */
  function assertClose(fn: string, got: number | null | undefined, want: number | null, ctx: string): void {
    if (want === null || got === null || got === undefined) return assert.equal(got, want, ctx);
    const tol = fn === 'percentile' ? 0.01 * Math.abs(want) + 1e-12 : 1e-9 * Math.max(1, Math.abs(want));
    assert.ok(Math.abs(got - want) <= tol, `${ctx}: ${got} vs ${want}`);
  }
  const colOf = (a: Agg) => (a.fn === 'percentile' ? `p${a.p}(${a.field})` : a.field ? `${a.fn}(${a.field})` : 'count');

  it('raw rows: criteria, projections, order, offset and limit', async () => {
    for (let i = 0; i < 150; i++) {
      const { from, to } = randomRange();
      const criteria = randomCriteria();
      const order = rnd() < 0.5 ? 'asc' : 'desc';
      const offset = Math.floor(rnd() * 20);
      const limit = Math.floor(rnd() * 60);
      const countOnly = rnd() < 0.5;
      const sid = (p: Point) => seriesId('measure', 'cpu', JSON.stringify([p.host]));
      let want = [...truth.values()].filter((p) => p.ts >= from && p.ts < to && matches(criteria, p));
      want.sort((a, b) => a.ts - b.ts || (sid(a) < sid(b) ? -1 : sid(a) > sid(b) ? 1 : 0));
      if (order === 'desc') want.reverse();
      const all = want.length;
      want = want.slice(offset, offset + limit);
      const m = await merged({
        from,
        to,
        criteria,
        order,
        offset,
        limit,
        tag_projection: ['host', 'rack'],
        // Without value in the projection, a criteria on value still reads it.
        field_projection: countOnly ? ['count'] : ['count', 'value'],
      });
      const got = mergedAnswer(m);
      const ctx = `query ${i}: ${JSON.stringify({ from, to, criteria, order, offset, limit })}`;
      assert.ok('rows' in got && 'rows' in m, ctx);
      // The same rows as columns, in JSON's form (null for a missing value).
      assert.deepEqual(
        rowColumns(m.rows, m.rows.part.length, 'json'),
        {
          ts: want.map((p) => p.ts),
          tags: { host: dictionary(want.map((p) => p.host)), rack: dictionary(want.map((p) => rackOf(p.host))) },
          fields: countOnly
            ? { count: want.map((p) => p.count) }
            : { count: want.map((p) => p.count), value: want.map((p) => p.value ?? null) },
        },
        ctx,
      );
      // Packed for msgpack, they come back as the very values of the plain columns.
      const n = m.rows.part.length;
      const packed = decode(encode(rowColumns(m.rows, n, 'msgpack', true))) as RowColumns;
      assert.deepEqual(plainColumns(packed), rowColumns(m.rows, n, 'msgpack'), `${ctx}: packed columns`);
      assert.deepEqual(rowColumns(m.rows, n, 'json', true), rowColumns(m.rows, n, 'json'), `${ctx}: JSON never packs`);
      assert.deepEqual(
        got.rows,
        want.map((p) => ({
          ts: p.ts,
          tags: { host: p.host, rack: rackOf(p.host) },
          fields: countOnly ? { count: p.count } : { count: p.count, value: p.value ?? null },
        })),
        ctx,
      );
      assert.equal(got.has_more, all > offset + limit, `${ctx}: has_more`);
    }
  });

  it('groups: group_by with count/sum/min/max/mean and top-N', async () => {
    for (let i = 0; i < 150; i++) {
      const { from, to } = randomRange();
      const criteria = randomCriteria();
      const by = [['region'], ['host'], ['rack', 'region'], null][Math.floor(rnd() * 4)]!;
      const top =
        rnd() < 0.4
          ? {
              n: 1 + Math.floor(rnd() * 4),
              fn: ['max', 'min', 'sum', 'count'][Math.floor(rnd() * 4)]!,
              field: 'value',
              order: rnd() < 0.5 ? 'asc' : 'desc',
            }
          : undefined;
      const aggs: Agg[] = [
        { fn: 'count' },
        { fn: 'sum', field: 'count' },
        { fn: 'mean', field: 'value' },
        { fn: 'min', field: 'value' },
        { fn: 'max', field: 'count' },
        { fn: 'first', field: 'value' },
        { fn: 'last', field: 'count' },
        { fn: 'percentile', field: 'value', p: [50, 90, 99, 100][Math.floor(rnd() * 4)]! },
        { fn: 'rate', field: 'count' },
      ];
      const groupBy = by ?? (top ? ['host'] : []);
      const rows = [...truth.values()].filter((p) => p.ts >= from && p.ts < to && matches(criteria, p));
      const groups = new Map<string, Point[]>();
      for (const p of rows) {
        const k = JSON.stringify(groupBy.map((t) => tagsOf(p)[t]));
        groups.set(k, [...(groups.get(k) ?? []), p]);
      }
      if (groupBy.length === 0 && groups.size === 0) groups.set('[]', []);
      const value = (fn: string, field: string | undefined, ps: Point[]) =>
        refAgg({ fn, field }, ps, (to - from) / 1000);
      const cmpKey = (a: string, b: string) => {
        const x = JSON.parse(a) as (string | number)[];
        const y = JSON.parse(b) as (string | number)[];
        for (let j = 0; j < x.length; j++)
          if (x[j] !== y[j])
            return typeof x[j] === 'number' ? (x[j] as number) - (y[j] as number) : x[j]! < y[j]! ? -1 : 1;
        return 0;
      };
      let keys = [...groups.keys()].sort(cmpKey);
      const allAggs =
        top && !aggs.some((a) => a.fn === top.fn && a.field === top.field)
          ? [...aggs, { fn: top.fn, field: top.field }]
          : aggs;
      if (top) {
        const v = (k: string) => value(top.fn, top.field, groups.get(k)!);
        keys = keys
          .sort((a, b) => {
            const x = v(a);
            const y = v(b);
            if (x === null || y === null) return x === y ? cmpKey(a, b) : x === null ? 1 : -1;
            return (top.order === 'desc' ? y - x : x - y) || cmpKey(a, b);
          })
          .slice(0, top.n);
      }
      const want = keys.map((k) => ({
        tags: Object.fromEntries(groupBy.map((t, j) => [t, (JSON.parse(k) as unknown[])[j]])),
        values: Object.fromEntries(allAggs.map((a) => [colOf(a), refAgg(a, groups.get(k)!, (to - from) / 1000)])),
      }));
      const q = { from, to, criteria, aggregations: aggs, ...(by ? { group_by: by } : {}), ...(top ? { top } : {}) };
      const got = (await run(q)) as unknown as { groups: { tags: unknown; values: Record<string, number | null> }[] };
      // Sums of floats may differ in the last bits with the order of addition.
      assert.equal(got.groups.length, want.length, `query ${i}: ${JSON.stringify(q)}`);
      got.groups.forEach((g, j) => {
        assert.deepEqual(g.tags, want[j]!.tags, `query ${i} group ${j}: ${JSON.stringify(q)}`);
        for (const a of allAggs)
          assertClose(a.fn, g.values[colOf(a)], want[j]!.values[colOf(a)]!, `query ${i} ${colOf(a)}`);
      });
    }
  });

  it('buckets: per (group_by tags, bucket) aggregates, offsets, fill null, order and top-N over buckets', async () => {
    for (let i = 0; i < 150; i++) {
      const { from, to } = randomRange();
      const criteria = randomCriteria();
      const everyMin = [1, 7, 30, 60][Math.floor(rnd() * 4)]!;
      const offsetMin = rnd() < 0.5 ? 0 : Math.floor(rnd() * 90) - 30; // may exceed the width, or be negative
      const fill = rnd() < 0.3;
      const order = rnd() < 0.3 ? 'desc' : 'asc';
      const by = [['region'], ['host'], []][Math.floor(rnd() * 3)]!;
      const top = !fill && rnd() < 0.3 ? { n: 1 + Math.floor(rnd() * 5), fn: 'max', field: 'count' } : undefined;
      const every = everyMin * MIN;
      const shift = (((offsetMin * MIN) % every) + every) % every;
      const startOf = (ts: number) => Math.floor((ts - shift) / every) * every + shift;
      const aggs: Agg[] = [
        { fn: 'count' },
        { fn: 'mean', field: 'value' },
        { fn: 'max', field: 'count' },
        { fn: 'first', field: 'count' },
        { fn: 'last', field: 'value' },
        { fn: 'percentile', field: 'count', p: 95 },
        { fn: 'rate', field: 'count' },
      ];
      const aggOf = (fn: string, field: string | undefined, ps: Point[]) => refAgg({ fn, field }, ps, every / 1000);
      const rows = [...truth.values()].filter((p) => p.ts >= from && p.ts < to && matches(criteria, p));
      const groups = new Map<string, { tags: unknown[]; ts: number; ps: Point[] }>();
      const add = (tags: unknown[], ts: number, p?: Point) => {
        const k = JSON.stringify([...tags, ts]);
        const g = groups.get(k) ?? { tags, ts, ps: [] };
        if (p) g.ps.push(p);
        groups.set(k, g);
      };
      for (const p of rows)
        add(
          by.map((t) => tagsOf(p)[t]),
          startOf(p.ts),
          p,
        );
      if (fill && to > from) {
        const prefixes = new Map<string, unknown[]>(by.length === 0 ? [['[]', []]] : []);
        for (const g of groups.values()) prefixes.set(JSON.stringify(g.tags), g.tags);
        for (const t of prefixes.values()) for (let b = startOf(from); b < to; b += every) add(t, b);
      }
      const cmpTags = (a: unknown[], b: unknown[]) => {
        for (let j = 0; j < a.length; j++)
          if (a[j] !== b[j])
            return typeof a[j] === 'number'
              ? (a[j] as number) - (b[j] as number)
              : String(a[j]) < String(b[j])
                ? -1
                : 1;
        return 0;
      };
      let list = [...groups.values()].sort(
        (a, b) => cmpTags(a.tags, b.tags) || (order === 'desc' ? b.ts - a.ts : a.ts - b.ts),
      );
      if (top) {
        const v = (g: (typeof list)[number]) => aggOf(top.fn, top.field, g.ps)!;
        list = [...groups.values()]
          .sort((a, b) => v(b) - v(a) || cmpTags([...a.tags, a.ts], [...b.tags, b.ts]))
          .slice(0, top.n);
      }
      const q = {
        from,
        to,
        criteria,
        order,
        aggregations: aggs,
        group_by: by,
        bucket: `${everyMin}m`,
        ...(offsetMin !== 0 ? { bucket_offset: `${offsetMin < 0 ? 0 : offsetMin}m` } : {}),
        ...(fill ? { fill: 'null' } : {}),
        ...(top ? { top } : {}),
        limit: 100_000,
      };
      // A negative offset has no duration form: the model used it, so ask with its positive twin.
      if (offsetMin < 0) q.bucket_offset = `${(((offsetMin % everyMin) + everyMin) % everyMin) as number}m`;
      const got = (await run(q)) as unknown as {
        groups: { ts: number; tags: Record<string, unknown>; values: Record<string, number | null> }[];
      };
      const ctx = `query ${i}: ${JSON.stringify(q)}`;
      assert.equal(got.groups.length, list.length, ctx);
      got.groups.forEach((g, j) => {
        const w = list[j]!;
        assert.equal(g.ts, w.ts, `${ctx} group ${j}`);
        assert.deepEqual(g.tags, Object.fromEntries(by.map((t, k) => [t, w.tags[k]])), `${ctx} group ${j}`);
        for (const a of aggs)
          assertClose(a.fn, g.values[colOf(a)], refAgg(a, w.ps, every / 1000), `${ctx} ${colOf(a)}`);
      });
    }
    // Validation: a bucket needs aggregations; fill needs a bucket; too many buckets is refused.
    const bad = (q: Record<string, unknown>, field: string) =>
      assert.throws(
        () => planQuery('measure', { group: 'g', name: 'cpu', from: T0, to: T0 + MIN, ...q }, CPU),
        (e: Error & { code?: string; details?: { field?: string } }) =>
          e.code === 'InvalidArgument' && e.details?.field === field,
      );
    bad({ bucket: '1m' }, 'bucket');
    bad({ fill: 'null', aggregations: [{ fn: 'count' }] }, 'fill');
    bad({ bucket: '1m', fill: 'zero', aggregations: [{ fn: 'count' }] }, 'fill');
    bad({ bucket: 'soon', aggregations: [{ fn: 'count' }] }, 'bucket');
    bad({ bucket: '1ms', aggregations: [{ fn: 'count' }], to: T0 + 7 * 86_400_000 }, 'bucket');
  });

  it('top-N over groups keyed by part of a two-tag entity: a group spanning shards is ranked whole', async () => {
    const m2: Measure = { ...CPU, name: 'm2', entity: ['host', 'region'] };
    const mems = [0, 1].map(() => new Memtable({ group: GROUP, resolve: () => m2 }));
    const put = (s: number, host: string, region: string, value: number) =>
      mems[s]!.apply(
        {
          kind: 'measure',
          group: 'g',
          name: 'm2',
          revision: 1,
          batch_id: `${host}${region}`,
          rows: [{ ts: T0, tags: { host, region, rack: 0 }, fields: { value, count: 1 } }],
          entity_keys: [JSON.stringify([host, region])],
        },
        1,
      );
    // h1 lives on both shards (two series): 10 + 10; h2 on one: 15.
    put(0, 'h1', 'eu', 10);
    put(1, 'h1', 'us', 10);
    put(0, 'h2', 'eu', 15);
    const { plan } = planQuery(
      'measure',
      {
        group: 'g',
        name: 'm2',
        from: T0,
        to: T0 + MIN,
        group_by: ['host'],
        aggregations: [{ fn: 'sum', field: 'value' }],
        top: { n: 1, fn: 'sum', field: 'value' },
      },
      m2,
    );
    const results = await Promise.all(
      mems.map((mem) =>
        executeOnShard(plan, {
          memtableScan: (x) => mem.scan(x),
          storePlan: (x) => ({
            plan: { name: x.schemaName, parts: [], range: x },
            read: async () => [],
          }),
          track: (p) => p,
        }),
      ),
    );
    assert.deepEqual(mergeShardResults(plan, results), {
      groups: [{ tags: { host: 'h1' }, values: { 'sum(value)': 20 } }],
      has_more: false,
      offset: 0,
    });
  });

  it('pages: cursors walk the whole answer in order, also when shards and replies are cut to a byte limit', async () => {
    for (let i = 0; i < 40; i++) {
      const { from, to } = randomRange();
      const criteria = randomCriteria();
      const order = rnd() < 0.5 ? 'asc' : 'desc';
      const grouped = i % 3 === 2;
      const base = grouped
        ? { from, to, criteria, group_by: ['host'], aggregations: [{ fn: 'count' }], bucket: '10m' }
        : { from, to, criteria, order, tag_projection: ['host'], field_projection: ['count'] };
      const pageSize = 1 + Math.floor(rnd() * 40);
      const shardBytes = [300, 1500, 1e9][Math.floor(rnd() * 3)]!;
      const replyBytes = [400, 2000, 1e9][Math.floor(rnd() * 3)]!;
      const columns = grouped ? false : ([false, true, 'packed'] as const)[Math.floor(rnd() * 3)]!;
      // The whole answer in one go.
      const whole = await run({ ...base, limit: 100_000 });
      const want = 'rows' in whole ? whole.rows : whole.groups;
      // Page by page, each shard and each reply within its byte limit.
      const got: unknown[] = [];
      let cursor: string | undefined;
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 2000, 'paging ends');
        const planned = planQuery('measure', { group: 'g', name: 'cpu', ...base, limit: pageSize, cursor }, CPU);
        const results: ShardResult[] = [];
        for (const sh of shards) {
          const r = await executeOnShard(
            planned.plan,
            shardSource((x) => sh.mem.scan(x), sh.store),
          );
          results.push(r.rows ? { rows: fitShardRows(r.rows, shardBytes) } : r);
        }
        const { reply, bytes } = replyPage(
          mergeShardResults(planned.plan, results),
          { missing_shards: [], schema_revision: 1 },
          planned.fingerprint,
          replyBytes,
          'msgpack',
          columns,
        );
        assert.deepEqual(decode(bytes), reply, 'the bytes sent are the reply');
        got.push(...(reply.rows ?? (reply.columns ? rowsOfColumns('measure', reply.columns) : reply.groups!)));
        if (!reply.has_more) break;
        assert.ok(reply.cursor, 'a page with more after it has a cursor');
        cursor = reply.cursor;
      }
      assert.deepEqual(got, want, `query ${i}: ${JSON.stringify({ base, pageSize, shardBytes, replyBytes, columns })}`);
    }
    // A cursor of another query, or with offset, is refused.
    const first = await merged({ from: T0, to: T0 + 3 * 3_600_000, limit: 1 });
    assert.equal(first.has_more, true);
    const planned = planQuery('measure', { group: 'g', name: 'cpu', from: T0, to: T0 + 3 * 3_600_000, limit: 1 }, CPU);
    const c = replyPage(first, { missing_shards: [], schema_revision: 1 }, planned.fingerprint, 1e9, 'json').reply
      .cursor!;
    const refuse = (q: Record<string, unknown>, re: RegExp) =>
      assert.throws(() => planQuery('measure', { group: 'g', name: 'cpu', from: T0, to: T0 + 1, ...q }, CPU), re);
    refuse({ to: T0 + 3 * 3_600_000, cursor: c, offset: 2 }, /cursor: and offset page the same answer/);
    refuse({ cursor: c }, /cursor: belongs to another query/);
    refuse({ cursor: 'nonsense' }, /cursor: is not a cursor a reply gave/);
  });

  it("one shard's rows: the same page as merging them with an empty shard's", async () => {
    for (let i = 0; i < 60; i++) {
      const { from, to } = randomRange();
      const q = {
        from,
        to,
        criteria: randomCriteria(),
        order: rnd() < 0.5 ? 'asc' : 'desc',
        offset: Math.floor(rnd() * 20),
        limit: Math.floor(rnd() * 40),
        tag_projection: ['host', 'rack'],
      };
      const planned = planQuery('measure', { group: 'g', name: 'cpu', ...q }, CPU);
      const sh = shards[i % 2]!;
      const r = await executeOnShard(
        planned.plan,
        shardSource((x) => sh.mem.scan(x), sh.store),
      );
      const rows = fitShardRows(r.rows!, [300, 1e9][Math.floor(rnd() * 2)]!);
      const empty = { ...sliceRows(rows, 0), truncated: false };
      const columns = ([false, true, 'packed'] as const)[i % 3]!;
      const page = (results: ShardResult[]) =>
        replyPage(
          mergeShardResults(planned.plan, results),
          { missing_shards: [], schema_revision: 1 },
          'fp',
          1e9,
          'msgpack',
          columns,
        ).reply;
      const ctx = `query ${i}: ${JSON.stringify({ ...q, truncated: rows.truncated === true, columns })}`;
      assert.deepEqual(page([{ rows }]), page([{ rows }, { rows: empty }]), ctx);
    }
  });

  it('a small memory budget: answers read in time windows equal the whole read', async () => {
    // 30 rows at once (the test's shards hold ~600 rows each): most queries are cut into windows.
    const BUDGET = 30;
    // Reads of a part: a windowed answer reads a part once per window with blocks in it.
    let reads = 0;
    let windowed = 0;
    const runWith = async (plan: ReturnType<typeof planQuery>['plan'], budget: number) => {
      const results: ShardResult[] = [];
      for (const s of shards) {
        const src = shardSource((x) => s.mem.scan(x), s.store);
        const storePlan: typeof src.storePlan = (x) => {
          const r = src.storePlan(x);
          const read: typeof r.read = (part, i, decode) => {
            reads++;
            return r.read(part, i, decode);
          };
          return { plan: r.plan, read };
        };
        results.push(await executeOnShard(plan, { ...src, storePlan }, budget));
      }
      return mergedAnswer(mergeShardResults(plan, results));
    };
    const close = (got: unknown, want: unknown, ctx: string): void => {
      if (typeof want === 'number' && typeof got === 'number')
        return assert.ok(
          got === want || Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)),
          `${ctx}: ${got} vs ${want}`,
        );
      if (want === null || typeof want !== 'object') return assert.equal(got, want, ctx);
      assert.deepEqual(Object.keys(got as object), Object.keys(want), ctx);
      for (const [k, v] of Object.entries(want)) close((got as Record<string, unknown>)[k], v, `${ctx}.${k}`);
    };
    for (let i = 0; i < 150; i++) {
      const { from, to } = randomRange();
      const q: Record<string, unknown> =
        i % 2 === 0
          ? {
              from,
              to,
              criteria: randomCriteria(),
              order: rnd() < 0.5 ? 'asc' : 'desc',
              offset: Math.floor(rnd() * 5),
              limit: 1 + Math.floor(rnd() * 80),
            }
          : {
              from,
              to,
              criteria: randomCriteria(),
              group_by: [['region'], ['host'], []][Math.floor(rnd() * 3)],
              aggregations: [
                { fn: 'count' },
                { fn: 'mean', field: 'value' },
                { fn: 'max', field: 'count' },
                { fn: 'first', field: 'value' },
                { fn: 'last', field: 'count' },
                { fn: 'percentile', field: 'value', p: 90 },
                { fn: 'rate', field: 'count' },
              ],
              ...(rnd() < 0.4 ? { bucket: '20m' } : {}),
              limit: 10_000,
            };
      const { plan } = planQuery('measure', { group: 'g', name: 'cpu', ...q }, CPU);
      reads = 0;
      const small = await runWith(plan, BUDGET);
      const smallReads = reads;
      reads = 0;
      close(small, await runWith(plan, DEFAULT_QUERY_BUDGET_ROWS), `query ${i}: ${JSON.stringify(q)}`);
      windowed += smallReads - reads;
    }
    assert.ok(windowed > 200, `${windowed} more reads in windows`);
  });

  it('the query pool (worker threads reading the parts by path) answers exactly like the shard thread', async () => {
    const pool = await QueryPool.create({ threads: 2 });
    try {
      for (let i = 0; i < 40; i++) {
        const { from, to } = randomRange();
        const q =
          i % 2 === 0
            ? {
                from,
                to,
                criteria: randomCriteria(),
                order: rnd() < 0.5 ? 'asc' : 'desc',
                limit: 1 + Math.floor(rnd() * 50),
              }
            : {
                from,
                to,
                criteria: randomCriteria(),
                group_by: ['region'],
                aggregations: [{ fn: 'count' }, { fn: 'mean', field: 'value' }],
              };
        const { plan } = planQuery('measure', { group: 'g', name: 'cpu', ...q }, CPU);
        for (const s of shards) {
          const inline = await executeOnShard(
            plan,
            shardSource((x) => s.mem.scan(x), s.store),
          );
          const sq = shardScanQueries(plan);
          const mem = sq.memtable ? s.mem.scan(sq.memtable) : new Map();
          const scan = sq.store ? s.store.planScan(storeQueryAfter(sq.store, mem)).plan : null;
          const pooled = await s.store.trackScan(
            pool.run({ plan, mem: [...mem], scan, budgetRows: DEFAULT_QUERY_BUDGET_ROWS }),
          );
          assert.deepEqual(pooled, inline, `query ${i}: ${JSON.stringify(q)}`);
        }
      }
    } finally {
      await pool.destroy();
    }
  });

  it('plan: bad queries are InvalidArgument naming the property', () => {
    const bad = (q: Record<string, unknown>, field: RegExp) =>
      assert.throws(
        () => planQuery('measure', { group: 'g', name: 'cpu', from: T0, to: T0 + MIN, ...q }, CPU),
        (e: { code?: string; message?: string }) => {
          assert.equal(e.code, 'InvalidArgument');
          assert.match(e.message!, field);
          return true;
        },
      );
    bad({ from: T0 + MIN, to: T0 }, /^from: is after to/);
    bad({ from: 'yesterday' }, /^from:/);
    bad({ aggregations: [{ fn: 'median', field: 'value' }] }, /aggregations\[0\]\.fn: unknown aggregation "median"/);
    bad({ aggregations: [{ fn: 'sum' }] }, /aggregations\[0\]\.field: sum needs a field/);
    bad({ aggregations: [{ fn: 'sum', field: 'nope' }] }, /unknown field "nope"/);
    bad({ criteria: { tag: 'rack', op: 'eq', value: 'x' } }, /criteria\.value: tag rack is int/);
    bad({ criteria: { tag: 'host', op: 'like', value: 'x' } }, /criteria\.op/);
    bad({ criteria: { or: [] } }, /criteria\.or: must be a non-empty array/);
    bad({ limit: 100_001 }, /^limit:/);
    bad({ top: { n: 0, fn: 'max', field: 'value' } }, /^top\.n:/);
    bad({ group_by: ['host'] }, /group_by: needs at least one aggregation/);
    bad({ tag_projection: ['dc'] }, /tag_projection\[0\]: unknown tag "dc"/);
    bad({ write_token: { group: 'other', shards: {} } }, /write_token\.group/);
    bad({ colour: 'red' }, /^colour: is not a known property/);
    bad({ columns: 'yes' }, /^columns: must be true, false or "packed"/);
    bad({ columns: 'packed', group_by: ['host'], aggregations: [{ fn: 'count' }] }, /^columns: answers raw rows/);
  });
});
