/**
 * The schema API over a real nats-server (test/harness/schema_api.ts), continued: delete (cascade,
 * tombstones, recreate), list, apply, the checks that span resources (fields, index-rule tags,
 * placement), concurrent writes, and the stored value. Each test uses its own group names.
 */
import assert from 'node:assert/strict';
import type { KvBucket } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, codeOf, type LockstepError } from '../../transport/errors.js';
import type { Group } from '../../transport/schema_types.js';
import { SchemaRegistry } from '../../actors/liaison/schema_registry.js';
import { groupResource as group, measureResource as measure, streamResource as stream } from '../harness/fixtures.js';
import { rejectsWith, useSchemaApi, type Reply } from '../harness/schema_api.js';

// A bucket whose `update` lets a racing writer rewrite the key first, `races` times.
function racingKv(inner: KvBucket, races: number): KvBucket {
  let left = races;
  return {
    name: inner.name,
    get: (k) => inner.get(k),
    create: (k, v) => inner.create(k, v),
    delete: (k, r) => inner.delete(k, r),
    keys: (p) => inner.keys(p),
    lastRevision: () => inner.lastRevision(),
    watch: (r) => inner.watch(r),
    async update(k, v, rev) {
      if (left-- > 0) {
        const cur = (await inner.get(k))!;
        await inner.update(k, cur.value, cur.revision);
      }
      return inner.update(k, v, rev);
    },
  };
}

describe('schema registry (nats)', () => {
  const schema = useSchemaApi();
  const { api, apply, lastRevision } = schema;

  it('schema registry - deleting a non-empty group is FailedPrecondition; cascade deletes children first', async () => {
    await api('group', 'create', { resource: group('full') });
    await api('measure', 'create', { resource: measure('full', 'cpu') });
    await api('measure', 'create', { resource: measure('full', 'mem') });
    await api('index_rule', 'create', { resource: { group: 'full', name: 'by_host', tags: ['host'] } });
    const before = await lastRevision();
    await rejectsWith(
      api('group', 'delete', { group: 'full' }),
      Code.FailedPrecondition,
      '3 resource(s) (measure:full/cpu',
    );
    assert.equal(await lastRevision(), before);
    const d = await api('group', 'delete', { group: 'full', cascade: true });
    assert.deepEqual(d.deleted, ['measure:full/cpu', 'measure:full/mem', 'index_rule:full/by_host', 'group:full']);
    assert.equal(d.revision, before + 4);
    assert.equal(await lastRevision(), d.revision);
    await rejectsWith(api('measure', 'get', { group: 'full', name: 'cpu' }), Code.NotFound);
    await rejectsWith(api('group', 'get', { group: 'full' }), Code.NotFound);
    await rejectsWith(api('measure', 'list', { group: 'full' }), Code.NotFound);
  });

  it('schema registry - delete returns the tombstone revision and a recreate starts fresh', async () => {
    await api('group', 'create', { resource: group('gone') });
    const m = await api('measure', 'create', { resource: measure('gone', 'cpu') });
    const d = await api('measure', 'delete', { group: 'gone', name: 'cpu', expected_revision: m.revision });
    assert.deepEqual(d, { revision: m.revision + 1, deleted: ['measure:gone/cpu'] });
    const again = await api('measure', 'create', { resource: measure('gone', 'cpu') });
    assert.equal(again.revision, d.revision + 1);
  });

  it('schema registry - list returns groups and the resources of one group', async () => {
    await api('group', 'create', { resource: group('lst') });
    await api('measure', 'create', { resource: measure('lst', 'b') });
    await api('measure', 'create', { resource: measure('lst', 'a') });
    const groups = await api('group', 'list', {});
    assert.ok(groups.items.some((i: Reply) => i.kind === 'group' && i.resource.name === 'lst'));
    const ms = await api('measure', 'list', { group: 'lst' });
    assert.deepEqual(
      ms.items.map((i: Reply) => i.resource.name),
      ['a', 'b'],
    );
    assert.ok(ms.items.every((i: Reply) => i.kind === 'measure' && i.mod_revision > 0));
    assert.deepEqual((await api('stream', 'list', { group: 'lst' })).items, []);
    await rejectsWith(api('measure', 'list', { group: 'nolst' }), Code.NotFound);
  });

  it('schema registry - apply creates in order with groups first, then re-apply is unchanged', async () => {
    const resources = [
      { kind: 'measure', resource: measure('app', 'cpu') },
      { kind: 'index_rule', resource: { group: 'app', name: 'by_host', tags: ['host'] } },
      { kind: 'group', resource: group('app') },
    ];
    const before = await lastRevision();
    const first = await apply({ resources });
    assert.deepEqual(
      first.results.map((r: Reply) => [r.key, r.action, r.revision]),
      [
        ['group:app', 'created', before + 1],
        ['measure:app/cpu', 'created', before + 2],
        ['index_rule:app/by_host', 'created', before + 3],
      ],
    );
    assert.equal(first.revision, before + 3);
    const again = await apply({ resources });
    assert.ok(again.results.every((r: Reply) => r.action === 'unchanged'));
    assert.equal(again.revision, before + 3);
    assert.equal(await lastRevision(), before + 3);
    resources[2] = { kind: 'group', resource: group('app', { ttl: '30d' }) };
    const third = await apply({ resources });
    assert.deepEqual(
      third.results.map((r: Reply) => r.action),
      ['updated', 'unchanged', 'unchanged'],
    );
    assert.equal(third.revision, before + 4);
  });

  it('schema registry - apply with one invalid item names its index and writes nothing', async () => {
    const before = await lastRevision();
    const bad = [
      { kind: 'group', resource: group('app2') },
      { kind: 'measure', resource: measure('app2', 'cpu', { entity: ['nope'] }) },
    ];
    await rejectsWith(apply({ resources: bad }), Code.InvalidArgument, 'resources[1]');
    const orphan = [{ kind: 'measure', resource: measure('app_none', 'cpu') }];
    await rejectsWith(apply({ resources: orphan }), Code.NotFound, 'resources[0]');
    const dupes = [
      { kind: 'group', resource: group('app3') },
      { kind: 'group', resource: group('app3') },
    ];
    await rejectsWith(apply({ resources: dupes }), Code.InvalidArgument, 'resources[1]');
    await rejectsWith(apply({ resources: [{ kind: 'table', resource: {} }] }), Code.InvalidArgument, 'resources[0]');
    await rejectsWith(apply({}), Code.InvalidArgument, 'resources');
    assert.equal(await lastRevision(), before);
  });

  it('schema registry - a measure without fields is InvalidArgument naming fields and writes nothing', async () => {
    await api('group', 'create', { resource: group('nofields') });
    await api('measure', 'create', { resource: measure('nofields', 'mem') });
    const before = await lastRevision();
    const noFields = measure('nofields', 'cpu', { fields: [] });
    const err = (await rejectsWith(
      api('measure', 'create', { resource: noFields }),
      Code.InvalidArgument,
      'fields must name at least one field',
    )) as LockstepError;
    assert.equal(err.details?.field, 'fields');
    await rejectsWith(
      apply({ resources: [{ kind: 'measure', resource: noFields }] }),
      Code.InvalidArgument,
      'resources[0]',
    );
    // Nor can an update take the last field away.
    await rejectsWith(
      api('measure', 'update', { resource: measure('nofields', 'mem', { fields: [] }) }),
      Code.InvalidArgument,
      'fields',
    );
    assert.equal(await lastRevision(), before);
  });

  it('schema registry - an index rule naming a tag no measure or stream of its group declares is InvalidArgument', async () => {
    await api('group', 'create', { resource: group('rules') });
    const rule = (name: string, tags: string[], g = 'rules') => ({ group: g, name, tags });
    const before = await lastRevision();
    // Before any measure, the group declares no tag at all.
    await rejectsWith(
      api('index_rule', 'create', { resource: rule('by_host', ['host']) }),
      Code.InvalidArgument,
      'tags[0]',
    );
    assert.equal(await lastRevision(), before);
    await api('measure', 'create', { resource: measure('rules', 'cpu') }); // tags host, core
    const err = (await rejectsWith(
      api('index_rule', 'create', { resource: rule('by_dc', ['host', 'dc']) }),
      Code.InvalidArgument,
      'tags[1] names tag "dc", which no measure or stream of group rules declares (declared: core, host)',
    )) as LockstepError;
    assert.equal(err.details?.field, 'tags[1]');
    await api('index_rule', 'create', { resource: rule('by_host', ['host', 'core']) });
    await rejectsWith(
      api('index_rule', 'update', { resource: rule('by_host', ['dc']) }),
      Code.InvalidArgument,
      'tags[0]',
    );
    // A stream group: the streams' tags count.
    await api('group', 'create', { resource: group('rules_s', { catalog: 'stream' }) });
    await api('stream', 'create', { resource: stream('rules_s', 'logs') });
    await rejectsWith(
      api('index_rule', 'create', { resource: rule('by_host', ['host'], 'rules_s') }),
      Code.InvalidArgument,
      'tags[0] names tag "host"',
    );
    await api('index_rule', 'create', { resource: rule('by_svc', ['svc'], 'rules_s') });
    // An apply counts the measures it declares itself, wherever they are in its list, and writes
    // them before the rules that name their tags.
    const net = measure('rules', 'net', {
      tag_families: [
        {
          name: 'default',
          tags: [
            { name: 'host', type: 'string' },
            { name: 'dc', type: 'string' },
          ],
        },
      ],
    });
    const applied = await apply({
      resources: [
        { kind: 'index_rule', resource: rule('by_dc', ['dc']) },
        { kind: 'measure', resource: net },
      ],
    });
    assert.deepEqual(
      applied.results.map((r: Reply) => [r.key, r.action]),
      [
        ['measure:rules/net', 'created'],
        ['index_rule:rules/by_dc', 'created'],
      ],
    );
    const beforeApply = await lastRevision();
    await rejectsWith(
      apply({ resources: [{ kind: 'index_rule', resource: rule('by_zone', ['zone']) }] }),
      Code.InvalidArgument,
      'resources[0]: invalid index_rule: tags[0] names tag "zone"',
    );
    assert.equal(await lastRevision(), beforeApply);
  });

  it('schema registry - a new placement records the balanced strategy; a stored one keeps its own', async () => {
    const nodes = { data_nodes: ['d2', 'd1'] };
    const c = await api('group', 'create', { resource: group('placed', { placement: nodes }) });
    assert.deepEqual(c.resource.placement, { data_nodes: ['d1', 'd2'], strategy: 'balanced' });
    // Echoing the nodes without the strategy, or naming none, changes nothing.
    for (const resource of [group('placed', { placement: nodes }), group('placed')]) {
      assert.deepEqual((await api('group', 'update', { resource })).changed, false);
    }
    await rejectsWith(
      api('group', 'update', { resource: group('placed', { placement: { ...nodes, strategy: 'rendezvous' } }) }),
      Code.FailedPrecondition,
      'placement',
    );
    // A group stored before strategies existed keeps placing by plain rendezvous hashing.
    const stamp = new Date().toISOString();
    const old = { ...group('placed_old'), replicas: 1, placement: { data_nodes: ['d1', 'd2'] } };
    await schema.kv.create(
      'group.placed_old',
      encode({ kind: 'group', resource: { ...old, created_at: stamp, updated_at: stamp } }),
    );
    assert.equal(
      (await api('group', 'update', { resource: group('placed_old', { placement: nodes }) })).changed,
      false,
    );
    const u = await api('group', 'update', { resource: group('placed_old', { ttl: '30d' }) });
    assert.deepEqual([u.changed, u.resource.placement], [true, { data_nodes: ['d1', 'd2'] }]);
    await rejectsWith(
      api('group', 'update', { resource: group('placed_old', { placement: { ...nodes, strategy: 'balanced' } }) }),
      Code.FailedPrecondition,
      'placement',
    );
    await rejectsWith(
      api('group', 'create', { resource: group('placed_bad', { placement: { ...nodes, strategy: 'random' } }) }),
      Code.InvalidArgument,
      'placement.strategy',
    );
  });

  it('schema registry - concurrent creates of one key: exactly one wins', async () => {
    const outcomes = await Promise.allSettled(
      [1, 2, 3].map(() => api('group', 'create', { resource: group('race_create') })),
    );
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    for (const o of outcomes) if (o.status === 'rejected') assert.equal(codeOf(o.reason), Code.AlreadyExists);
  });

  it('schema registry - update without expected revision retries a raced write, then gives up', async () => {
    const base = new SchemaRegistry(schema.kv);
    await base.create('group', group('race_upd'));
    const once = new SchemaRegistry(racingKv(schema.kv, 1));
    const before = await lastRevision();
    const u = await once.update('group', group('race_upd', { ttl: '30d' }));
    assert.deepEqual([u.changed, u.revision], [true, before + 2]);
    const always = new SchemaRegistry(racingKv(schema.kv, 100), { updateAttempts: 3 });
    await rejectsWith(
      always.update('group', group('race_upd', { ttl: '60d' })),
      Code.FailedPrecondition,
      '3 update attempts',
    );
    assert.equal(await lastRevision(), before + 2 + 3);
    // A caller-given revision is never retried: the racer's write makes it stale at once.
    const cur = await base.get({ kind: 'group', group: 'race_upd', name: '' });
    await rejectsWith(
      new SchemaRegistry(racingKv(schema.kv, 1)).update('group', group('race_upd', { ttl: '9d' }), cur.mod_revision),
      Code.FailedPrecondition,
    );
    assert.equal(((await base.get({ kind: 'group', group: 'race_upd', name: '' })).resource as Group).ttl, '30d');
  });

  it('schema registry - the stored value is msgpack {kind, resource} with timestamps from the clock', async () => {
    const fixed = new Date('2030-01-02T03:04:05.000Z');
    const registry = new SchemaRegistry(schema.kv, { clock: { now: () => fixed.getTime() } });
    const c = await registry.create('group', group('clocked'));
    const e = await schema.kv.get('group.clocked');
    assert.equal(e?.revision, c.revision);
    assert.deepEqual(decode(e!.value), { kind: 'group', resource: c.resource });
    assert.equal(c.resource.created_at, fixed.toISOString());
    const got = await registry.get({ kind: 'group', group: 'clocked', name: '' });
    assert.equal(got.mod_revision, c.revision);
    assert.ok(encode(got).length > 0);
  });
});
