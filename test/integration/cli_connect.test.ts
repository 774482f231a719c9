/**
 * The CLI when nothing it can use answers: a port that is not NATS (silent, or answering garbage)
 * ends the command with exit 2 and a clear message within seconds, and leaks no socket; a failed
 * connection names the URL, where it came from (never with a password) and how to start a cluster;
 * the URL of the running cluster in ./.lockstep/cluster.json is used without any flag.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsBus } from '../../transport/nats_bus.js';
import { runCli } from '../harness/child.js';
import { waitFor } from '../harness/wait.js';

/** Well past the 2 s connect timeout plus start-up, well short of the minute the leak took. */
const EXIT_WITHIN_MS = 10_000;
/** The hard bound on each CLI run: past it the child is killed and the test fails. */
const CLI_TIMEOUT_MS = 30_000;

/** A TCP server that accepts and then does what `onConnection` says (nothing, or garbage). */
async function tcpServer(
  onConnection: (s: Socket) => void,
): Promise<{ server: Server; port: number; open: Set<Socket> }> {
  const open = new Set<Socket>();
  const server = createServer((s) => {
    open.add(s);
    s.on('error', () => undefined);
    s.on('close', () => open.delete(s));
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, open };
}

async function closeServer(t: { server: Server; open: Set<Socket> }): Promise<void> {
  for (const s of t.open) s.destroy();
  await new Promise((r) => t.server.close(r));
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const t = await tcpServer(() => undefined);
  await closeServer(t);
  return t.port;
}

describe('cli connect', function () {
  this.timeout(60_000);
  const servers: { server: Server; open: Set<Socket> }[] = [];
  const children: ChildProcess[] = [];
  let tmp: string | undefined;

  afterEach(async () => {
    for (const s of servers.splice(0)) await closeServer(s);
    for (const c of children.splice(0)) {
      const exited = new Promise((r) => c.once('exit', r));
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      else continue;
      await exited; // reaped, not left as a zombie
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  const behaviours: [string, (s: Socket) => void, RegExp][] = [
    ['accepts and says nothing', () => undefined, /: timeout /],
    ['answers garbage without a line end', (s) => s.write('\x16\x03\x01\x00garbage'), /: timeout /],
    [
      'answers a garbage line',
      (s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'),
      /: unexpected response from server /,
    ],
  ];
  for (const [what, behave, cause] of behaviours) {
    it(`cli connect - a port that ${what}: exit 2 with a clear message within seconds`, async () => {
      const t = await tcpServer(behave);
      servers.push(t);
      const url = `nats://127.0.0.1:${t.port}`;
      const started = Date.now();
      const r = await runCli(url, ['schema', 'list', 'group'], { timeoutMs: CLI_TIMEOUT_MS });
      const tookMs = Date.now() - started;
      assert.equal(r.signal, null, `killed after ${CLI_TIMEOUT_MS} ms: the CLI did not exit by itself`);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(tookMs < EXIT_WITHIN_MS, `exited after ${tookMs} ms`);
      assert.match(r.stderr, new RegExp(`^error: Unavailable: cannot reach NATS at ${url.replaceAll('.', '\\.')}`));
      assert.match(r.stderr, cause);
      assert.match(
        r.stderr,
        /\(URL from LOCKSTEP_NATS_URL\); start a local cluster with `npm start`.*`lockstep cluster up`/,
      );
      assert.equal(r.stdout, '');
    });
  }

  it('transport - a failed connect closes its socket (nothing keeps the process alive)', async () => {
    const t = await tcpServer(() => undefined);
    servers.push(t);
    await assert.rejects(NatsBus.connect({ url: `nats://127.0.0.1:${t.port}`, name: 't', connectTimeoutMs: 300 }), {
      code: 'Unavailable',
    });
    // The server sees the client's socket go away: before the fix it stayed open until the peer gave up.
    await waitFor(() => t.open.size === 0, { timeoutMs: 2000, what: 'the client socket closed' });
  });

  it('cli connect - the running cluster in ./.lockstep/cluster.json gives the URL; failures name it without the password', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'lockstep-cli-connect-'));
    mkdirSync(join(tmp, '.lockstep'));
    // A live process of "the cluster": its command line names lockstep, as cluster processes do.
    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'lockstep-test-owner'], {
      stdio: 'ignore',
    });
    children.push(owner);
    const port = await closedPort();
    writeFileSync(
      join(tmp, '.lockstep', 'cluster.json'),
      JSON.stringify({ natsUrl: `nats://admin:hunter2@127.0.0.1:${port}`, pid: owner.pid, nodes: [] }),
    );
    const r = await runCli(undefined, ['cluster', 'members'], { cwd: tmp, timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(r.code, 2, r.stderr);
    assert.ok(!r.stderr.includes('hunter2'), r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^error: Unavailable: cannot reach NATS at nats://admin:\\*\\*\\*@127\\.0\\.0\\.1:${port}: .*` +
          '\\(URL from \\./\\.lockstep/cluster\\.json\\); start a local cluster with `npm start`',
      ),
    );
    // --json: the same as one JSON document.
    const j = await runCli(undefined, ['--json', 'cluster', 'members'], { cwd: tmp, timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(j.code, 2);
    const doc = JSON.parse(j.stdout) as { error: { code: string; message: string } };
    assert.equal(doc.error.code, 'Unavailable');
    assert.ok(!j.stdout.includes('hunter2'));
  });
});
