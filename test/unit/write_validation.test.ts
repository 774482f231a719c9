import assert from 'node:assert/strict';
import { Code } from '../../transport/errors.js';
import type { Group, Measure, Stream } from '../../transport/schema_types.js';
import { MAX_FUTURE_MS, MAX_POINTS_PER_BATCH, MAX_TAG_VALUE_LENGTH } from '../../transport/limits.js';
import { validateMeasureWrite, validateStreamWrite } from '../../actors/liaison/write_validation.js';
import { parseTimestamp } from '../../transport/timestamp.js';
import { ttlMs } from '../../transport/schema_types.js';
import { tagFamily } from '../harness/fixtures.js';
import { expectLockstepError as expectErr } from '../harness/expect_error.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const DAY = 86_400_000;
const GROUP: Group = { name: 'g1', catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '7d', replicas: 1 };
const MEASURE: Measure = {
  group: 'g1',
  name: 'cpu',
  entity: ['host', 'core'],
  tag_families: [
    tagFamily('default', { host: 'string', core: 'int' }),
    // Spelled out: as a key of tagFamily's map, `constructor` would not type as a TagType.
    {
      name: 'extra',
      tags: [
        { name: 'labels', type: 'string[]' },
        { name: 'ports', type: 'int[]' },
        { name: 'constructor', type: 'string' },
      ],
    },
  ],
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
};
const STREAM: Stream = {
  group: 'g2',
  name: 'logs',
  entity: ['svc'],
  tag_families: [tagFamily('default', { svc: 'string', level: 'int' })],
  element_id: 'trace',
};
const SGROUP: Group = { ...GROUP, name: 'g2', catalog: 'stream', ttl: '48h' };

function pt(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { ts: NOW, tags: { host: 'h1', core: 0 }, fields: { value: 1.5 }, ...over };
}

function write(points: unknown[], extra: Record<string, unknown> = {}) {
  return validateMeasureWrite(GROUP, MEASURE, { points, ...extra }, NOW);
}

describe('write validation - measures', () => {
  it('write validation - a valid batch of mixed types round-trips', () => {
    const points = [
      pt({ tags: { host: 'h1', core: 3, labels: ['a', ''], ports: [80, 443] }, fields: { value: -0.25, count: 7 } }),
      pt({ ts: '2024-05-01T13:30:00+02:00', tags: { host: '', core: -1, constructor: 'x' }, fields: { count: 0 } }),
    ];
    const out = write(points, { schema_revision: 12, group: 'g1', name: 'cpu' });
    // Typed as unknown: a literal `constructor` key confuses TypeScript's inference of the array.
    const expected: unknown[] = [
      {
        ts: NOW,
        tags: { host: 'h1', core: 3, labels: ['a', ''], ports: [80, 443] },
        fields: { value: -0.25, count: 7 },
      },
      { ts: NOW - 30 * 60_000, tags: { host: '', core: -1, constructor: 'x' }, fields: { count: 0 } },
    ];
    assert.deepEqual(out.points, expected);
    assert.deepEqual(out.entityKeys, ['["h1",3]', '["",-1]']);
    assert.deepEqual(
      out.entityKeys.map((k) => JSON.parse(k)),
      [
        ['h1', 3],
        ['', -1],
      ],
    );
  });

  it('write validation - malformed bodies are InvalidArgument', () => {
    expectErr(() => validateMeasureWrite(GROUP, MEASURE, null, NOW), Code.InvalidArgument, 'body');
    expectErr(() => validateMeasureWrite(GROUP, MEASURE, [pt()], NOW), Code.InvalidArgument, 'body', 'an array');
    expectErr(
      () => validateMeasureWrite(GROUP, MEASURE, { points: 'x' }, NOW),
      Code.InvalidArgument,
      'points',
      'expected an array',
    );
    expectErr(() => validateMeasureWrite(GROUP, MEASURE, {}, NOW), Code.InvalidArgument, 'points');
    expectErr(() => write([]), Code.InvalidArgument, 'points', 'empty');
    expectErr(() => write([pt()], { extra: 1 }), Code.InvalidArgument, 'body.extra', 'not a known property');
    expectErr(() => write([pt(), 5]), Code.InvalidArgument, 'points[1]', 'expected an object');
    expectErr(() => write([pt({ value: 1 })]), Code.InvalidArgument, 'points[0].value', 'not a known property');
  });

  it('write validation - batch size limit is ResourceExhausted stating the limit', () => {
    const ok = Array.from({ length: MAX_POINTS_PER_BATCH }, (_, i) => pt({ ts: NOW - i }));
    assert.equal(write(ok).points.length, 10_000);
    expectErr(
      () => write([...ok, pt()]),
      Code.ResourceExhausted,
      'batch of 10001 points exceeds the limit of 10000 per write; split it',
    );
  });

  it('write validation - timestamp window edges', () => {
    const ttl = 7 * DAY;
    assert.equal(ttlMs(GROUP), ttl);
    assert.equal(write([pt({ ts: NOW - ttl })]).points[0]!.ts, NOW - ttl);
    assert.equal(write([pt({ ts: NOW + MAX_FUTURE_MS })]).points[0]!.ts, NOW + MAX_FUTURE_MS);
    const lo = new Date(NOW - ttl).toISOString();
    const hi = new Date(NOW + MAX_FUTURE_MS).toISOString();
    expectErr(
      () => write([pt(), pt({ ts: NOW - ttl - 1 })]),
      Code.InvalidArgument,
      'points[1].ts',
      'older than the ttl (7d)',
      lo,
      hi,
    );
    expectErr(
      () => write([pt({ ts: NOW + MAX_FUTURE_MS + 1 })]),
      Code.InvalidArgument,
      'points[0].ts',
      'in the future',
      lo,
      hi,
    );
    expectErr(() => write([pt({ ts: 1.5 })]), Code.InvalidArgument, 'points[0].ts', 'integer');
    expectErr(() => write([pt({ ts: undefined })]), Code.InvalidArgument, 'points[0].ts', 'got nothing');
    expectErr(() => write([pt({ ts: '2024-05-01T12:00:00' })]), Code.InvalidArgument, 'points[0].ts', 'RFC 3339');
    expectErr(() => write([pt({ ts: 9e15 })]), Code.InvalidArgument, 'points[0].ts', '9000000000000000');
  });

  it('write validation - RFC 3339 with offsets and fractions', () => {
    assert.equal(parseTimestamp('2024-05-01T12:00:00Z', 't'), NOW);
    assert.equal(parseTimestamp('2024-05-01t12:00:00z', 't'), NOW);
    assert.equal(parseTimestamp('2024-05-01T14:00:00+02:00', 't'), NOW);
    assert.equal(parseTimestamp('2024-05-01T06:30:00.5-05:30', 't'), NOW + 500);
    assert.equal(parseTimestamp('2024-05-01 12:00:00.123456789Z', 't'), NOW + 123);
    assert.equal(parseTimestamp('2024-02-29T00:00:00Z', 't'), Date.UTC(2024, 1, 29));
    assert.equal(parseTimestamp('1970-01-01T00:00:00Z', 't'), 0);
    assert.equal(parseTimestamp('0050-01-01T00:00:00Z', 't'), Date.parse('0050-01-01T00:00:00Z'));
    assert.equal(parseTimestamp(NOW, 't'), NOW);
    for (const bad of [
      '2023-02-29T00:00:00Z',
      '2024-13-01T00:00:00Z',
      '2024-05-01T24:00:00Z',
      '2024-05-01T12:00:60Z',
      '2024-05-01T12:00:00+24:00',
      '2024-05-01',
      'yesterday',
    ]) {
      expectErr(() => parseTimestamp(bad, 'x.ts'), Code.InvalidArgument, 'x.ts');
    }
    expectErr(() => parseTimestamp(true, 'x.ts'), Code.InvalidArgument, 'x.ts', 'boolean');
  });

  it('write validation - tag types are checked', () => {
    expectErr(
      () => write([pt({ tags: { host: 1, core: 0 } })]),
      Code.InvalidArgument,
      'points[0].tags.host',
      'expected a string, got 1',
    );
    expectErr(
      () => write([pt({ tags: { host: 'h', core: '0' } })]),
      Code.InvalidArgument,
      'points[0].tags.core',
      'safe integer',
    );
    expectErr(
      () => write([pt({ tags: { host: 'h', core: 1.5 } })]),
      Code.InvalidArgument,
      'points[0].tags.core',
      'got 1.5',
    );
    expectErr(() => write([pt({ tags: { host: 'h', core: 2 ** 53 } })]), Code.InvalidArgument, 'points[0].tags.core');
    expectErr(
      () => write([pt({ tags: { host: 'h', core: 0, labels: 'a' } })]),
      Code.InvalidArgument,
      'tags.labels',
      'array of strings',
    );
    expectErr(
      () => write([pt({ tags: { host: 'h', core: 0, labels: ['a', 2] } })]),
      Code.InvalidArgument,
      'tags.labels[1]',
      'expected a string',
    );
    expectErr(
      () => write([pt({ tags: { host: 'h', core: 0, ports: [1, 'x'] } })]),
      Code.InvalidArgument,
      'tags.ports[1]',
      'safe integer',
    );
    const long = 'x'.repeat(MAX_TAG_VALUE_LENGTH + 1);
    expectErr(() => write([pt({ tags: { host: long, core: 0 } })]), Code.InvalidArgument, 'tags.host', 'limit of 1024');
    assert.equal(write([pt({ tags: { host: long.slice(1), core: 0 } })]).points.length, 1);
    expectErr(
      () => write([pt({ tags: { host: 'a\uD800b', core: 0 } })]),
      Code.InvalidArgument,
      'tags.host',
      'lone surrogate',
    );
    expectErr(
      () => write([pt({ tags: { host: 'h', core: 0, labels: ['\uDC00'] } })]),
      Code.InvalidArgument,
      'tags.labels[0]',
      'lone surrogate',
    );
    assert.equal(write([pt({ tags: { host: 'emoji \u{1F600}', core: 0 } })]).points.length, 1);
    expectErr(() => write([pt({ tags: ['h'] })]), Code.InvalidArgument, 'points[0].tags', 'expected an object');
  });

  it('write validation - missing entity and unknown tags are named', () => {
    expectErr(
      () => write([pt(), pt({ tags: { host: 'h' } })]),
      Code.InvalidArgument,
      'points[1].tags',
      'entity tag core is missing',
    );
    expectErr(
      () => write([pt({ tags: undefined })]),
      Code.InvalidArgument,
      'points[0].tags',
      'entity tag host is missing',
    );
    expectErr(
      () => write([pt({ tags: { host: 'h', core: 0, zone: 'z' } })]),
      Code.InvalidArgument,
      'points[0].tags.zone',
      'unknown tag',
      'host, core, labels, ports',
    );
    // An inherited property of Object.prototype is not a present tag.
    const m2: Measure = { ...MEASURE, entity: ['constructor'] };
    expectErr(
      () => validateMeasureWrite(GROUP, m2, { points: [pt()] }, NOW),
      Code.InvalidArgument,
      'entity tag constructor is missing',
    );
  });

  it('write validation - field rules', () => {
    expectErr(
      () => write([pt({ fields: { value: NaN } })]),
      Code.InvalidArgument,
      'points[0].fields.value: expected a finite float, got NaN',
    );
    expectErr(() => write([pt({ fields: { value: Infinity } })]), Code.InvalidArgument, 'fields.value', 'got Infinity');
    expectErr(
      () => write([pt({ fields: { value: -Infinity } })]),
      Code.InvalidArgument,
      'fields.value',
      'got -Infinity',
    );
    expectErr(() => write([pt({ fields: { value: '1' } })]), Code.InvalidArgument, 'fields.value', 'finite float');
    expectErr(
      () => write([pt({ fields: { count: 1.5 } })]),
      Code.InvalidArgument,
      'points[0].fields.count',
      'safe integer, got 1.5',
    );
    expectErr(() => write([pt({ fields: { count: NaN } })]), Code.InvalidArgument, 'fields.count', 'got NaN');
    expectErr(
      () => write([pt({ fields: { temp: 1 } })]),
      Code.InvalidArgument,
      'points[0].fields.temp',
      'unknown field',
      'value, count',
    );
    expectErr(() => write([pt({ fields: {} })]), Code.InvalidArgument, 'points[0].fields', 'at least one field');
    expectErr(() => write([pt({ fields: undefined })]), Code.InvalidArgument, 'points[0].fields', 'expected an object');
  });

  it('write validation - ttl in hours and days', () => {
    assert.equal(ttlMs({ ...GROUP, ttl: '36h' }), 36 * 3_600_000);
    expectErr(() => ttlMs({ ...GROUP, ttl: '5m' }), Code.InvalidArgument, 'ttl');
  });

  it('write validation - rate (printed, not asserted)', () => {
    const points = Array.from({ length: MAX_POINTS_PER_BATCH }, (_, i) => ({
      ts: NOW - i * 1000,
      tags: { host: `h${i % 1000}`, core: i % 8, labels: ['a'] },
      fields: { value: i * 0.5, count: i },
    }));
    const body = { points, schema_revision: 3 };
    validateMeasureWrite(GROUP, MEASURE, body, NOW);
    const reps = 10;
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < reps; r++) validateMeasureWrite(GROUP, MEASURE, body, NOW);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(
      `      write validation: ${Math.round((points.length * reps) / sec).toLocaleString('en')} points/s (${points.length} × ${reps} in ${(sec * 1000).toFixed(1)} ms)`,
    );
  });
});

describe('write validation - streams', () => {
  const write = (elements: unknown[]) =>
    validateStreamWrite(SGROUP, STREAM, { elements, group: 'g2', name: 'logs' }, NOW);

  it('write validation - element id from element_id or from the id tag', () => {
    const out = write([
      { ts: NOW, element_id: 'e1', tags: { svc: 'api', level: 3 } },
      { ts: '2024-05-01T12:00:00Z', tags: { svc: 'db', trace: 'e2' } },
      { ts: NOW - 1, element_id: 'e3', tags: { svc: 'db', trace: 'e3' } },
    ]);
    assert.deepEqual(out.elements, [
      { ts: NOW, element_id: 'e1', tags: { svc: 'api', level: 3 } },
      { ts: NOW, element_id: 'e2', tags: { svc: 'db' } },
      { ts: NOW - 1, element_id: 'e3', tags: { svc: 'db' } },
    ]);
    assert.deepEqual(out.entityKeys, ['["api"]', '["db"]', '["db"]']);
  });

  it('write validation - stream elements without id or with bad input are rejected', () => {
    expectErr(
      () => write([{ ts: NOW, tags: { svc: 'a' } }]),
      Code.InvalidArgument,
      'elements[0]',
      'element id is missing',
      'trace',
    );
    expectErr(
      () => write([{ ts: NOW, element_id: '', tags: { svc: 'a' } }]),
      Code.InvalidArgument,
      'elements[0].element_id',
      'non-empty',
    );
    expectErr(
      () => write([{ ts: NOW, element_id: 7, tags: { svc: 'a' } }]),
      Code.InvalidArgument,
      'elements[0].element_id',
      'got 7',
    );
    expectErr(
      () => write([{ ts: NOW, element_id: 'a', tags: { svc: 'a', trace: 'b' } }]),
      Code.InvalidArgument,
      'elements[0].element_id',
      'differs',
    );
    expectErr(
      () => write([{ ts: NOW, element_id: 'a', tags: { level: 1 } }]),
      Code.InvalidArgument,
      'elements[0].tags',
      'entity tag svc is missing',
    );
    expectErr(
      () => write([{ ts: NOW, element_id: 'a', tags: { svc: 'a', x: 1 } }]),
      Code.InvalidArgument,
      'elements[0].tags.x',
      'unknown tag',
    );
    expectErr(
      () => write([{ ts: NOW - 2 * DAY - 1, element_id: 'a', tags: { svc: 'a' } }]),
      Code.InvalidArgument,
      'elements[0].ts',
      '48h',
    );
    expectErr(
      () => write([{ ts: NOW, element_id: 'a', tags: { svc: 'a' }, fields: {} }]),
      Code.InvalidArgument,
      'elements[0].fields',
    );
    expectErr(() => validateStreamWrite(SGROUP, STREAM, { points: [] }, NOW), Code.InvalidArgument, 'body.points');
    const many = Array.from({ length: MAX_POINTS_PER_BATCH + 1 }, (_, i) => ({
      ts: NOW,
      element_id: `e${i}`,
      tags: { svc: 'a' },
    }));
    expectErr(() => write(many), Code.ResourceExhausted, '10001', '10000');
  });

  it('write validation - a declared element-id tag stays a tag', () => {
    const s: Stream = { ...STREAM, element_id: 'level' };
    const out = validateStreamWrite(SGROUP, s, { elements: [{ ts: NOW, tags: { svc: 'a', level: 42 } }] }, NOW);
    assert.deepEqual(out.elements, [{ ts: NOW, element_id: '42', tags: { svc: 'a', level: 42 } }]);
  });
});
