import assert from 'node:assert/strict';
import { Code } from '../../transport/errors.js';
import type { Group, Measure } from '../../transport/schema_types.js';
import { MAX_FUTURE_MS, MAX_POINTS_PER_BATCH } from '../../transport/limits.js';
import { validateMeasureColumns } from '../../actors/liaison/write_columns.js';
import { validateMeasureWrite } from '../../actors/liaison/write_validation.js';
import {
  decodeWalRecord,
  encodeWalRecord,
  selectColumns,
  walColumns,
  type WalColumns,
} from '../../transport/wal_record.js';
import { plainTags } from '../../transport/packed_columns.js';
import type { TagColumn } from '../../transport/query_types.js';
import { keyOfRow, type RowSeries } from '../../storage/routing.js';
import { mulberry32 } from '../harness/random.js';
import { tagFamily } from '../harness/fixtures.js';
import { expectLockstepError as expectErr } from '../harness/expect_error.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const GROUP: Group = { name: 'g1', catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '7d', replicas: 1 };
const MEASURE: Measure = {
  group: 'g1',
  name: 'cpu',
  entity: ['host', 'core'],
  tag_families: [
    tagFamily('default', { host: 'string', core: 'int', region: 'string' }),
    {
      name: 'extra',
      tags: [
        { name: 'labels', type: 'string[]' },
        { name: 'constructor', type: 'string' },
      ],
    },
  ],
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
};

function cols(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ts: new Float64Array([NOW, NOW - 1000]),
    tags: { host: ['h1', 'h2'], core: [0, 1] },
    fields: { value: new Float64Array([1.5, 2.5]) },
    ...over,
  };
}

/** Each row's entity key. */
const keysOf = (s: RowSeries) => Array.from(s.of, (_, i) => keyOfRow(s, i));

/** `c` with every dictionary tag column as a value per row. */
function plain(c: WalColumns): WalColumns {
  const tags = Object.fromEntries(
    Object.entries(c.tags).map(([k, col]) => [k, Array.isArray(col) ? col : plainTags(col as TagColumn)!]),
  );
  return { ...c, tags };
}

/** `col` as a dictionary, its values in a random order with unused ones among them, as any caller may send. */
function asDictionary(col: readonly unknown[], rnd: () => number): { values: unknown[]; codes: ArrayLike<number> } {
  // The first value twice: the second copy no code names.
  const values = [...new Set(col.map((v) => JSON.stringify(v))), JSON.stringify(col[0])].sort(() => rnd() - 0.5);
  const codes = col.map((v) => values.indexOf(JSON.stringify(v)));
  const typed = rnd() < 0.5 ? codes : rnd() < 0.5 ? Uint8Array.from(codes) : Uint32Array.from(codes);
  return { values: values.map((v) => JSON.parse(v) as unknown), codes: typed };
}

function write(columns: unknown, extra: Record<string, unknown> = {}) {
  return validateMeasureColumns(GROUP, MEASURE, { columns, ...extra }, NOW);
}

describe('write columns - validation', () => {
  it('write columns - store exactly what the same points written as objects store', () => {
    const rnd = mulberry32(20261206);
    for (let round = 0; round < 50; round++) {
      const n = 1 + Math.floor(rnd() * 40);
      const points = Array.from({ length: n }, (_, i) => {
        const tags: Record<string, unknown> = { host: `h${Math.floor(rnd() * 5)}`, core: Math.floor(rnd() * 3) - 1 };
        if (rnd() < 0.5) tags.region = rnd() < 0.5 ? 'eu' : '';
        if (rnd() < 0.3) tags.labels = ['a', `b${i}`];
        if (rnd() < 0.2) tags['constructor'] = 'c';
        const fields: Record<string, number> = {};
        if (rnd() < 0.7) fields.value = Math.round(rnd() * 1e4) / 100;
        if (rnd() < 0.5 || fields.value === undefined) fields.count = Math.floor(rnd() * 100);
        return { ts: NOW - Math.floor(rnd() * 86_400_000), tags, fields };
      });
      // Columns as a caller builds them: a missing float NaN (or null), an int 0, a tag its missing value.
      const c = {
        ts: points.map((p) => p.ts),
        tags: {
          host: points.map((p) => p.tags.host),
          core: points.map((p) => p.tags.core),
          region: points.map((p) => p.tags.region ?? ''),
          labels: points.map((p) => p.tags.labels ?? []),
          constructor: points.map((p) => (Object.hasOwn(p.tags, 'constructor') ? p.tags.constructor : '')),
        },
        fields: {
          value:
            round % 2 === 0
              ? Float64Array.from(points, (p) => p.fields.value ?? NaN)
              : points.map((p) => p.fields.value ?? null),
          count: points.map((p) => p.fields.count ?? 0),
        },
      };
      // Some tags sent as dictionaries (as the TypeScript client sends repeating strings): one, both or
      // neither entity tag, so entity keys come from dictionaries, values or both.
      const tags = c.tags as Record<string, unknown[] | ReturnType<typeof asDictionary>>;
      for (const k of Object.keys(tags)) if (rnd() < 0.5) tags[k] = asDictionary(tags[k] as unknown[], rnd);
      const fromRows = validateMeasureWrite(GROUP, MEASURE, { points }, NOW);
      const fromCols = write(c);
      assert.deepEqual(keysOf(fromCols.series), fromRows.entityKeys);
      const all = points.map((_, i) => i);
      const some = all.filter((i) => i % 3 !== 1);
      for (const idx of [all, some]) {
        const selected = selectColumns(MEASURE, fromCols.cols, idx);
        const want = walColumns('measure', MEASURE, fromRows.points, idx);
        assert.deepEqual(plain(selected), want, `round ${round}`);
        // A shard's share keeps only the values its rows hold, and the WAL carries it unchanged.
        for (const col of Object.values(selected.tags))
          if (!Array.isArray(col))
            assert.equal(new Set((col as TagColumn).codes).size, (col as TagColumn).values.length);
        const record = {
          kind: 'measure' as const,
          group: 'g1',
          name: 'cpu',
          revision: 1,
          batch_id: 'b',
          cols: selected,
        };
        assert.deepEqual(decodeWalRecord(encodeWalRecord(record)).cols, want, `round ${round}: WAL`);
      }
    }
  });

  it('write columns - a one-tag entity keys every point as JSON of its value', () => {
    const one: Measure = { ...MEASURE, entity: ['host'] };
    const host = ['a', 'b', 'a', 'say "hi"', 'b', ''];
    const { series } = validateMeasureColumns(
      GROUP,
      one,
      {
        columns: {
          ts: host.map(() => NOW),
          tags: { host, core: host.map(() => 1) },
          fields: { count: host.map(() => 1) },
        },
      },
      NOW,
    );
    assert.deepEqual(
      keysOf(series),
      host.map((h) => JSON.stringify([h])),
    );
  });

  it('write columns - bad columns are InvalidArgument naming the column and the point', () => {
    expectErr(() => write(undefined), Code.InvalidArgument, 'columns', 'expected an object');
    expectErr(() => write(cols({ ts: [] })), Code.InvalidArgument, 'columns.ts', 'empty');
    expectErr(() => write(cols({ ts: 'x' })), Code.InvalidArgument, 'columns.ts', 'epoch milliseconds');
    expectErr(() => write(cols({ ts: [NOW, 1.5] })), Code.InvalidArgument, 'columns.ts[1]', 'safe integer');
    expectErr(
      () => write(cols({ ts: [NOW, NOW + MAX_FUTURE_MS + 1] })),
      Code.InvalidArgument,
      'columns.ts[1]',
      'future',
    );
    expectErr(
      () => write(cols({ ts: [NOW, NOW - 8 * 86_400_000] })),
      Code.InvalidArgument,
      'columns.ts[1]',
      'ttl (7d)',
    );
    expectErr(() => write(cols({ extra: [] })), Code.InvalidArgument, 'columns.extra', 'not a known property');
    expectErr(
      () => write(cols({ fields: { value: [1] } })),
      Code.InvalidArgument,
      'columns.fields.value',
      'has 1 entries',
      '2',
    );
    expectErr(
      () => write(cols({ fields: { mem: [1, 2] } })),
      Code.InvalidArgument,
      'columns.fields.mem',
      'unknown field',
      'value, count',
    );
    expectErr(
      () => write(cols({ fields: { value: [1, Infinity] } })),
      Code.InvalidArgument,
      'columns.fields.value[1]',
      'finite float',
    );
    expectErr(
      () => write(cols({ fields: { value: [1, '2'] } })),
      Code.InvalidArgument,
      'columns.fields.value[1]',
      'finite float',
    );
    expectErr(
      () => write(cols({ fields: { count: [1, 2.5] } })),
      Code.InvalidArgument,
      'columns.fields.count[1]',
      'safe integer',
    );
    expectErr(() => write(cols({ fields: { value: [1, NaN] } })), Code.InvalidArgument, 'point 1 has no field value');
    expectErr(() => write(cols({ fields: {} })), Code.InvalidArgument, 'point 0 has no field value');
    expectErr(() => write(cols({ tags: { host: ['h1', 'h2'] } })), Code.InvalidArgument, 'entity tag core is missing');
    expectErr(
      () => write(cols({ tags: { host: ['h1', 'h2'], core: [0, 1], zone: ['a', 'b'] } })),
      Code.InvalidArgument,
      'columns.tags.zone',
      'unknown tag',
    );
    expectErr(
      () => write(cols({ tags: { host: ['h1', 7], core: [0, 1] } })),
      Code.InvalidArgument,
      'columns.tags.host[1]',
      'expected a string',
    );
    expectErr(
      () => write(cols({ tags: { host: ['h1', 'h2'], core: [0, '1'] } })),
      Code.InvalidArgument,
      'columns.tags.core[1]',
      'safe integer',
    );
    expectErr(
      () => write(cols({ tags: { host: 'h1', core: [0, 1] } })),
      Code.InvalidArgument,
      'columns.tags.host',
      'one per point',
    );
    const dict = (d: unknown) => cols({ tags: { host: d, core: [0, 1] } });
    expectErr(() => write(dict(Uint8Array.of(1, 2))), Code.InvalidArgument, 'columns.tags.host', 'expected an array');
    expectErr(
      () => write(dict({ values: ['h1'], codes: [0, 1] })),
      Code.InvalidArgument,
      'columns.tags.host.codes[1]',
      '0 to 0',
    );
    expectErr(
      () => write(dict({ values: ['h1'], codes: [0, -1] })),
      Code.InvalidArgument,
      'columns.tags.host.codes[1]',
    );
    expectErr(
      () => write(dict({ values: ['h1'], codes: [0, 0.5] })),
      Code.InvalidArgument,
      'columns.tags.host.codes[1]',
    );
    expectErr(
      () => write(dict({ values: ['h1'], codes: [0] })),
      Code.InvalidArgument,
      'columns.tags.host.codes',
      'has 1 entries',
    );
    expectErr(
      () => write(dict({ values: ['h1'], codes: 'x' })),
      Code.InvalidArgument,
      'columns.tags.host.codes',
      'indexes',
    );
    expectErr(
      () => write(dict({ values: 'h1', codes: [0, 0] })),
      Code.InvalidArgument,
      'columns.tags.host.values',
      'distinct',
    );
    expectErr(
      () => write(dict({ values: ['h1', 7], codes: [0, 0] })),
      Code.InvalidArgument,
      'columns.tags.host.values[1]',
      'expected a string',
    );
    expectErr(
      () => write(dict({ values: ['h1'], codes: [0, 0], n: 2 })),
      Code.InvalidArgument,
      'columns.tags.host.n',
      'not a known property',
    );
    expectErr(
      () => validateMeasureColumns(GROUP, MEASURE, { columns: cols(), points: [] }, NOW),
      Code.InvalidArgument,
      'body.points',
    );
  });

  it('write columns - a batch over the limit is ResourceExhausted', () => {
    const n = MAX_POINTS_PER_BATCH + 1;
    expectErr(
      () => write({ ts: new Float64Array(n).fill(NOW), tags: {}, fields: {} }),
      Code.ResourceExhausted,
      String(MAX_POINTS_PER_BATCH),
    );
  });

  it('write columns - a generation storing a field as int rounds it; one lacking it stores nothing', () => {
    const { cols: c } = write(cols({ fields: { value: [1.5, null], count: [3, 4] } }));
    const asInt: Measure = {
      ...MEASURE,
      fields: [
        { name: 'value', type: 'int' },
        { name: 'count', type: 'int' },
        { name: 'extra', type: 'float' },
      ],
    };
    const out = plain(selectColumns(asInt, c, [1, 0]));
    assert.deepEqual([...out.fields.value!], [0, 2]);
    assert.deepEqual([...out.fields.count!], [4, 3]);
    assert.ok(out.fields.extra!.every((v) => Number.isNaN(v)));
    assert.deepEqual(out.tags.host, ['h2', 'h1']);
    assert.deepEqual(out.tags.region, ['', '']);
    assert.deepEqual(out.tags.labels, [[], []]);
  });
});
