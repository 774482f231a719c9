/** `lockstep cluster up`: one command starts NATS and the nodes, writes cluster.json, stops cleanly. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive } from '../harness/child.js';
import { waitFor } from '../harness/wait.js';
import { useTempDir } from '../harness/temp_dir.js';

const BIN = fileURLToPath(new URL('../../bin/lockstep.js', import.meta.url));

describe('cluster up', function () {
  this.timeout(90_000);
  const tmp = useTempDir('up');

  it('cluster up - starts nats-server and the nodes, writes cluster.json, stops everything on SIGINT', async () => {
    const dir = tmp.path;
    const child = spawn(
      process.execPath,
      [BIN, 'cluster', 'up', '--dir', dir, '--liaisons', '1', '--data-nodes', '1', '--claimers', '1'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const file = join(dir, 'cluster.json');
      const doc = await waitFor(
        () =>
          existsSync(file) &&
          (JSON.parse(readFileSync(file, 'utf8')) as {
            natsUrl: string;
            natsPid: number;
            nodes: { name: string; roles: string[]; pid: number }[];
          }),
        { timeoutMs: 60_000, what: 'cluster.json' },
      );
      assert.match(doc.natsUrl, /^nats:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(
        doc.nodes.map((n) => [n.name, n.roles]),
        [
          ['l1', ['liaison']],
          ['d1', ['data']],
          ['c1', ['claimer']],
        ],
      );
      await waitFor(() => out.includes(doc.natsUrl), { what: 'the NATS URL printed' });
      const pids = [doc.natsPid, ...doc.nodes.map((n) => n.pid)];
      assert.ok(pids.every(alive));

      child.kill('SIGINT');
      assert.equal(await exited, 0);
      await waitFor(() => pids.every((p) => !alive(p)), { what: 'every process stopped' });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
