/**
 * Storage-version fail-fast on real node processes: a segment stamped with a version this build
 * cannot read stops a data node at boot (naming the path and the versions, lock released, and a
 * start after fixing the data succeeds) and at runtime when its group appears.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../harness/cluster.js';
import { exitWithin } from '../harness/wait.js';
import { shardDirOf } from '../../storage/data_dir.js';
import { nodeFs } from '../../storage/fs.js';
import { createSegment, METADATA_FILE } from '../../storage/segment.js';
import { COMPATIBLE_VERSIONS } from '../../storage/versions.js';

const DAY = 86_400_000;

/** Creates a valid segment for `group`, then restamps its metadata with `version`. */
async function stampedSegment(nodeDir: string, group: string, version: string): Promise<string> {
  const start = Math.floor(Date.now() / DAY) * DAY;
  const seg = await createSegment(nodeFs, shardDirOf(nodeDir, group, 0), start, start + DAY);
  const file = join(seg.dir, METADATA_FILE);
  const meta = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...meta, version }));
  return file;
}

describe('storage version fail-fast (real node processes)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
  });
  after(async () => {
    await c?.stop();
  });
  const nodeDir = (name: string) => join(c.lc.opts.dir, 'data', name);

  it('storage - an unsupported segment version stops a data node at boot, naming path and versions; fixed data starts', async () => {
    const file = await stampedSegment(nodeDir('d9'), 'g_old', '99');
    const n = c.lc.spawnNode('d9', ['data']);
    assert.notEqual(await exitWithin(n.exited, 20_000), 0);
    const log = c.log('d9');
    assert.ok(log.includes(file), `the log names ${file}`);
    const reads = COMPATIBLE_VERSIONS.join(', ');
    assert.ok(log.includes(`unsupported storage version "99"`), log);
    assert.ok(log.includes(`(this build reads ${reads})`), `the log names the versions read: ${reads}`);
    assert.equal(existsSync(join(nodeDir('d9'), 'lock')), false, 'the lock file was released');

    const meta = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...meta, version: '1' }));
    c.lc.spawnNode('d9', ['data']);
    await c.lc.waitReady('d9');
  });

  it('storage - the same data met at runtime (its group created later) stops the node instead of serving', async () => {
    const file = await stampedSegment(nodeDir('d1'), 'g_late', '99');
    await c.createGroup('g_late');
    const code = await exitWithin(c.lc.nodes.get('d1')!.exited, 20_000);
    assert.notEqual(code, 0);
    assert.ok(c.log('d1').includes(file));
    assert.match(c.log('d1'), /stopped: .*unsupported storage version "99"/);
  });
});
