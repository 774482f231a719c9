#!/usr/bin/env node
// Cluster smoke test under another Node.js major: `npm run smoke:node -- 22` (or 24, or a full
// version). The Node binary comes from the npm registry's `node` package (`npx node@22`); the
// compiled build (dist/) then runs unchanged on it: `lockstep cluster up` (nats-server, a liaison
// and a data node, every process and worker thread on that Node), and a client on the same Node
// creates a schema, writes points, reads them back with the write token (read your writes) and
// waits until the data node flushed them to parts on disk. Prints a JSON report; exits 1 on failure.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const version = process.argv[2];
if (!version || !/^\d+(\.\d+){0,2}$/.test(version)) {
  process.stderr.write('usage: npm run smoke:node -- <node version, e.g. 22 or 24.1.0>\n');
  process.exit(2);
}
if (!existsSync(join(REPO, 'dist', 'runtime', 'cli', 'main.js'))) {
  process.stderr.write('smoke:node: dist/ is missing: run `npm run build` first\n');
  process.exit(2);
}

/** Polls `probe` until it returns something truthy; throws naming `what` after `ms`. */
async function waitFor(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every `part-*` directory below `dir`. */
function parts(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (!statSync(p).isDirectory()) continue;
    if (/^part-\d+$/.test(e)) out.push(p);
    else out.push(...parts(p));
  }
  return out;
}

const report = { node: version, ok: false, steps: {} };
const t0 = Date.now();
const step = (name) => (report.steps[name] = Date.now() - t0);
const dir = mkdtempSync(join(tmpdir(), 'lockstep-smoke-node-'));
let cluster;
try {
  const nodeBin = execFileSync('npx', ['-y', `node@${version}`, '-p', 'process.execPath'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  report.node = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();
  step('node_ready_ms');

  cluster = spawn(
    nodeBin,
    [
      'bin/lockstep.js',
      '--json',
      'cluster',
      'up',
      '--dir',
      dir,
      '--liaisons',
      '1',
      '--data-nodes',
      '1',
      '--claimers',
      '0',
    ],
    {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', OTEL_EXPORTER_OTLP_ENDPOINT: '' },
    },
  );
  let out = '';
  let err = '';
  cluster.stdout.on('data', (d) => (out += d));
  cluster.stderr.on('data', (d) => (err += d));
  const info = await waitFor(
    () => {
      if (cluster.exitCode !== null) throw new Error(`cluster up exited ${cluster.exitCode}: ${err}`);
      // With --json, cluster up prints one JSON document once every node is ready.
      try {
        return out.trimEnd().endsWith('}') && JSON.parse(out);
      } catch {
        return false; // a chunk that happened to end in } before the document did
      }
    },
    60_000,
    'the cluster to start',
  );
  step('cluster_up_ms');

  // The client runs on the same Node, from the compiled build.
  const client = `
    const { LockstepClient } = await import(${JSON.stringify(new URL('../dist/transport/index.js', import.meta.url).href)});
    const c = await LockstepClient.connect({ natsUrl: process.argv[1] });
    try {
      await c.create('group', { name: 'smoke', catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '7d' });
      const m = await c.create('measure', { group: 'smoke', name: 'cpu', entity: ['host'],
        tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }], fields: [{ name: 'value', type: 'float' }] });
      const b = await c.awaitApplied(['measure:smoke/cpu'], { minRevisions: [m.revision], timeoutMs: 10000 });
      if (!b.applied) throw new Error('schema not applied: ' + JSON.stringify(b.laggards));
      const now = Date.now();
      const points = Array.from({ length: 1000 }, (_, i) => ({ ts: now - 100000 + i * 100, tags: { host: 'h' + (i % 10) }, fields: { value: i } }));
      const w = await c.writeMeasure('smoke', 'cpu', points);
      const q = await c.queryMeasure({ group: 'smoke', name: 'cpu', from: now - 200000, to: now + 1000,
        aggregations: [{ fn: 'count' }, { fn: 'sum', field: 'value' }], write_token: w.write_token });
      console.log(JSON.stringify({ written: w.points, groups: q.groups }));
    } finally { await c.close(); }`;
  const res = JSON.parse(
    execFileSync(nodeBin, ['--input-type=module', '-e', client, info.natsUrl], {
      encoding: 'utf8',
      timeout: 60_000,
    }).trim(),
  );
  const g = res.groups?.[0]?.values ?? {};
  if (res.written !== 1000 || g.count !== 1000 || g['sum(value)'] !== 499500) {
    throw new Error(`read your writes: expected 1000 points summing to 499500, got ${JSON.stringify(res)}`);
  }
  report.read_your_writes = { points: g.count, sum: g['sum(value)'] };
  step('read_your_writes_ms');

  const flushed = await waitFor(() => parts(join(dir, 'data')).length || false, 30_000, 'a flush to parts');
  report.parts_on_disk = flushed;
  step('flushed_ms');
  report.ok = true;
} catch (e) {
  report.error = e instanceof Error ? e.message : String(e);
} finally {
  if (cluster && cluster.exitCode === null) {
    const exited = new Promise((r) => cluster.once('exit', r));
    cluster.kill('SIGINT');
    const killed = setTimeout(() => cluster.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killed);
  }
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exit(report.ok ? 0 : 1);
