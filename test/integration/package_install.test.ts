/**
 * Lockstep as another project meets it: `npm pack` makes a tarball, a fresh project installs it,
 * its installed `lockstep` command starts a cluster (nats-server + a standalone node, from the
 * tarball's compiled code only), and a plain ESM script there imports `{ LockstepClient }` from
 * 'lockstep', creates a schema, writes points and queries them back. The package's types are
 * checked by compiling a TypeScript file in that project against them.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killCluster } from '../harness/child.js';
import { waitFor, exitWithin } from '../harness/wait.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

/** What the consumer script prints: the reply of each step. */
interface ConsumerOutput {
  written: number;
  rows: { ts: number; tags: Record<string, unknown>; fields: Record<string, number> }[];
  notFound: string;
}

const CONSUMER = `
import { LockstepClient, Code } from 'lockstep';
const natsUrl = process.argv[2];
const client = await LockstepClient.connect({ natsUrl });
try {
  await client.create('group', { name: 'pkg', catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '7d' });
  const m = await client.create('measure', {
    group: 'pkg', name: 'cpu', entity: ['host'],
    tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }],
    fields: [{ name: 'value', type: 'float' }],
  });
  const b = await client.awaitApplied(['measure:pkg/cpu'], { minRevisions: [m.revision], timeoutMs: 10000 });
  if (!b.applied) throw new Error('not applied: ' + JSON.stringify(b.laggards));
  const now = Date.now();
  const points = [0, 1, 2].map((i) => ({ ts: now - 3000 + i * 1000, tags: { host: 'h' + i }, fields: { value: i + 0.5 } }));
  const w = await client.writeMeasure('pkg', 'cpu', points);
  const q = await client.queryMeasure({ group: 'pkg', name: 'cpu', from: now - 60000, to: now + 60000, write_token: w.write_token });
  let notFound = '';
  try {
    await client.queryMeasure({ group: 'pkg', name: 'nosuch', from: 0, to: 1 });
  } catch (err) {
    notFound = err.code === Code.NotFound ? 'NotFound' : String(err.code);
  }
  console.log(JSON.stringify({ written: w.points, rows: q.rows, notFound }));
} finally {
  await client.close();
}
`;

const TYPED = `
import { LockstepClient, type WriteReply, type MeasureQuery, Code } from 'lockstep';
export async function typed(url: string): Promise<number> {
  const c: LockstepClient = await LockstepClient.connect({ natsUrl: url });
  const q: MeasureQuery = { group: 'g', name: 'm', from: 0, to: 1 };
  const r: WriteReply = await c.writeMeasure('g', 'm', [{ ts: 0, fields: { v: 1 } }]);
  await c.queryMeasure(q);
  return r.points + (Code.NotFound === 'NotFound' ? 0 : 1);
}
`;

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('package: npm pack, install in another project, import the client', function () {
  this.timeout(300_000);
  let dir: string;
  let cluster: ChildProcess | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-pkg-'));
  });

  after(async () => {
    if (cluster && cluster.exitCode === null && cluster.signalCode === null) {
      const exited = new Promise<{ code: number | null }>((r) => cluster!.once('exit', (code) => r({ code })));
      cluster.kill('SIGINT');
      await exitWithin(exited, 20_000, 'cluster up').catch(() => killCluster(join(dir, 'cluster', 'cluster.json')));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('package - the packed tarball installs, its CLI starts a cluster and a consumer writes and queries', async () => {
    // Pack: runs the prepare script (the build), so the tarball holds dist/.
    const packDir = join(dir, 'pack');
    mkdirSync(packDir);
    run('npm', ['pack', '--silent', '--pack-destination', packDir], REPO, 120_000);
    const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made no tarball');
    const listing = run('tar', ['-tzf', join(packDir, tarball)], dir, 30_000).split('\n');
    assert.ok(listing.includes('package/dist/transport/index.js'), 'the tarball holds the compiled client');
    assert.ok(listing.includes('package/dist/transport/index.d.ts'), 'the tarball holds the types');
    assert.ok(listing.includes('package/bin/lockstep.js'));
    assert.ok(!listing.some((f) => f.startsWith('package/test/')), 'tests are not shipped');
    assert.ok(!listing.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript sources are shipped');

    // A consumer project installs it (dependencies come from the npm cache or registry).
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(packDir, tarball)], app, 180_000);
    const bin = join(app, 'node_modules', '.bin', 'lockstep');
    assert.ok(existsSync(bin), 'the package installs its lockstep command');
    const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
    assert.match(run(bin, ['--version'], app, 30_000), new RegExp(version.replace(/\./g, '\\.')));

    // The installed command starts a cluster from the installed package alone.
    const clusterDir = join(dir, 'cluster');
    cluster = spawn(
      bin,
      ['--json', 'cluster', 'up', '--dir', clusterDir, '--liaisons', '1', '--data-nodes', '1', '--claimers', '0'],
      {
        cwd: app,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: '', OTEL_EXPORTER_OTLP_ENDPOINT: '' },
      },
    );
    let out = '';
    let err = '';
    cluster.stdout!.on('data', (d) => (out += String(d)));
    cluster.stderr!.on('data', (d) => (err += String(d)));
    // With --json, cluster up prints one JSON document once every node is ready.
    const info = await waitFor(
      () => {
        if (cluster!.exitCode !== null) throw new Error(`cluster up exited ${cluster!.exitCode}: ${out}${err}`);
        try {
          return out.trimEnd().endsWith('}') ? (JSON.parse(out) as { natsUrl: string }) : undefined;
        } catch {
          return undefined; // a chunk that happened to end in } before the document did
        }
      },
      { timeoutMs: 60_000, what: 'the installed cluster to start' },
    );

    // A plain ESM consumer imports the client by package name.
    writeFileSync(join(app, 'consumer.mjs'), CONSUMER);
    const result = JSON.parse(
      run(process.execPath, ['consumer.mjs', info.natsUrl], app, 60_000).trim(),
    ) as ConsumerOutput;
    assert.equal(result.written, 3);
    assert.deepEqual(
      result.rows.map((r) => [r.tags.host, r.fields.value]),
      [
        ['h0', 0.5],
        ['h1', 1.5],
        ['h2', 2.5],
      ],
    );
    assert.equal(result.notFound, 'NotFound');

    // Its types compile against the package's declarations.
    writeFileSync(join(app, 'typed.ts'), TYPED);
    run(
      process.execPath,
      [
        TSC,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--skipLibCheck',
        'typed.ts',
      ],
      app,
      120_000,
    );
  });
});
