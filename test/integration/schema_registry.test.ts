/**
 * The schema API over a real nats-server (test/harness/schema_api.ts): create and get, names and
 * bodies refused before anything is written, msgpack and JSON, update with and without an expected
 * revision, and the immutable properties. Delete, list, apply and what is stored:
 * schema_registry_store.test.ts. Each test uses its own group names.
 */
import assert from 'node:assert/strict';
import { decode } from '../../transport/codec.js';
import { Code } from '../../transport/errors.js';
import { call, STATUS_HEADER } from '../../transport/rpc.js';
import { SCHEMA_BUCKET } from '../../transport/subjects.js';
import type { SchemaKind } from '../../transport/schema_types.js';
import {
  groupResource as group,
  grownMeasureResource,
  measureResource as measure,
  streamResource as stream,
  tagFamily,
} from '../harness/fixtures.js';
import { rejectsWith, SCHEMA_SUBJECTS, SCHEMA_TIMEOUT_MS, useSchemaApi, type Reply } from '../harness/schema_api.js';

const BAD_NAMES = ['a.b', 'a*', 'a>', 'a b', 'Upper', '', 'a'.repeat(64)];

describe('schema registry (nats)', () => {
  const schema = useSchemaApi();
  const { api, rawRequest, lastRevision } = schema;

  it('schema registry - registry opens the lockstep_schema bucket', () => {
    assert.equal(schema.kv.name, SCHEMA_BUCKET);
  });

  it('schema registry - create returns the KV revision and get reports it as mod_revision', async () => {
    const before = await lastRevision();
    const created = await api('group', 'create', { resource: group('rev1') });
    assert.equal(created.revision, before + 1);
    assert.equal(created.kind, 'group');
    assert.equal(created.resource.replicas, 1);
    assert.equal(typeof created.resource.created_at, 'string');
    const got = await api('group', 'get', { group: 'rev1' });
    assert.equal(got.mod_revision, created.revision);
    assert.deepEqual(got.resource, created.resource);
    const m = await api('measure', 'create', { resource: measure('rev1', 'cpu') });
    assert.equal(m.revision, created.revision + 1);
    assert.equal((await api('measure', 'get', { group: 'rev1', name: 'cpu' })).mod_revision, m.revision);
  });

  it('schema registry - every bad name is InvalidArgument and writes nothing', async () => {
    await api('group', 'create', { resource: group('names') });
    await api('group', 'create', { resource: group('names_s', { catalog: 'stream' }) });
    const before = await lastRevision();
    const cases: Array<[string, string, (n: string) => Record<string, unknown>]> = [
      ['group', 'name', (n) => group(n)],
      ['measure', 'name', (n) => measure('names', n)],
      ['measure', 'group', (n) => measure(n, 'cpu')],
      ['stream', 'name', (n) => stream('names_s', n)],
      ['index_rule', 'name', (n) => ({ group: 'names', name: n, tags: ['host'] })],
      [
        'measure',
        'tag_families[0].tags[1].name',
        (n) =>
          measure('names', 'cpu', {
            tag_families: [
              {
                name: 'f',
                tags: [
                  { name: 'host', type: 'string' },
                  { name: n, type: 'int' },
                ],
              },
            ],
          }),
      ],
      [
        'measure',
        'tag_families[0].name',
        (n) => measure('names', 'cpu', { tag_families: [{ name: n, tags: [{ name: 'host', type: 'string' }] }] }),
      ],
      ['measure', 'fields[0].name', (n) => measure('names', 'cpu', { fields: [{ name: n, type: 'int' }] })],
    ];
    for (const [kind, field, make] of cases) {
      for (const bad of BAD_NAMES) {
        await rejectsWith(api(kind, 'create', { resource: make(bad) }), Code.InvalidArgument, field);
      }
    }
    for (const bad of BAD_NAMES) {
      await rejectsWith(api('measure', 'get', { group: 'names', name: bad }), Code.InvalidArgument, 'name');
      await rejectsWith(api('group', 'delete', { group: bad }), Code.InvalidArgument, 'group');
    }
    assert.equal(await lastRevision(), before);
  });

  it('schema registry - duplicate create is AlreadyExists and writes nothing', async () => {
    await api('group', 'create', { resource: group('dup') });
    const before = await lastRevision();
    await rejectsWith(api('group', 'create', { resource: group('dup', { shards: 8 }) }), Code.AlreadyExists, 'dup');
    assert.equal(await lastRevision(), before);
  });

  it('schema registry - group must exist with a fitting catalog', async () => {
    const before = await lastRevision();
    await rejectsWith(api('measure', 'create', { resource: measure('nogroup', 'cpu') }), Code.NotFound, 'nogroup');
    await api('group', 'create', { resource: group('streams', { catalog: 'stream' }) });
    await rejectsWith(
      api('measure', 'create', { resource: measure('streams', 'cpu') }),
      Code.InvalidArgument,
      'catalog',
    );
    assert.equal(await lastRevision(), before + 1);
  });

  it('schema registry - missing fields and non-object bodies are InvalidArgument', async () => {
    await api('group', 'create', { resource: group('missing') });
    const before = await lastRevision();
    await rejectsWith(api('group', 'create', {}), Code.InvalidArgument, 'resource');
    await rejectsWith(
      api('group', 'create', { resource: { name: 'x', catalog: 'measure', shards: 1, ttl: '1d' } }),
      Code.InvalidArgument,
      'segment_interval',
    );
    const noFields = measure('missing', 'cpu');
    delete noFields.fields;
    await rejectsWith(api('measure', 'create', { resource: noFields }), Code.InvalidArgument, 'fields');
    await rejectsWith(api('measure', 'get', { group: 'missing' }), Code.InvalidArgument, 'name');
    await rejectsWith(api('measure', 'list', {}), Code.InvalidArgument, 'group');
    await rejectsWith(api('group', 'create', 'hello'), Code.InvalidArgument, 'object');
    await rejectsWith(api('group', 'create', [1, 2]), Code.InvalidArgument, 'object');
    await rejectsWith(api('group', 'create', { resource: 'g' }), Code.InvalidArgument, 'resource');
    await rejectsWith(api('group', 'create', { resource: group('x'), colour: 1 }), Code.InvalidArgument, 'colour');
    await rejectsWith(
      api('group', 'create', { resource: group('x', { shards: 300 }) }),
      Code.InvalidArgument,
      'shards',
    );
    await rejectsWith(
      api('measure', 'create', { resource: measure('missing', 'cpu', { fields: [{ name: 'v', type: 'text' }] }) }),
      Code.InvalidArgument,
      'type',
    );
    assert.equal(await lastRevision(), before);
  });

  it('schema registry - malformed msgpack and JSON bodies get Lockstep-Status InvalidArgument', async () => {
    const subject = SCHEMA_SUBJECTS.api.schema('group', 'create');
    const mp = await rawRequest(subject, Uint8Array.from([0x85, 0xa1]), false);
    assert.equal(mp.headers[STATUS_HEADER], Code.InvalidArgument);
    assert.equal((decode(mp.data) as Reply).code, Code.InvalidArgument);
    const js = await rawRequest(subject, new TextEncoder().encode('{"resource": '), true);
    assert.equal(js.headers[STATUS_HEADER], Code.InvalidArgument);
    assert.equal(js.headers['Content-Type'], 'application/json');
    assert.equal(JSON.parse(new TextDecoder().decode(js.data)).code, Code.InvalidArgument);
  });

  it('schema registry - JSON clients get JSON replies', async () => {
    const created = await api('group', 'create', { resource: group('jsong') }, 'json');
    const raw = await rawRequest(
      SCHEMA_SUBJECTS.api.schema('group', 'get'),
      new TextEncoder().encode('{"group":"jsong"}'),
      true,
    );
    assert.equal(raw.headers['Content-Type'], 'application/json');
    assert.equal(raw.headers[STATUS_HEADER], undefined);
    const body = JSON.parse(new TextDecoder().decode(raw.data));
    assert.equal(body.mod_revision, created.revision);
    assert.equal(body.resource.name, 'jsong');
  });

  it('schema registry - unknown kinds and verbs are Unimplemented listing the valid ones', async () => {
    await rejectsWith(
      api('table', 'create', { resource: {} }),
      Code.Unimplemented,
      'group, measure, stream, index_rule',
    );
    await rejectsWith(api('group', 'rename', {}), Code.Unimplemented, 'create, update, delete, get, list');
    await rejectsWith(
      call(schema.client, `${SCHEMA_SUBJECTS.api.schema('group', 'get')}.extra`, {}, { timeoutMs: SCHEMA_TIMEOUT_MS }),
      Code.Unimplemented,
    );
  });

  it('schema registry - stale expected revision is FailedPrecondition', async () => {
    const c = await api('group', 'create', { resource: group('stale') });
    const u = await api('group', 'update', { resource: group('stale', { ttl: '30d' }), expected_revision: c.revision });
    assert.equal(u.changed, true);
    assert.ok(u.revision > c.revision);
    assert.equal(u.resource.created_at, c.resource.created_at);
    const before = await lastRevision();
    await rejectsWith(
      api('group', 'update', { resource: group('stale', { ttl: '60d' }), expected_revision: c.revision }),
      Code.FailedPrecondition,
      'revision',
    );
    await rejectsWith(
      api('group', 'delete', { group: 'stale', expected_revision: c.revision }),
      Code.FailedPrecondition,
      'revision',
    );
    assert.equal(await lastRevision(), before);
    assert.equal((await api('group', 'get', { group: 'stale' })).resource.ttl, '30d');
  });

  it('schema registry - update of a missing resource is NotFound', async () => {
    await rejectsWith(api('group', 'update', { resource: group('ghost') }), Code.NotFound, 'ghost');
    await rejectsWith(api('group', 'get', { group: 'ghost' }), Code.NotFound);
    await rejectsWith(api('group', 'delete', { group: 'ghost' }), Code.NotFound);
  });

  it('schema registry - unchanged update writes nothing and reports changed false', async () => {
    const c = await api('group', 'create', { resource: group('same', { replicas: 1 }) });
    const before = await lastRevision();
    // replicas left out equals the default 1; echoed bookkeeping is ignored.
    const u = await api('group', 'update', { resource: { ...group('same'), created_at: 'whatever' } });
    assert.deepEqual([u.changed, u.revision], [false, c.revision]);
    assert.equal(await lastRevision(), before);
  });

  it('schema registry - each immutable property change is FailedPrecondition naming the migration', async () => {
    await api('group', 'create', { resource: group('immut') });
    await api('group', 'create', { resource: group('immut_s', { catalog: 'stream' }) });
    await api('measure', 'create', { resource: measure('immut', 'cpu') });
    await api('stream', 'create', { resource: stream('immut_s', 'logs') });
    await api('index_rule', 'create', { resource: { group: 'immut', name: 'by_host', tags: ['host'] } });
    const before = await lastRevision();
    const refused: Array<[SchemaKind, Record<string, unknown>, string]> = [
      ['group', group('immut', { catalog: 'stream' }), 'catalog'],
      ['group', group('immut', { shards: 4 }), 'shards'],
      ['group', group('immut', { segment_interval: '12h' }), 'segment_interval'],
      ['measure', measure('immut', 'cpu', { entity: ['host', 'core'] }), 'entity'],
      ['measure', measure('immut', 'cpu', { fields: [{ name: 'value', type: 'int' }] }), 'field value'],
      [
        'measure',
        measure('immut', 'cpu', { tag_families: [tagFamily('default', { host: 'string', core: 'string' })] }),
        'tag core',
      ],
      [
        'stream',
        stream('immut_s', 'logs', {
          entity: ['svc', 'pod'],
          tag_families: [tagFamily('meta', { svc: 'string', pod: 'string' })],
        }),
        'entity',
      ],
      ['stream', stream('immut_s', 'logs', { element_id: 'eid' }), 'element_id'],
      ['index_rule', { group: 'immut', name: 'by_host', tags: ['host'], type: 'tree' }, 'type'],
    ];
    for (const [kind, resource, what] of refused) {
      const err = await rejectsWith(api(kind, 'update', { resource }), Code.FailedPrecondition, what);
      assert.match(err.message, /rewrite migration \(`lockstep migrate`\)/);
    }
    assert.equal(await lastRevision(), before);
    await rejectsWith(
      api('group', 'update', { resource: group('immut', { replicas: 2 }) }),
      Code.FailedPrecondition,
      'replicas',
    );
    // Compatible changes go through: ttl, an added tag and field.
    assert.equal((await api('group', 'update', { resource: group('immut', { ttl: '90d' }) })).changed, true);
    const grown = grownMeasureResource('immut', 'cpu');
    assert.equal((await api('measure', 'update', { resource: grown })).changed, true);
  });
});
