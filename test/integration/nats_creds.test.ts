/**
 * NATS credentials files (`--creds`, LOCKSTEP_NATS_CREDS) against a real nats-server in operator
 * mode (JWTs, memory resolver): nodes and the CLI log in with them; a user the server does not
 * trust is refused with `PermissionDenied` naming the file, never its content; a file that is not
 * a credentials file, or given with a user as well, is `InvalidArgument` before any connection.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../harness/child.js';
import { TestCluster } from '../harness/cluster.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { newOperator } from '../harness/nats_jwt.js';

describe('NATS credentials files (a server in operator mode, 1 liaison + 1 data node)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-creds-'));
  const op = newOperator();
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const nodeCreds = file('node.creds', op.userCreds('node'));
  const appCreds = file('app.creds', op.userCreds('app'));
  let nats: NatsServer;
  let c: TestCluster;

  before(async () => {
    nats = await startNatsServer({ dir, args: ['-c', file('server.conf', op.serverConf)] });
    const env = { LOCKSTEP_NATS_CREDS: nodeCreds };
    c = await TestCluster.start({
      natsUrl: nats.url,
      liaisons: 1,
      dataNodes: 1,
      roleEnv: { liaison: env, data: env },
      adminAuth: { credsFile: nodeCreds },
    });
  });
  after(async () => {
    await c?.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('nodes and the CLI log in with a credentials file: schema, write, query', async () => {
    const cli = (args: string[], env: Record<string, string> = {}) => runCli(nats.url, args, { env });
    const spec = file(
      'schema.yaml',
      JSON.stringify([
        { kind: 'group', name: 'cr', catalog: 'measure', shards: 1, segment_interval: '1d', ttl: '7d' },
        {
          kind: 'measure',
          group: 'cr',
          name: 'cpu',
          entity: ['host'],
          tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }],
          fields: [{ name: 'value', type: 'float' }],
        },
      ]),
    );
    const applied = await cli(['--creds', appCreds, 'schema', 'apply', '-f', spec]);
    assert.equal(applied.code, 0, applied.stderr);
    const ts = Date.now() - 60_000;
    const lines = file('points.jsonl', `{"ts":${ts},"tags":{"host":"a"},"fields":{"value":1.5}}\n`);
    // From the environment this time.
    const wrote = await cli(['write', 'measure', 'cr/cpu', lines], { LOCKSTEP_NATS_CREDS: appCreds });
    assert.equal(wrote.code, 0, wrote.stderr);
    const q = await cli([
      '--creds',
      appCreds,
      '--json',
      'query',
      'measure',
      'cr/cpu',
      '--from',
      String(ts - 1),
      '--to',
      String(ts + 1),
    ]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal((JSON.parse(q.stdout) as { rows: { fields: { value: number } }[] }).rows[0]!.fields.value, 1.5);
  });

  it('refusals - an untrusted user, a file that is not credentials, --creds with --user; the content never printed', async () => {
    const stranger = op.strangerCreds('stranger');
    const seed = /SU[A-Z2-7]{56}/.exec(stranger)![0];
    const refused = await runCli(nats.url, ['--creds', file('stranger.creds', stranger), 'schema', 'list', 'group']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /PermissionDenied.*refused the credentials in .*stranger\.creds/);
    assert.ok(!refused.stderr.includes(seed) && !refused.stdout.includes(seed), 'the seed is never printed');

    const notCreds = await runCli(nats.url, ['--creds', file('plain.txt', 'hunter2\n'), 'schema', 'list', 'group']);
    assert.equal(notCreds.code, 2);
    assert.match(notCreds.stderr, /InvalidArgument.*plain\.txt is not a NATS credentials file/);
    assert.ok(!notCreds.stderr.includes('hunter2'));

    const both = await runCli(nats.url, ['--creds', appCreds, '--user', 'admin', 'schema', 'list', 'group']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /InvalidArgument.*--creds and a user or password/);
  });
});
