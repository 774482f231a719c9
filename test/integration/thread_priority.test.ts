/**
 * Data shard threads at a lower CPU priority (runtime/thread_priority.ts, `--data-nice`): on a
 * data node every thread the data shard actor runs on or started (its own, the part encoder, the
 * two query threads) and the process's helper threads (V8's garbage collection workers) have the
 * configured nice value, while the main thread and the schema watcher's keep theirs, and nothing
 * in a liaison's process changed; a value outside 0–19 stops the node before it starts, naming it.
 * Linux only: elsewhere the node keeps normal priorities and says so in its log.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TestCluster } from '../harness/cluster.js';
import { exitWithin } from '../harness/wait.js';

const BIN = fileURLToPath(new URL('../../bin/lockstep.js', import.meta.url));
const NICE = 7;
/** The data shard actor's thread, its part pool's thread and its two query threads. */
const DATA_THREADS = 4;

/** The nice value of every thread of `pid`, by thread id. */
function niceByThread(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    // Fields after the command name (which may hold spaces); nice is field 19 of stat(5).
    out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return out;
}

const describeLinux = process.platform === 'linux' ? describe : describe.skip;

describeLinux('data shard threads at a lower CPU priority (1 liaison, 1 data node, LOCKSTEP_DATA_NICE=7)', function () {
  this.timeout(60_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1, roleEnv: { data: { LOCKSTEP_DATA_NICE: String(NICE) } } });
  });
  after(async () => {
    await c?.stop();
  });

  it('the data node runs its shard thread, pools and helper threads at the nice value; the rest keeps nice 0', () => {
    const data = [...c.lc.nodes.values()].find((n) => n.roles.includes('data'))!;
    const liaison = [...c.lc.nodes.values()].find((n) => n.roles.includes('liaison'))!;
    const threads = niceByThread(data.pid);
    const lowered = [...threads.values()].filter((n) => n === NICE).length;
    // V8 starts at least two helper threads even on one core.
    assert.ok(lowered >= DATA_THREADS + 2, `threads at nice ${NICE}: ${JSON.stringify([...threads])}`);
    const normal = [...threads.values()].filter((n) => n === 0).length;
    assert.ok(normal >= 2, `the main thread and the schema watcher's keep nice 0: ${JSON.stringify([...threads])}`);
    assert.ok(
      [...threads.values()].every((n) => n === 0 || n === NICE),
      `every other thread keeps nice 0: ${JSON.stringify([...threads])}`,
    );
    assert.equal(threads.get(data.pid), 0, 'the main thread keeps nice 0');
    const other = niceByThread(liaison.pid);
    assert.ok(
      [...other.values()].every((n) => n === 0),
      `the liaison changes no priority: ${JSON.stringify([...other])}`,
    );
  });

  it('a nice value outside 0–19 stops the node before it starts, naming the bound', async () => {
    const child = spawn(process.execPath, [BIN, 'node', '--name', 'n1', '--role', 'data', '--data-nice', '20'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await exitWithin(new Promise((r) => child.once('exit', (code) => r({ code }))), 15_000, 'bad nice');
    assert.equal(code, 2);
    assert.ok(stderr.includes('data nice must be an integer from 0 to 19 (got 20)'), stderr);
  });
});
