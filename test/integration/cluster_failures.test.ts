/**
 * Failures on a real cluster (1 liaison + 3 data nodes, separate processes): a node killed
 * mid-call, late joiners, graceful leaves, transient and permanent failures at init and at runtime.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestCluster } from '../harness/cluster.js';
import { exitWithin } from '../harness/wait.js';

const BIN = fileURLToPath(new URL('../../bin/lockstep.js', import.meta.url));

const fault = (f: object) => ['--fault', JSON.stringify(f)];

describe('cluster failures (1 liaison + 3 data nodes)', function () {
  this.timeout(120_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 3 });
    await c.createGroup('gf');
  });
  after(async () => {
    await c?.stop();
  });

  it('barrier - a data node killed with SIGKILL mid-call is reported once as evicted_during_poll', async () => {
    await c.control('d3', 'pause_watch');
    const m = await c.createMeasure('gf', 'killed');
    const pending = c.barrier('revision', { min_revision: m.revision }, 15_000);
    c.lc.kill('d3', 'SIGKILL');
    const r = await pending;
    assert.equal(r.applied, true);
    assert.deepEqual(r.laggards, [{ node: 'data-d3', reason: 'evicted_during_poll' }]);
  });

  it('barrier - a node that joins after the call started is not watched by it; a graceful leave is silent', async () => {
    const before = await c.createMeasure('gf', 'before_join');
    assert.equal((await c.barrier('revision', { min_revision: before.revision }, 10_000)).applied, true);
    // The call waits for a revision that does not exist yet.
    const pending = c.barrier('revision', { min_revision: before.revision + 1 }, 20_000);
    // d4 joins, then can never apply a new event (a transient fault that does not clear).
    c.lc.spawnNode('d4', ['data'], fault({ actor: 'data_shard', phase: 'apply', kind: 'transient' }));
    await c.lc.waitReady('d4');
    const next = await c.createMeasure('gf', 'after_join');
    assert.equal(next.revision, before.revision + 1);
    assert.deepEqual(await pending, { applied: true, laggards: [] });

    // A call started now watches d4, which lags…
    const lagging = await c.barrier('revision', { min_revision: next.revision }, 600);
    assert.deepEqual(
      lagging.laggards.map((l) => l.node),
      ['data-d4'],
    );
    // …until it leaves gracefully mid-call: dropped without a report.
    const pending2 = c.barrier('revision', { min_revision: next.revision }, 20_000);
    c.lc.kill('d4', 'SIGTERM');
    assert.deepEqual(await pending2, { applied: true, laggards: [] });
    assert.equal(await exitWithin(c.lc.nodes.get('d4')!.exited, 15_000, 'd4'), 0);
  });

  it('watcher - a permanent failure at runtime makes the node exit non-zero naming the cause', async () => {
    await c.injectFault('d2', { actor: 'data_shard', phase: 'apply', kind: 'permanent' });
    const m = await c.createMeasure('gf', 'poison');
    const code = await exitWithin(c.lc.nodes.get('d2')!.exited, 15_000, 'd2');
    assert.notEqual(code, 0);
    assert.match(c.log('d2'), /stopped: .*injected permanent fault in data_shard at apply/);
    // A failed node never applied m: it must not vanish like a graceful leave. Asked at once, the
    // barrier still watches it and reports it (evicted once its heartbeats stop).
    const r = await c.barrier('revision', { min_revision: m.revision }, 10_000);
    assert.deepEqual(
      r.laggards.map((l) => l.node),
      ['data-d2'],
    );
  });

  it('node - a permanent failure at init exits non-zero at once, naming the cause', async () => {
    const n = c.lc.spawnNode('d5', ['data'], fault({ actor: 'data_shard', phase: 'init', kind: 'permanent' }));
    const code = await exitWithin(n.exited, 15_000, 'd5');
    assert.notEqual(code, 0);
    assert.match(c.log('d5'), /cannot start: actor data_shard: injected permanent fault in data_shard at init/);
  });

  it('node - transient init failures are retried: a short one is survived, a lasting one ends at the deadline', async () => {
    const ok = c.lc.spawnNode(
      'd6',
      ['data'],
      fault({ actor: 'data_shard', phase: 'init', kind: 'transient', times: 2 }),
    );
    await c.lc.waitReady('d6');
    assert.equal(ok.exitCode, undefined);

    const t0 = Date.now();
    const bad = c.lc.spawnNode(
      'd7',
      ['data'],
      [...fault({ actor: 'data_shard', phase: 'init', kind: 'transient' }), '--schema-init-deadline', '2s'],
    );
    const code = await exitWithin(bad.exited, 20_000, 'd7');
    assert.notEqual(code, 0);
    assert.ok(Date.now() - t0 >= 2000, 'retried until the deadline');
    assert.match(c.log('d7'), /failed to start after \d+ attempts over 2000 ms: injected transient fault/);
  });

  it('node - an actor that keeps crashing at bootstrap is not restarted forever; the node reports it', async () => {
    const n = c.lc.spawnNode('d8', ['data'], fault({ actor: 'data_shard', phase: 'crash', kind: 'transient' }));
    const code = await exitWithin(n.exited, 30_000, 'd8');
    assert.notEqual(code, 0);
    assert.match(c.log('d8'), /actor data_shard crashed \d+ times within \d+ ms .*not restarting it again/);
  });

  it('node - an unreachable NATS is retried until the deadline, then the node exits naming it', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'node',
        '--name',
        'lonely',
        '--role',
        'data',
        '--nats-url',
        'nats://127.0.0.1:9',
        '--schema-init-deadline',
        '1s',
        '--log-level',
        'error',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await exitWithin(new Promise((r) => child.once('exit', (code) => r({ code }))), 15_000, 'lonely');
    assert.notEqual(code, 0);
    assert.match(stderr, /cannot start: cannot reach NATS at nats:\/\/127\.0\.0\.1:9.*gave up after 1000 ms/);
  });

  it('node - bad flags are refused before anything starts', async () => {
    const child = spawn(process.execPath, [BIN, 'node', '--name', 'Bad.Name', '--role', 'data'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await exitWithin(new Promise((r) => child.once('exit', (code) => r({ code }))), 15_000, 'bad flags');
    assert.equal(code, 2);
    assert.match(stderr, /node name "Bad.Name" is invalid/);
  });
});
