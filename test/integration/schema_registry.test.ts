/**
 * The schema API over a real nats-server: the service runs in this process on one connection,
 * the client calls it through `call()` on another. One server per file; each test uses its own
 * group names, so tests share the bucket without seeing each other.
 */
import assert from 'node:assert/strict';
import type { Bus, KvBucket, Subscription } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, codeOf, type LockstepError } from '../../transport/errors.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { call, STATUS_HEADER } from '../../transport/rpc.js';
import { SCHEMA_BUCKET, subjectsFor } from '../../transport/subjects.js';
import type { Group, SchemaKind } from '../../transport/schema_types.js';
import { SchemaRegistry } from '../../actors/liaison/schema_registry.js';
import { serveSchemaApi } from '../../actors/liaison/schema_service.js';
import {
  groupResource as group,
  grownMeasureResource,
  measureResource as measure,
  streamResource as stream,
  tagFamily,
} from '../harness/fixtures.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';

const subjects = subjectsFor('schematest');
const TIMEOUT_MS = 5000;
const BAD_NAMES = ['a.b', 'a*', 'a>', 'a b', 'Upper', '', 'a'.repeat(64)];

// Replies are checked field by field against what each test expects; their exact types are the API's.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Reply = Record<string, any>;

let server: NatsServer;
let serviceBus: NatsBus;
let client: NatsBus;
let kv: KvBucket;
let subs: Subscription[] = [];

function api(kind: string, verb: string, body: unknown, encoding: 'msgpack' | 'json' = 'msgpack'): Promise<Reply> {
  return call<Reply>(client, subjects.api.schema(kind, verb), body, { timeoutMs: TIMEOUT_MS, encoding });
}

async function rejectsWith(p: Promise<unknown>, code: Code, mentions?: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.equal(codeOf(err), code, `expected ${code}, got ${codeOf(err)}: ${(err as Error).message}`);
    if (mentions)
      assert.ok((err as Error).message.includes(mentions), `message "${(err as Error).message}" lacks "${mentions}"`);
    return err as Error;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

async function lastRevision(): Promise<number> {
  return (await kv.lastRevision()).revision;
}

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

async function rawRequest(subject: string, data: Uint8Array, json: boolean) {
  const headers = json ? { 'Content-Type': 'application/json' } : undefined;
  return (client as Bus).request(subject, data, { timeoutMs: TIMEOUT_MS, headers });
}

describe('schema registry (nats)', () => {
  before(async () => {
    server = await startNatsServer();
    serviceBus = await NatsBus.connect({ url: server.url, name: 'schema-service' });
    client = await NatsBus.connect({ url: server.url, name: 'schema-client' });
    const registry = await SchemaRegistry.open(serviceBus);
    kv = registry.kv;
    subs = serveSchemaApi(serviceBus, subjects, registry);
    await serviceBus.flush();
  });

  after(async () => {
    for (const s of subs) s.unsubscribe();
    await client?.close();
    await serviceBus?.close();
    await server?.stop();
  });

  it('schema registry - registry opens the lockstep_schema bucket', () => {
    assert.equal(kv.name, SCHEMA_BUCKET);
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
    const subject = subjects.api.schema('group', 'create');
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
      subjects.api.schema('group', 'get'),
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
      call(client, `${subjects.api.schema('group', 'get')}.extra`, {}, { timeoutMs: TIMEOUT_MS }),
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
    const first = await call<Reply>(client, subjects.api.schemaApply, { resources }, { timeoutMs: TIMEOUT_MS });
    assert.deepEqual(
      first.results.map((r: Reply) => [r.key, r.action, r.revision]),
      [
        ['group:app', 'created', before + 1],
        ['measure:app/cpu', 'created', before + 2],
        ['index_rule:app/by_host', 'created', before + 3],
      ],
    );
    assert.equal(first.revision, before + 3);
    const again = await call<Reply>(client, subjects.api.schemaApply, { resources }, { timeoutMs: TIMEOUT_MS });
    assert.ok(again.results.every((r: Reply) => r.action === 'unchanged'));
    assert.equal(again.revision, before + 3);
    assert.equal(await lastRevision(), before + 3);
    resources[2] = { kind: 'group', resource: group('app', { ttl: '30d' }) };
    const third = await call<Reply>(client, subjects.api.schemaApply, { resources }, { timeoutMs: TIMEOUT_MS });
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
    await rejectsWith(
      call(client, subjects.api.schemaApply, { resources: bad }, { timeoutMs: TIMEOUT_MS }),
      Code.InvalidArgument,
      'resources[1]',
    );
    const orphan = [{ kind: 'measure', resource: measure('app_none', 'cpu') }];
    await rejectsWith(
      call(client, subjects.api.schemaApply, { resources: orphan }, { timeoutMs: TIMEOUT_MS }),
      Code.NotFound,
      'resources[0]',
    );
    const dupes = [
      { kind: 'group', resource: group('app3') },
      { kind: 'group', resource: group('app3') },
    ];
    await rejectsWith(
      call(client, subjects.api.schemaApply, { resources: dupes }, { timeoutMs: TIMEOUT_MS }),
      Code.InvalidArgument,
      'resources[1]',
    );
    await rejectsWith(
      call(
        client,
        subjects.api.schemaApply,
        { resources: [{ kind: 'table', resource: {} }] },
        { timeoutMs: TIMEOUT_MS },
      ),
      Code.InvalidArgument,
      'resources[0]',
    );
    await rejectsWith(
      call(client, subjects.api.schemaApply, {}, { timeoutMs: TIMEOUT_MS }),
      Code.InvalidArgument,
      'resources',
    );
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
      call(
        client,
        subjects.api.schemaApply,
        { resources: [{ kind: 'measure', resource: noFields }] },
        { timeoutMs: TIMEOUT_MS },
      ),
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
    const applied = await call<Reply>(
      client,
      subjects.api.schemaApply,
      {
        resources: [
          { kind: 'index_rule', resource: rule('by_dc', ['dc']) },
          { kind: 'measure', resource: net },
        ],
      },
      { timeoutMs: TIMEOUT_MS },
    );
    assert.deepEqual(
      applied.results.map((r: Reply) => [r.key, r.action]),
      [
        ['measure:rules/net', 'created'],
        ['index_rule:rules/by_dc', 'created'],
      ],
    );
    const beforeApply = await lastRevision();
    await rejectsWith(
      call(
        client,
        subjects.api.schemaApply,
        { resources: [{ kind: 'index_rule', resource: rule('by_zone', ['zone']) }] },
        { timeoutMs: TIMEOUT_MS },
      ),
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
    await kv.create(
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
    const base = new SchemaRegistry(kv);
    await base.create('group', group('race_upd'));
    const once = new SchemaRegistry(racingKv(kv, 1));
    const before = await lastRevision();
    const u = await once.update('group', group('race_upd', { ttl: '30d' }));
    assert.deepEqual([u.changed, u.revision], [true, before + 2]);
    const always = new SchemaRegistry(racingKv(kv, 100), { updateAttempts: 3 });
    await rejectsWith(
      always.update('group', group('race_upd', { ttl: '60d' })),
      Code.FailedPrecondition,
      '3 update attempts',
    );
    assert.equal(await lastRevision(), before + 2 + 3);
    // A caller-given revision is never retried: the racer's write makes it stale at once.
    const cur = await base.get({ kind: 'group', group: 'race_upd', name: '' });
    await rejectsWith(
      new SchemaRegistry(racingKv(kv, 1)).update('group', group('race_upd', { ttl: '9d' }), cur.mod_revision),
      Code.FailedPrecondition,
    );
    assert.equal(((await base.get({ kind: 'group', group: 'race_upd', name: '' })).resource as Group).ttl, '30d');
  });

  it('schema registry - the stored value is msgpack {kind, resource} with timestamps from the clock', async () => {
    const fixed = new Date('2030-01-02T03:04:05.000Z');
    const registry = new SchemaRegistry(kv, { clock: { now: () => fixed.getTime() } });
    const c = await registry.create('group', group('clocked'));
    const e = await kv.get('group.clocked');
    assert.equal(e?.revision, c.revision);
    assert.deepEqual(decode(e!.value), { kind: 'group', resource: c.resource });
    assert.equal(c.resource.created_at, fixed.toISOString());
    const got = await registry.get({ kind: 'group', group: 'clocked', name: '' });
    assert.equal(got.mod_revision, c.revision);
    assert.ok(encode(got).length > 0);
  });
});
