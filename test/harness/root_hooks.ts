/** Suite-wide hooks: the suite must leave no process behind (nats-server, node processes, CLIs). */
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';

/** Child processes of this test process still alive, with their command lines. */
function liveChildren(): string[] {
  const r = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return (
    r.stdout
      .split('\n')
      .map((l) => l.trim())
      // tsx's esbuild service is the test runner's own helper, not something a test started.
      .filter((l) => l && !/\bps -o pid=,args=/.test(l) && !/esbuild --service=/.test(l))
  );
}

export const mochaHooks = {
  afterAll(this: Mocha.Context) {
    this.timeout(20_000);
    const left = liveChildren();
    assert.deepEqual(left, [], `processes left behind by the suite:\n${left.join('\n')}`);
  },
};
