/**
 * The `lockstep` CLI end to end: each test spawns `node bin/lockstep.js …` against a real
 * nats-server while this process serves the schema API in-process (no node runs). One server per
 * file; each test uses its own group names and deletes them afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from '../../transport/bus.js';
import { Code, codeOf } from '../../transport/errors.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { subjectsFor } from '../../transport/subjects.js';
import { SchemaRegistry } from '../../actors/liaison/schema_registry.js';
import { serveSchemaApi } from '../../actors/liaison/schema_service.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { runCli } from '../harness/child.js';
import { groupResource, hostValueMeasure } from '../harness/fixtures.js';

const CLI_TIMEOUT_MS = 20_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

let server: NatsServer;
let bus: NatsBus;
let registry: SchemaRegistry;
let subs: Subscription[] = [];
const groups: string[] = [];
let tmp: string | undefined;

/** Runs the CLI to its end (asynchronously: this process must keep serving the API meanwhile). */
function cli(...args: string[]): Promise<CliResult> {
  return runCli(server.url, args, { timeoutMs: CLI_TIMEOUT_MS });
}

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

function revisionIn(text: string, what: string): number {
  const m = new RegExp(`${what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at revision (\\d+)`).exec(text);
  assert.ok(m, `no "${what} at revision N" in: ${text}`);
  return Number(m[1]);
}

/** A group name owned by the running test, deleted (with its resources) after it. */
function group(name: string): string {
  groups.push(name);
  return name;
}

function tempFile(name: string, text: string): string {
  tmp ??= mkdtempSync(join(tmpdir(), 'lockstep-cli-'));
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

async function createGroup(name: string): Promise<void> {
  await registry.create('group', groupResource(name));
}

async function createMeasure(g: string, name: string): Promise<number> {
  return (await registry.create('measure', hostValueMeasure(g, name))).revision;
}

/** `schema create group <name>` with the flags of `groupResource`: 2 shards (or `shards`), 1 d segments, 7 d ttl. */
function createGroupArgs(name: string, shards = '2'): string[] {
  return [
    'schema',
    'create',
    'group',
    name,
    '--catalog',
    'measure',
    '--shards',
    shards,
    '--segment-interval',
    '1d',
    '--ttl',
    '7d',
  ];
}

describe('cli', function () {
  before(async () => {
    server = await startNatsServer();
    bus = await NatsBus.connect({ url: server.url, name: 'cli-test-service' });
    registry = await SchemaRegistry.open(bus);
    subs = serveSchemaApi(bus, subjectsFor('lockstep'), registry);
    await bus.flush();
  });

  afterEach(async () => {
    for (const g of groups.splice(0)) {
      await registry.delete({ kind: 'group', group: g, name: '' }, { cascade: true }).catch((err) => {
        if (codeOf(err) !== Code.NotFound) throw err;
      });
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  after(async () => {
    for (const s of subs) s.unsubscribe();
    await bus?.close();
    await server?.stop();
  });

  it('cli - create group and measure print their revisions', async () => {
    const g = group('cli_create');
    const r1 = ok(await cli(...createGroupArgs(g)));
    const groupRev = revisionIn(r1.stdout, `created group:${g}`);
    const r2 = ok(
      await cli(
        'schema',
        'create',
        'measure',
        `${g}/cpu`,
        '--entity',
        'host',
        '--tags',
        'host:string,region:string',
        '--fields',
        'value:float,count:int',
        '--interval',
        '1m',
      ),
    );
    const measureRev = revisionIn(r2.stdout, `created measure:${g}/cpu`);
    assert.ok(measureRev > groupRev, `measure revision ${measureRev} must follow group revision ${groupRev}`);
    const stored = await registry.get({ kind: 'measure', group: g, name: 'cpu' });
    assert.equal(stored.mod_revision, measureRev);
    assert.deepEqual((stored.resource as { tag_families: unknown }).tag_families, [
      {
        name: 'default',
        tags: [
          { name: 'host', type: 'string' },
          { name: 'region', type: 'string' },
        ],
      },
    ]);
  });

  it('cli - get and list answer one JSON document with --json', async () => {
    const g = group('cli_get');
    await createGroup(g);
    const rev = await createMeasure(g, 'mem');
    const got = JSON.parse(ok(await cli('--json', 'schema', 'get', 'measure', `${g}/mem`)).stdout);
    assert.equal(got.kind, 'measure');
    assert.equal(got.mod_revision, rev);
    assert.equal(got.resource.name, 'mem');
    const list = JSON.parse(ok(await cli('schema', 'list', 'measure', g, '--json')).stdout);
    assert.deepEqual(
      list.items.map((i: { resource: { name: string } }) => i.resource.name),
      ['mem'],
    );
    const groupsList = JSON.parse(ok(await cli('--json', 'schema', 'list', 'group')).stdout);
    assert.ok(groupsList.items.some((i: { resource: { name: string } }) => i.resource.name === g));
    const human = ok(await cli('schema', 'list', 'measure', g)).stdout;
    assert.match(human, /^NAME\s+ENTITY\s+TAGS\s+FIELDS\s+INTERVAL\s+REVISION\nmem\s+host\s+host:string\s+value:float/);
  });

  it('cli - apply -f creates from YAML, and a re-apply says unchanged', async () => {
    const g = group('cli_apply');
    const file = tempFile(
      'schema.yaml',
      [
        `kind: group`,
        `name: ${g}`,
        `catalog: measure`,
        `shards: 2`,
        `segment_interval: 1d`,
        `ttl: 7d`,
        `---`,
        `resources:`,
        `  - kind: measure`,
        `    group: ${g}`,
        `    name: cpu`,
        `    entity: [host]`,
        `    tag_families: [{name: default, tags: [{name: host, type: string}]}]`,
        `    fields: [{name: value, type: float}]`,
        ``,
      ].join('\n'),
    );
    const first = ok(await cli('schema', 'apply', '-f', file)).stdout;
    revisionIn(first, `created group:${g}`);
    const rev = revisionIn(first, `created measure:${g}/cpu`);
    const again = ok(await cli('schema', 'apply', '-f', file)).stdout;
    assert.equal(revisionIn(again, `unchanged group:${g}`) < rev, true);
    assert.equal(revisionIn(again, `unchanged measure:${g}/cpu`), rev);
    const json = JSON.parse(ok(await cli('--json', 'schema', 'apply', '-f', file)).stdout);
    assert.deepEqual(
      json.results.map((x: { action: string }) => x.action),
      ['unchanged', 'unchanged'],
    );
  });

  it('cli - an unreadable or unparseable apply file exits 2 naming the file', async () => {
    const missing = join(tmpdir(), 'lockstep-cli-no-such-file.yaml');
    const r1 = await cli('schema', 'apply', '-f', missing);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, new RegExp(`^error: InvalidArgument: cannot read ${missing}`));
    const bad = tempFile('bad.yaml', 'kind: group\nname: x\nname: y\n');
    const r2 = await cli('schema', 'apply', '-f', bad);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /^error: InvalidArgument: cannot parse .*bad\.yaml: .*at line 3/);
    assert.ok(!r2.stderr.includes('    at '), `stack trace in: ${r2.stderr}`);
  });

  it('cli - a bad name or flag exits 2 with InvalidArgument', async () => {
    const r1 = await cli(...createGroupArgs('Bad.name'));
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /^error: InvalidArgument: group "Bad\.name" is not a valid name/);
    assert.equal(r1.stdout, '');
    const r2 = await cli('--json', 'schema', 'get', 'measure', 'no_slash');
    assert.equal(r2.code, 2);
    assert.equal(JSON.parse(r2.stdout).error.code, 'InvalidArgument');
    const r3 = await cli(...createGroupArgs('fine', 'two'));
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /^error: InvalidArgument: --shards must be/);
    const r4 = await cli(
      'schema',
      'create',
      'measure',
      'g/m',
      '--entity',
      'host',
      '--tags',
      'host',
      '--fields',
      'value:float',
    );
    assert.equal(r4.code, 2);
    assert.match(r4.stderr, /^error: InvalidArgument: bad tag spec "host"/);
  });

  it('cli - update adds a tag, and a changed tag type is refused with FailedPrecondition', async () => {
    const g = group('cli_update');
    await createGroup(g);
    const before = await createMeasure(g, 'disk');
    const r1 = ok(await cli('schema', 'update', 'measure', `${g}/disk`, '--tags', 'region:string'));
    assert.ok(revisionIn(r1.stdout, `updated measure:${g}/disk`) > before);
    const r2 = await cli('schema', 'update', 'measure', `${g}/disk`, '--tags', 'host:int');
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /^error: FailedPrecondition: changing the type of tag host/);
    const r3 = await cli(
      'schema',
      'update',
      'measure',
      `${g}/disk`,
      '--tags',
      'region:string',
      '--expected-revision',
      String(before),
    );
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /^error: FailedPrecondition: .*not the expected/);
  });

  it('cli - delete with --cascade prints what it deleted', async () => {
    const g = group('cli_delete');
    await createGroup(g);
    await createMeasure(g, 'net');
    const r1 = await cli('schema', 'delete', 'group', g);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /^error: FailedPrecondition: group cli_delete still holds 1 resource/);
    const r2 = ok(await cli('schema', 'delete', 'group', g, '--cascade'));
    revisionIn(r2.stdout, `deleted measure:${g}/net, group:${g}`);
    assert.equal(await registry.find({ kind: 'group', group: g, name: '' }), null);
  });

  it('cli - --help on schema create measure lists its flags', async () => {
    const r = ok(await cli('schema', 'create', 'measure', '--help'));
    for (const flag of ['--entity <tags>', '--tags <specs>', '--fields <specs>', '--interval <duration>']) {
      assert.ok(r.stdout.includes(flag), `help lacks ${flag}:\n${r.stdout}`);
    }
  });

  it('cli - barrier revision without a liaison exits 2 with Unavailable, saying no liaison answers', async () => {
    const r1 = await cli('barrier', 'revision', '--min-revision', '1', '--timeout', '1s');
    assert.equal(r1.code, 2);
    // Not NATS's "no responders": what is missing, where, and how to get it.
    assert.match(
      r1.stderr,
      /^error: Unavailable: no Lockstep liaison answers on lockstep\.api\.barrier\.revision at nats:\/\/127\.0\.0\.1:\d+ \(URL from LOCKSTEP_NATS_URL\): NATS is up, but no cluster serves it; start a local cluster with `npm start`/,
    );
    const r2 = await cli('--json', 'barrier', 'revision', '--min-revision', '1');
    assert.equal(r2.code, 2);
    assert.equal(JSON.parse(r2.stdout).error.code, 'Unavailable');
    const r3 = await cli('barrier', 'revision', '--min-revision', '1', '--timeout', 'soon');
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /^error: InvalidArgument: --timeout "soon" is not a duration/);
  });
});
