/**
 * Least privilege (deploy/nats-users.conf) against a real nats-server loaded with that very file:
 * nodes run under their role users (liaison, data, claimer) through schema changes, writes,
 * queries, the barrier and a re-sharding migration without one permission violation; applications
 * log in as admin, writer or reader and get exactly their share of the public API; nobody receives
 * another party's replies; internal subjects, the JetStream API and the KV subjects are closed to
 * applications; the CLI takes credentials from the environment or a file, never a command line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockstepClient } from '../../transport/client.js';
import type { LockstepError } from '../../transport/errors.js';
import { NatsBus } from '../../transport/nats_bus.js';
import type { WritePoint } from '../../transport/api_types.js';
import type { Layout } from '../../transport/layout_types.js';
import { migrationEnded } from '../../transport/migration_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { headerOf } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { SHARD_PAGE_HEADER } from '../../storage/query/page.js';
import { TestCluster } from '../harness/cluster.js';
import { runCli } from '../harness/child.js';
import { groupResource, hostValueMeasure } from '../harness/fixtures.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { waitFor } from '../harness/wait.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
const USERS_CONF = fileURLToPath(new URL('../../deploy/nats-users.conf', import.meta.url));
const USERS = ['liaison', 'data', 'claimer', 'admin', 'writer', 'reader'] as const;
type User = (typeof USERS)[number];
const GROUP = 'perm';
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);
const HOSTS = 50;

const isDenied = (e: unknown) => {
  assert.equal((e as LockstepError).code, 'PermissionDenied', (e as Error).message);
  return true;
};

describe('least privilege: deploy/nats-users.conf on a real nats-server (1 liaison, 2 data nodes, 1 claimer)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-perm-'));
  const logFile = join(dir, 'nats.log');
  // Fresh passwords of the config's form (a letter, then hex).
  const pw = Object.fromEntries(USERS.map((u) => [u, `p${randomBytes(12).toString('hex')}`])) as Record<User, string>;
  const loginEnv = (u: User) => ({ LOCKSTEP_NATS_USER: u, LOCKSTEP_NATS_PASSWORD: pw[u] });
  let nats: NatsServer;
  let c: TestCluster;
  const clients: Partial<Record<User, LockstepClient>> = {};
  const client = (u: User) => clients[u]!;
  let pointsWritten = 0;
  const buses: NatsBus[] = [];
  const busAs = async (u: User, name: string) => {
    const b = await NatsBus.connect({ url: nats.url, name, auth: { user: u, pass: pw[u] } });
    buses.push(b);
    return b;
  };
  const violationsBy = (users: readonly string[]) =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => /Violation/.test(l) && users.some((u) => l.includes(`User "${u}"`)));
  const count = async (u: User) =>
    (await client(u).queryMeasure({ group: GROUP, name: 'cpu', from: T0, to: T0 + 86_400_000, limit: 10_000 })).rows!
      .length;

  before(async () => {
    copyFileSync(USERS_CONF, join(dir, 'nats-users.conf'));
    writeFileSync(join(dir, 'server.conf'), 'include "nats-users.conf"\n');
    nats = await startNatsServer({
      dir,
      args: ['-c', join(dir, 'server.conf'), '-l', logFile],
      env: Object.fromEntries(USERS.map((u) => [`${u.toUpperCase()}_NATS_PASSWORD`, pw[u]])),
    });
    c = await TestCluster.start({
      natsUrl: nats.url,
      liaisons: 1,
      dataNodes: 2,
      claimers: 1,
      roleEnv: { liaison: loginEnv('liaison'), data: loginEnv('data'), claimer: loginEnv('claimer') },
      // The cluster's own connection checks readiness on the nodes' control subjects: a node's user.
      adminAuth: { user: 'liaison', pass: pw.liaison },
    });
    for (const u of ['admin', 'writer', 'reader'] as const)
      clients[u] = await LockstepClient.connect({ natsUrl: nats.url, name: `perm-${u}`, user: u, password: pw[u] });
  });
  after(async () => {
    for (const cl of Object.values(clients)) await cl?.close().catch(() => undefined);
    for (const b of buses) await b.close().catch(() => undefined);
    await c?.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('nodes work under their role users: schema, writes, queries, barrier, a re-sharding migration', async () => {
    const admin = client('admin');
    await admin.create('group', groupResource(GROUP));
    const m = await admin.create('measure', hostValueMeasure(GROUP, 'cpu'));
    const applied = await client('reader').awaitApplied([`measure:${GROUP}/cpu`], {
      minRevisions: [m.revision],
      timeoutMs: 10_000,
    });
    assert.equal(applied.applied, true);
    for (let i = 0; i < 3; i++) {
      const points: WritePoint[] = Array.from({ length: HOSTS }, (_, h) => ({
        tags: { host: `h${h}` },
        fields: { value: h },
        ts: T0 + i * 1000,
      }));
      await client('writer').writeMeasure(GROUP, 'cpu', points);
      pointsWritten += HOSTS;
    }
    await waitFor(async () => (await count('reader')) === pointsWritten, { what: 'the written points readable' });

    const started = await admin.migrations.start({ targets: [GROUP], change: { group: { shards: 4 } } });
    const ended = await waitFor(
      async () => {
        const s = await admin.migrations.status(started.id);
        return migrationEnded(s.state) ? s : undefined;
      },
      { timeoutMs: 60_000, what: 'the migration to end' },
    );
    assert.equal(ended.state, 'completed', JSON.stringify(ended));
    assert.equal(ended.operations[0]!.kind, 'rewrite');
    assert.equal(await count('reader'), pointsWritten, 'every point read once from the new layout');
    const layout = await client('reader').get('layout' as never, { group: GROUP } as never);
    assert.equal((layout.resource as Layout).current.shards, 4, 'the new layout serves');
    // A backup's calls: the liaison relays them, a data node snapshots (reading the WAL tail) and serves files.
    const gen = (layout.resource as Layout).current.generation;
    const snap = await admin.backups.snapshot({ backup: 'perm', group: GROUP, generation: gen, shard: 0 });
    const flushed = await admin.backups.read(snap.node, snap.snapshot, 'flushed', 0);
    assert.equal(flushed.eof, true);
    assert.match(new TextDecoder().decode(flushed.data), /"last_sequence"/);
    assert.deepEqual(await admin.backups.release(snap.node, snap.snapshot), { released: true });
    assert.deepEqual(violationsBy(['liaison', 'data', 'claimer']), [], 'no node needed more than its role grants');
  });

  it("a one-series query's answer comes from the shard's owner straight to the reader, and only the reader", async () => {
    const reader = await busAs('reader', 'perm-forward');
    const query = {
      group: GROUP,
      name: 'cpu',
      from: T0,
      to: T0 + 86_400_000,
      criteria: { tag: 'host', op: 'eq', value: 'h7' },
    };
    const ask = () => reader.request(S.api.query('measure'), encode(query), { timeoutMs: 10_000 });
    // The first goes through the liaison, which then knows the shard's owners answer pages.
    const viaLiaison = await ask();
    assert.equal(headerOf(viaLiaison.headers, SHARD_PAGE_HEADER), undefined);
    const forwarded = await waitFor(
      async () => {
        const m = await ask();
        return headerOf(m.headers, SHARD_PAGE_HEADER) ? m : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 0, what: 'a reply sent by the shard owner' },
    );
    const rows = (m: { data: Uint8Array }) => (decode(m.data, 'msgpack') as { rows: unknown[] }).rows;
    assert.equal(rows(forwarded).length, 3);
    assert.deepEqual(rows(forwarded), rows(viaLiaison));
    // A JSON request is always answered by the liaison (the shard answers in msgpack).
    const json = await reader.request(S.api.query('measure'), encode(query, 'json'), {
      timeoutMs: 10_000,
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(headerOf(json.headers, SHARD_PAGE_HEADER), undefined);
    assert.equal((decode(json.data, 'json') as { rows: unknown[] }).rows.length, 3);
    assert.deepEqual(violationsBy(['liaison', 'data']), [], 'the data node answered through allow_responses only');
  });

  it('a reader cannot write, delete or migrate; a writer cannot change the schema; nothing changes', async () => {
    const point = [{ tags: { host: 'h0' }, fields: { value: -1 }, ts: T0 + 10_000 }];
    await assert.rejects(client('reader').writeMeasure(GROUP, 'cpu', point), isDenied);
    await assert.rejects(client('reader').delete('measure', { group: GROUP, name: 'cpu' }), isDenied);
    await assert.rejects(
      client('reader').migrations.start({ targets: [GROUP], change: { group: { shards: 8 } } }),
      isDenied,
    );
    await assert.rejects(client('writer').delete('measure', { group: GROUP, name: 'cpu' }), isDenied);
    await assert.rejects(client('writer').create('measure', hostValueMeasure(GROUP, 'mem')), isDenied);
    await assert.rejects(client('writer').migrations.list(), isDenied);
    await assert.rejects(
      client('writer').backups.snapshot({ backup: 'w', group: GROUP, generation: 1, shard: 0 }),
      isDenied,
    );
    await assert.rejects(client('reader').backups.read('d1', 'w', 'flushed', 0), isDenied);
    // What they may do still works, and nothing was written or deleted.
    assert.equal(await count('reader'), pointsWritten);
    assert.equal(await count('writer'), pointsWritten);
    assert.equal((await client('writer').list('measure', GROUP)).length, 1);
    assert.ok(
      violationsBy(['reader']).some((l) => l.includes(S.api.write('measure'))),
      'the server logged the refusal',
    );
  });

  it("nobody receives another party's replies: _INBOX.> and other users' prefixes stay silent", async () => {
    const heard = new Map<string, number>();
    const listen = (b: NatsBus, subject: string) => {
      const key = `${b.name} ${subject}`;
      heard.set(key, 0);
      b.subscribe(subject, () => heard.set(key, heard.get(key)! + 1));
    };
    const snoopW = await busAs('writer', 'snoop-writer');
    const snoopR = await busAs('reader', 'snoop-reader');
    const snoopA = await busAs('admin', 'snoop-admin');
    for (const s of ['_INBOX.>', '_INBOX.reader.>', '_INBOX.admin.>', '_INBOX.liaison.>', '_INBOX.data.>', '>'])
      listen(snoopW, s);
    for (const s of ['_INBOX.>', '_INBOX.writer.>', '_INBOX.claimer.>', '>']) listen(snoopR, s);
    for (const s of ['_INBOX.>', '_INBOX.writer.>', '_INBOX.reader.>']) listen(snoopA, s);
    // The control: the reader's own prefix does receive the reader's replies.
    const own = await busAs('reader', 'own-reader');
    listen(own, '_INBOX.reader.>');
    await Promise.all(buses.map((b) => b.flush()));

    // Replies flow to every party meanwhile: applications, liaison to data nodes, nodes' JetStream.
    for (let i = 0; i < 5; i++) {
      await count('reader');
      await count('writer');
      await client('admin').list('measure', GROUP);
      await client('writer').writeMeasure(GROUP, 'cpu', [
        { tags: { host: 'h1' }, fields: { value: i }, ts: T0 + 20_000 + i },
      ]);
      pointsWritten += 1;
      await client('reader').awaitRevision(1, { timeoutMs: 5000 });
    }
    await Promise.all(buses.map((b) => b.flush()));
    await waitFor(() => heard.get('own-reader _INBOX.reader.>')! >= 10, { what: "the reader's own replies seen" });
    const leaks = [...heard].filter(([k, n]) => !k.startsWith('own-reader') && n > 0);
    assert.deepEqual(leaks, [], 'a snooping subscription received messages');
  });

  it('internal subjects, the JetStream API and the KV subjects are closed to applications', async () => {
    const internal = [
      '$JS.API.INFO',
      '$JS.API.STREAM.NAMES',
      `$JS.API.STREAM.INFO.${S.walStream}`,
      `$JS.API.DIRECT.GET.KV_lockstep_schema`,
      '$KV.lockstep_schema.group.perm',
      '$KV.lockstep_ops.x',
      S.wal(GROUP, 0),
      S.shardQuery(GROUP, 0),
      S.node.control('d1', 'actors'),
      S.node.status('d1', 'max_revision'),
      S.members.discover,
      S.events.schema,
    ];
    for (const u of ['admin', 'writer', 'reader'] as const) {
      const b = await busAs(u, `internal-${u}`);
      for (const subject of internal) {
        await assert.rejects(b.request(subject, new Uint8Array(), { timeoutMs: 3000 }), (e) => {
          assert.equal((e as LockstepError).code, 'PermissionDenied', `${u} on ${subject}: ${(e as Error).message}`);
          return true;
        });
      }
    }
    // The stream and the schema are intact: the nodes still serve every point.
    assert.equal(await count('admin'), pointsWritten);
  });

  it('the CLI logs in from the environment or a password file and refuses a password on its command line', async () => {
    const url = nats.url;
    const env = { LOCKSTEP_NATS_USER: 'reader', LOCKSTEP_NATS_PASSWORD: pw.reader };
    const fromEnv = await runCli(url, ['--json', 'schema', 'get', 'measure', `${GROUP}/cpu`], { env });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    const file = join(dir, 'reader.password');
    writeFileSync(file, `${pw.reader}\n`, { mode: 0o600 });
    const fromFile = await runCli(url, [
      '--user',
      'reader',
      '--password-file',
      file,
      'schema',
      'get',
      'measure',
      `${GROUP}/cpu`,
    ]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const denied = await runCli(url, ['schema', 'delete', 'measure', `${GROUP}/cpu`], { env });
    assert.equal(denied.code, 2);
    assert.match(denied.stderr, /PermissionDenied/);

    const withPassword = url.replace('nats://', `nats://reader:${pw.reader}@`);
    const refused = await runCli(undefined, ['--nats-url', withPassword, 'schema', 'get', 'measure', `${GROUP}/cpu`]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /InvalidArgument: --nats-url carries a password/);
    const wrong = await runCli(url, ['schema', 'get', 'measure', `${GROUP}/cpu`], {
      env: { LOCKSTEP_NATS_USER: 'reader', LOCKSTEP_NATS_PASSWORD: 'pWRONGpassword' },
    });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /refused the credentials of user reader/);
    for (const r of [fromEnv, fromFile, denied, refused, wrong])
      assert.ok(
        !`${r.stdout}${r.stderr}`.includes(pw.reader.slice(1)) && !r.stderr.includes('pWRONG'),
        'no password printed',
      );
    assert.equal(await count('reader'), pointsWritten, 'the denied delete changed nothing');
  });
});
