import assert from 'node:assert/strict';
import { Code, codeOf, type LockstepError } from '../../transport/errors.js';
import type { Resource, SchemaKind } from '../../transport/schema_types.js';
import {
  checkImmutable,
  checkIndexRuleTags,
  sameResource,
  validateGroup,
  validateIndexRule,
  validateMeasure,
  validateResource,
  validateStream,
} from '../../actors/liaison/schema_validation.js';
import { groupResource, grownMeasureResource, measureResource, streamResource } from '../harness/fixtures.js';

const BAD_NAMES = ['a.b', 'a*', 'a>', 'a b', 'Upper', '', 'a'.repeat(64), '1abc', '_x'];

// The shared fixtures, in group g1.
const group = (over: Record<string, unknown> = {}) => groupResource('g1', over);
const measure = (over: Record<string, unknown> = {}) => measureResource('g1', 'cpu', over);
const stream = (over: Record<string, unknown> = {}) => streamResource('g1', 'logs', over);

function rejects(fn: () => unknown, code: Code, mentions?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.equal(codeOf(err), code, `expected ${code}, got ${String(err)}`);
    if (mentions)
      assert.ok((err as Error).message.includes(mentions), `message ${(err as Error).message} lacks ${mentions}`);
    return true;
  });
}

describe('schema validation', () => {
  it('schema validation - a valid group is normalized with replicas 1', () => {
    const g = validateGroup(group());
    assert.deepEqual(g, { name: 'g1', catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '7d', replicas: 1 });
  });

  it('schema validation - created_at/updated_at are accepted and dropped', () => {
    const g = validateGroup(group({ created_at: 'x', updated_at: 'y' }));
    assert.equal('created_at' in g, false);
  });

  it('schema validation - every bad name in every name slot is InvalidArgument naming the field', () => {
    const slots: Array<[string, (n: string) => [SchemaKind, unknown]]> = [
      ['name', (n) => ['group', group({ name: n })]],
      ['name', (n) => ['measure', measure({ name: n })]],
      ['group', (n) => ['measure', measure({ group: n })]],
      ['name', (n) => ['stream', stream({ name: n })]],
      ['name', (n) => ['index_rule', { group: 'g1', name: n, tags: ['host'] }]],
      ['tags[0]', (n) => ['index_rule', { group: 'g1', name: 'r1', tags: [n] }]],
      [
        'tag_families[0].name',
        (n) => ['measure', measure({ tag_families: [{ name: n, tags: [{ name: 'host', type: 'string' }] }] })],
      ],
      [
        'tag_families[0].tags[0].name',
        (n) => [
          'measure',
          measure({
            entity: ['host'],
            tag_families: [
              {
                name: 'f',
                tags: [
                  { name: n, type: 'string' },
                  { name: 'host', type: 'string' },
                ],
              },
            ],
          }),
        ],
      ],
      ['fields[0].name', (n) => ['measure', measure({ fields: [{ name: n, type: 'int' }] })]],
      ['element_id', (n) => ['stream', stream({ element_id: n })]],
    ];
    for (const [field, make] of slots) {
      for (const bad of BAD_NAMES) {
        const [kind, body] = make(bad);
        rejects(() => validateResource(kind, body), Code.InvalidArgument, field);
      }
    }
  });

  it('schema validation - group limits and formats', () => {
    for (const shards of [0, 257, 1.5, '4', -1])
      rejects(() => validateGroup(group({ shards })), Code.InvalidArgument, 'shards');
    for (const replicas of [0, 4, 2.5])
      rejects(() => validateGroup(group({ replicas })), Code.InvalidArgument, 'replicas');
    for (const d of ['1', 'd', '0d', '1w', '1.5h', '-1h', 'h1', 7]) {
      rejects(() => validateGroup(group({ segment_interval: d })), Code.InvalidArgument, 'segment_interval');
      rejects(() => validateGroup(group({ ttl: d })), Code.InvalidArgument, 'ttl');
    }
    rejects(() => validateGroup(group({ catalog: 'table' })), Code.InvalidArgument, 'catalog');
    assert.equal(validateGroup(group({ shards: 256, replicas: 3, segment_interval: '12h' })).shards, 256);
  });

  it('schema validation - missing required fields are named', () => {
    for (const f of ['name', 'catalog', 'shards', 'segment_interval', 'ttl']) {
      const g = group();
      delete g[f];
      rejects(() => validateGroup(g), Code.InvalidArgument, f);
    }
    for (const f of ['group', 'name', 'entity', 'tag_families', 'fields']) {
      const m = measure();
      delete m[f];
      rejects(() => validateMeasure(m), Code.InvalidArgument, f);
    }
    rejects(() => validateIndexRule({ group: 'g1', name: 'r' }), Code.InvalidArgument, 'tags');
    rejects(() => validateMeasure(measure({ fields: [{ name: 'v' }] })), Code.InvalidArgument, 'fields[0].type');
  });

  it('schema validation - a body that is not an object is InvalidArgument', () => {
    for (const b of [null, undefined, 'x', 3, [], [group()], new Date()]) {
      rejects(() => validateResource('group', b), Code.InvalidArgument, 'resource');
    }
  });

  it('schema validation - unknown properties are rejected by name', () => {
    rejects(() => validateGroup(group({ colour: 'red' })), Code.InvalidArgument, 'colour');
    rejects(
      () => validateMeasure(measure({ fields: [{ name: 'v', type: 'int', unit: 's' }] })),
      Code.InvalidArgument,
      'fields[0].unit',
    );
  });

  it('schema validation - unknown types are InvalidArgument', () => {
    rejects(
      () => validateMeasure(measure({ fields: [{ name: 'v', type: 'double' }] })),
      Code.InvalidArgument,
      'fields[0].type',
    );
    rejects(
      () => validateMeasure(measure({ tag_families: [{ name: 'f', tags: [{ name: 'host', type: 'bool' }] }] })),
      Code.InvalidArgument,
      'tags[0].type',
    );
    rejects(
      () => validateIndexRule({ group: 'g1', name: 'r', tags: ['a'], type: 'hash' }),
      Code.InvalidArgument,
      'type',
    );
  });

  it('schema validation - entity must be non-empty declared tags', () => {
    rejects(() => validateMeasure(measure({ entity: [] })), Code.InvalidArgument, 'entity');
    rejects(() => validateMeasure(measure({ entity: ['nope'] })), Code.InvalidArgument, 'entity[0]');
    rejects(() => validateMeasure(measure({ entity: ['host', 'host'] })), Code.InvalidArgument, 'entity[1]');
  });

  it('schema validation - a measure must declare at least one field', () => {
    assert.throws(
      () => validateResource('measure', measure({ fields: [] })),
      (err: LockstepError) => {
        assert.equal(codeOf(err), Code.InvalidArgument);
        assert.equal(err.details?.field, 'fields');
        assert.match(err.message, /fields must name at least one field/);
        return true;
      },
    );
  });

  it('schema validation - an index rule names only tags a measure or stream of its group declares', () => {
    const cpu = validateMeasure(measure());
    const logs = validateStream(stream());
    const rule = (tags: string[]) => validateIndexRule({ group: 'g1', name: 'r', tags });
    checkIndexRuleTags(rule(['host', 'core']), [cpu]);
    // Not tied to one resource: each tag may come from a different one.
    checkIndexRuleTags(rule(['core', 'svc']), [cpu, logs]);
    const refusals: [
      string[],
      (ReturnType<typeof validateMeasure> | ReturnType<typeof validateStream>)[],
      string,
      RegExp,
    ][] = [
      [
        ['host', 'nope'],
        [cpu],
        'tags[1]',
        /tags\[1\] names tag "nope", which no measure or stream of group g1 declares \(declared: core, host\)/,
      ],
      [['svc'], [cpu], 'tags[0]', /"svc"/],
      [['host'], [], 'tags[0]', /it has none yet/],
    ];
    for (const [tags, declared, field, message] of refusals) {
      assert.throws(
        () => checkIndexRuleTags(rule(tags), declared),
        (err: LockstepError) => {
          assert.equal(codeOf(err), Code.InvalidArgument);
          assert.equal(err.details?.field, field);
          assert.match(err.message, message);
          return true;
        },
      );
    }
  });

  it('schema validation - tag names are unique across families and fields do not clash with tags', () => {
    const twoFamilies = [
      { name: 'a', tags: [{ name: 'host', type: 'string' }] },
      { name: 'b', tags: [{ name: 'host', type: 'int' }] },
    ];
    rejects(
      () => validateMeasure(measure({ tag_families: twoFamilies })),
      Code.InvalidArgument,
      'tag_families[1].tags[0].name',
    );
    rejects(
      () => validateMeasure(measure({ fields: [{ name: 'host', type: 'int' }] })),
      Code.InvalidArgument,
      'fields[0].name',
    );
    rejects(
      () =>
        validateMeasure(
          measure({
            fields: [
              { name: 'v', type: 'int' },
              { name: 'v', type: 'float' },
            ],
          }),
        ),
      Code.InvalidArgument,
      'fields[1].name',
    );
  });

  it('schema validation - stream and index rule defaults', () => {
    assert.equal(validateStream(stream()).element_id, 'element_id');
    assert.equal(validateIndexRule({ group: 'g1', name: 'r', tags: ['svc'] }).type, 'inverted');
  });

  it('schema validation - sameResource ignores bookkeeping and applies defaults', () => {
    const a = validateGroup(group());
    const b = { ...group({ replicas: undefined }), created_at: 't1', updated_at: 't2' } as unknown as Resource;
    assert.equal(sameResource('group', a, b), true);
    assert.equal(sameResource('group', a, validateGroup(group({ ttl: '30d' }))), false);
  });

  it('schema validation - immutable properties are refused naming the migration', () => {
    const g = validateGroup(group());
    for (const over of [{ catalog: 'stream' }, { shards: 4 }, { segment_interval: '2d' }, { replicas: 2 }]) {
      rejects(
        () => checkImmutable('group', g, validateGroup(group(over))),
        Code.FailedPrecondition,
        'rewrite migration',
      );
    }
    checkImmutable('group', g, validateGroup(group({ ttl: '30d' })));

    const m = validateMeasure(measure());
    const changes: Record<string, unknown>[] = [
      { entity: ['host', 'core'] },
      { fields: [{ name: 'value', type: 'int' }] },
      {
        tag_families: [
          {
            name: 'default',
            tags: [
              { name: 'host', type: 'int' },
              { name: 'core', type: 'int' },
            ],
          },
        ],
        entity: ['host'],
      },
    ];
    for (const over of changes) {
      rejects(
        () => checkImmutable('measure', m, validateMeasure(measure(over))),
        Code.FailedPrecondition,
        'measure g1/cpu',
      );
    }
    const added = grownMeasureResource('g1', 'cpu');
    checkImmutable('measure', m, validateMeasure(added));

    const s = validateStream(stream());
    rejects(
      () => checkImmutable('stream', s, validateStream(stream({ element_id: 'eid' }))),
      Code.FailedPrecondition,
      'element_id',
    );
    const r = validateIndexRule({ group: 'g1', name: 'r', tags: ['svc'] });
    rejects(
      () => checkImmutable('index_rule', r, validateIndexRule({ group: 'g1', name: 'r', tags: ['svc'], type: 'tree' })),
      Code.FailedPrecondition,
      'type',
    );
    checkImmutable('index_rule', r, validateIndexRule({ group: 'g1', name: 'r', tags: ['svc', 'host'] }));
  });
  it('schema validation - the group name `lock` is reserved by the data directory layout', () => {
    assert.throws(
      () => validateGroup({ name: 'lock', catalog: 'measure', shards: 1, segment_interval: '1d', ttl: '7d' }),
      (e: { code?: string; message?: string }) => e.code === 'InvalidArgument' && /reserved/.test(e.message ?? ''),
    );
  });
  it('schema validation - a placement names data nodes once each, and is kept sorted', () => {
    const base = { name: 'gp', catalog: 'measure', shards: 1, segment_interval: '1d', ttl: '7d' };
    assert.deepEqual(validateGroup({ ...base, placement: { data_nodes: ['d2', 'd1'] } }).placement, {
      data_nodes: ['d1', 'd2'],
    });
    for (const placement of [
      { data_nodes: [] },
      { data_nodes: ['D1'] },
      { data_nodes: ['d1', 'd1'] },
      { nodes: ['d1'] },
      'd1',
    ]) {
      assert.throws(
        () => validateGroup({ ...base, placement }),
        (e: { code?: string }) => e.code === 'InvalidArgument',
        JSON.stringify(placement),
      );
    }
  });
});
