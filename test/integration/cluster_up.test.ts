/**
 * `lockstep cluster up`: one command starts NATS and the nodes, writes cluster.json (mode 0600),
 * stops cleanly; the CLI run in the same directory finds the cluster without any flag; a second
 * `cluster up` on the directory is refused while the first runs (a stale cluster.json is not a
 * reason); progress only on a terminal; a password in --nats-url is never printed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, inPty, killCluster, LOCKSTEP_BIN, ptyAvailable, PTY_ENV, runCli } from '../harness/child.js';
import { startNatsServer } from '../harness/nats_server.js';
import { waitFor, exitWithin } from '../harness/wait.js';

const CLI_TIMEOUT_MS = 30_000;
const ESC = '\x1b';

interface ClusterDoc {
  natsUrl: string;
  natsPid?: number;
  pid: number;
  nodes: { name: string; roles: string[]; pid: number }[];
}

/** A running `cluster up` child: everything it printed, and its exit. */
interface Up {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null }>;
}

function clusterUp(args: string[], cwd: string, opts: { pty?: boolean; natsUrl?: string } = {}): Up {
  const argv = [process.execPath, LOCKSTEP_BIN, 'cluster', 'up', ...args];
  const [file, fileArgs] = opts.pty ? inPty(argv) : [argv[0]!, argv.slice(1)];
  const env: NodeJS.ProcessEnv = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', ...(opts.pty ? PTY_ENV : {}) };
  delete env.LOCKSTEP_NATS_URL;
  if (opts.natsUrl !== undefined) env.LOCKSTEP_NATS_URL = opts.natsUrl;
  const child = spawn(file, fileArgs, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (err += String(d)));
  const exited = new Promise<{ code: number | null }>((r) => child.once('close', (code) => r({ code })));
  return { child, out: () => out, err: () => err, exited };
}

/** Waits until cluster.json lists `names` (all ready: the file is rewritten once they are). */
function readyDoc(file: string, names: string[], printed: () => string): Promise<ClusterDoc> {
  return waitFor(
    () => {
      if (!printed().includes('Ctrl-C stops the cluster') || !existsSync(file)) return false;
      const doc = JSON.parse(readFileSync(file, 'utf8')) as ClusterDoc;
      return names.every((n) => doc.nodes.some((x) => x.name === n)) && doc;
    },
    { timeoutMs: 60_000, what: 'cluster up ready' },
  );
}

/** Stops a cluster by SIGINT to its `cluster up` process and checks every process is gone. */
async function stop(up: Up, doc: ClusterDoc): Promise<void> {
  process.kill(doc.pid, 'SIGINT');
  assert.equal(await exitWithin(up.exited, 30_000, 'cluster up'), 0);
  const pids = [doc.pid, ...(doc.natsPid ? [doc.natsPid] : []), ...doc.nodes.map((n) => n.pid)];
  await waitFor(() => pids.every((p) => !alive(p)), { what: 'every process stopped' });
}

describe('cluster up', function () {
  this.timeout(120_000);
  let tmp: string;
  const ups: Up[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'lockstep-up-'));
  });
  afterEach(async () => {
    for (const up of ups.splice(0)) {
      if (up.child.exitCode === null && up.child.signalCode === null) {
        // What it started too, not only itself: every cluster.json under this test's directory.
        for (const d of readdirSync(tmp)) killCluster(join(tmp, d, 'cluster.json'));
        up.child.kill('SIGKILL');
      }
      await up.exited;
    }
    for (const c of cleanups.splice(0)) await c();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('cluster up - starts NATS and the nodes; the CLI in its directory uses it; a second one is refused; stops on SIGINT', async () => {
    const dir = join(tmp, '.lockstep');
    const up = clusterUp(['--dir', dir, '--liaisons', '1', '--data-nodes', '1', '--claimers', '1'], tmp);
    ups.push(up);
    const file = join(dir, 'cluster.json');
    const doc = await readyDoc(file, ['l1', 'd1', 'c1'], up.out);
    assert.match(doc.natsUrl, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(
      doc.nodes.map((n) => [n.name, n.roles]),
      [
        ['l1', ['liaison']],
        ['d1', ['data']],
        ['c1', ['claimer']],
      ],
    );
    assert.equal(doc.pid, up.child.pid);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(up.out().includes(`NATS: ${doc.natsUrl}`));
    assert.ok(up.out().includes(`lockstep commands run in ${tmp} use this cluster`), up.out());
    assert.ok([doc.pid, doc.natsPid!, ...doc.nodes.map((n) => n.pid)].every(alive));
    // Piped: no progress at all, not a line, not an escape code.
    assert.ok(!up.err().includes(ESC) && !up.out().includes(ESC), JSON.stringify(up.err()));
    assert.ok(!/nodes ready|starting cluster/.test(up.err() + up.out()), up.err());

    // No --nats-url, no LOCKSTEP_NATS_URL: ./.lockstep/cluster.json says where the cluster is.
    const cli = (...args: string[]) => runCli(undefined, args, { cwd: tmp, timeoutMs: CLI_TIMEOUT_MS });
    const status = await cli('node', 'status', 'l1');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^node l1 applied revision \d+/);
    await waitFor(
      async () => {
        const m = await cli('--json', 'cluster', 'members');
        return m.code === 0 && (JSON.parse(m.stdout) as { members: unknown[] }).members.length === 3;
      },
      { timeoutMs: 20_000, what: 'every member seen by the liaison' },
    );
    for (const sub of ['actors', 'status', 'pause-watch']) {
      const r = await cli('node', sub, 'nosuch');
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, 'error: NotFound: no node named nosuch answers (members: c1, d1, l1)\n');
    }
    const j = await cli('--json', 'node', 'status', 'nosuch');
    assert.equal(j.code, 2);
    assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'NotFound');

    // A second cluster on this directory: refused, naming the directory, its NATS and live pids.
    const second = await runCli(undefined, ['cluster', 'up', '--dir', dir], { cwd: tmp, timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, /^error: FailedPrecondition: a cluster is already running in /);
    for (const part of [
      dir,
      doc.natsUrl,
      `${doc.pid} (owner)`,
      `${doc.natsPid} (nats-server)`,
      `${doc.nodes[0]!.pid} (l1)`,
    ])
      assert.ok(second.stderr.includes(part), `"${part}" not in: ${second.stderr}`);
    assert.equal(second.stdout, '');

    await stop(up, doc);
  });

  it('cluster up - a password in LOCKSTEP_NATS_URL is never printed, one in --nats-url is refused; a stale cluster.json does not refuse; progress on a terminal', async function () {
    const nats = await startNatsServer({ args: ['--user', 'admin', '--pass', 'hunter2'] });
    cleanups.push(() => nats.stop());
    const port = new URL(nats.url).port;
    const url = `nats://admin:hunter2@127.0.0.1:${port}`;
    const dir = join(tmp, '.lockstep');
    // Stale: the file of a cluster whose processes are gone.
    const gone = spawn(process.execPath, ['-e', '', 'lockstep-gone'], { stdio: 'ignore' });
    await new Promise((r) => gone.once('exit', r));
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'cluster.json'),
      JSON.stringify({ natsUrl: url, pid: gone.pid, nodes: [{ name: 'l1', roles: ['liaison'], pid: gone.pid }] }),
    );

    const pty = ptyAvailable();
    if (!pty) this.test!.title += ' (no `script`: piped only)';
    const args = ['--dir', dir, '--liaisons', '1', '--data-nodes', '0', '--claimers', '0'];
    // A password on the command line is refused before anything starts: `ps` shows it to everyone.
    const onCommandLine = await runCli(undefined, ['cluster', 'up', '--nats-url', url, ...args], {
      cwd: tmp,
      timeoutMs: CLI_TIMEOUT_MS,
    });
    assert.equal(onCommandLine.code, 2);
    assert.match(onCommandLine.stderr, /InvalidArgument: --nats-url carries a password/);
    const up = clusterUp(args, tmp, { pty, natsUrl: url });
    ups.push(up);
    const printed = () => up.out() + up.err();
    const doc = await readyDoc(join(dir, 'cluster.json'), ['l1'], printed);
    assert.notEqual(doc.pid, gone.pid, 'started anew');
    // The file keeps the credentials (the CLI connects with them), readable by its owner only.
    assert.equal(doc.natsUrl, url);
    assert.equal(statSync(join(dir, 'cluster.json')).mode & 0o777, 0o600);
    assert.ok(printed().includes(`NATS: nats://admin:***@127.0.0.1:${port}`), printed());
    if (pty) assert.match(printed(), /starting cluster \[[#.]+\] 1\/1 nodes ready \| ready: l1/);
    // Node processes get the URL in their environment: `ps` shows no password.
    const cmdline = readFileSync(`/proc/${doc.nodes[0]!.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes('hunter2'), cmdline);

    // The CLI in the directory connects with the file's credentials.
    const members = await runCli(undefined, ['cluster', 'members'], { cwd: tmp, timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(members.code, 0, members.stderr);
    const again = await runCli(url, ['cluster', 'up', ...args], { cwd: tmp, timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(again.code, 2);
    assert.match(again.stderr, new RegExp(`already running in .*NATS nats://admin:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));

    await stop(up, doc);
    for (const text of [printed(), members.stdout, members.stderr, again.stdout, again.stderr, onCommandLine.stderr])
      assert.ok(!text.includes('hunter2'), `password printed: ${text}`);
  });
});
