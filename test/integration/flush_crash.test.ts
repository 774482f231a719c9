/**
 * Kill -9 in the middle of a flush (real processes): a data node whose flush writes three parts
 * (one per hourly segment) is SIGKILLed right after the second part is complete on disk, before
 * the flush committed. Restarted, it opens (no unreadable part), and every acknowledged point is
 * queryable exactly once, with its value.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KILL_AT_PART_COMMIT_ENV } from '../../runtime/cli/node_cmd.js';
import { subjectsFor } from '../../transport/subjects.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';
import { TestCluster } from '../harness/cluster.js';

const S = subjectsFor();
const HOUR = 3_600_000;

/** Part directories (complete ones: no .tmp) under a node's group directory. */
function partsOnDisk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isDirectory() && /^part-\d+$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('kill -9 during a flush (1 liaison + 1 data node)', function () {
  this.timeout(120_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 0 });
    c.lc.spawnNode('d1', ['data'], [], { [KILL_AT_PART_COMMIT_ENV]: '2' });
    await c.lc.waitReady('d1');
  });
  after(async () => {
    await c?.stop();
  });

  it('storage - a SIGKILL between two parts of one flush leaves no unreadable part and loses nothing', async () => {
    await c.createGroup('fc', { shards: 1, segment_interval: '1h', placement: { data_nodes: ['d1'] } });
    const m = await c.createMeasure('fc', 'cpu');
    assert.equal((await c.barrier('applied', { keys: ['measure:fc/cpu'], min_revisions: [m.revision] })).applied, true);
    // One batch over three hourly segments: its flush writes three parts.
    const base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const points = Array.from({ length: 90 }, (_, i) => ({
      ts: base + Math.floor(i / 30) * HOUR + (i % 30) * 1000,
      tags: { host: `h${i % 3}` },
      fields: { value: i + 0.5 },
    }));
    const w = await c.api<{ write_token: { group: string; shards: Record<string, number> } }>(
      S.api.write('measure'),
      { group: 'fc', name: 'cpu', points },
      10_000,
    );

    // The age flush starts; the node dies right after its second part is complete.
    const exit = await c.lc.nodes.get('d1')!.exited;
    assert.equal(exit.signal, 'SIGKILL', 'the crash point fired');
    const groupDir = join(c.lc.opts.dir, 'data', 'd1', 'fc');
    assert.equal(partsOnDisk(groupDir).length, 2, 'two complete parts of an uncommitted flush on disk');

    c.lc.spawnNode('d1', ['data']);
    await c.lc.waitReady('d1');
    const r = await c.api<QueryReply<MeasureRow>>(
      S.api.query('measure'),
      { group: 'fc', name: 'cpu', from: base, to: base + 3 * HOUR, write_token: w.write_token },
      20_000,
    );
    assert.deepEqual(
      r.rows!.map((x) => [x.ts, x.tags.host, x.fields.value]).sort((a, b) => (a[2] as number) - (b[2] as number)),
      points.map((p) => [p.ts, p.tags.host, p.fields.value]),
    );
  });
});
