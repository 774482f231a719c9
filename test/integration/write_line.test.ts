/**
 * InfluxDB line protocol writes (`lockstep.api.write.line.<group>`, `lockstep write line`) on a
 * cluster of separate processes and real nats-server, with lines made by a tool we did not write:
 * the official InfluxDB JavaScript client's `Point.toLineProtocol()`. Points land in the measures
 * the lines name, with their tags, fields and timestamps; one bad line refuses the whole request and
 * stores nothing, naming the line; a repeated Batch-Id stores once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Point } from '@influxdata/influxdb-client';
import { LockstepClient } from '../../transport/client.js';
import type { LockstepError } from '../../transport/errors.js';
import type { MeasureRow } from '../../transport/query_types.js';
import { runCli } from '../harness/child.js';
import { TestCluster } from '../harness/cluster.js';
import { tagFamily } from '../harness/fixtures.js';

describe('line protocol writes (1 liaison + 2 data nodes)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let lc: LockstepClient;
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-lp-'));
  const T0 = Date.now() - 3_600_000;
  const rows = async (name: string, token?: unknown) =>
    (
      await lc.queryMeasure({
        group: 'lp',
        name,
        from: T0 - 1,
        to: Date.now() + 60_000,
        limit: 10_000,
        ...(token ? { write_token: token as never } : {}),
      })
    ).rows!;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2 });
    lc = await LockstepClient.connect({ natsUrl: c.lc.natsUrl });
    await lc.create('group', { name: 'lp', catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '7d' });
    await lc.create('measure', {
      group: 'lp',
      name: 'cpu',
      entity: ['host'],
      tag_families: [tagFamily('default', { host: 'string', core: 'int' })],
      fields: [
        { name: 'value', type: 'float' },
        { name: 'count', type: 'int' },
      ],
    });
    const m = await lc.create('measure', {
      group: 'lp',
      name: 'mem',
      entity: ['host'],
      tag_families: [tagFamily('default', { host: 'string' })],
      fields: [{ name: 'free', type: 'float' }],
    });
    assert.equal((await lc.awaitRevision(m.revision, { timeoutMs: 10_000 })).applied, true);
  });
  after(async () => {
    await lc?.close();
    await c?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lines from the InfluxDB client land in the measures they name, with tags, fields and times', async () => {
    const hosts = ['web 1', 'db,2', 'cache=3'];
    const lines: string[] = [];
    const want = new Map<string, MeasureRow[]>([
      ['cpu', []],
      ['mem', []],
    ]);
    for (let i = 0; i < 30; i++) {
      const host = hosts[i % 3]!;
      const ts = T0 + i * 1000;
      const cpu = new Point('cpu')
        .tag('host', host)
        .tag('core', String(i % 4))
        .floatField('value', i / 4)
        .intField('count', i)
        .timestamp(`${ts}000000`); // ns
      const mem = new Point('mem')
        .tag('host', host)
        .floatField('free', 1000 - i)
        .timestamp(`${ts}000000`);
      lines.push(cpu.toLineProtocol()!, mem.toLineProtocol()!);
      want.get('cpu')!.push({ ts, tags: { host, core: i % 4 }, fields: { value: i / 4, count: i } });
      want.get('mem')!.push({ ts, tags: { host }, fields: { free: 1000 - i } });
    }
    const r = await lc.writeLines('lp', lines.join('\n'), { batchId: 'lp-first' });
    assert.equal(r.points, 60);
    assert.deepEqual(
      r.measures.map((m) => [m.name, m.points, m.duplicate]),
      [
        ['cpu', 30, false],
        ['mem', 30, false],
      ],
    );
    const key = (x: MeasureRow) => `${String(x.tags.host)}@${x.ts}`;
    const sorted = (xs: MeasureRow[]) => [...xs].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    assert.deepEqual(sorted(await rows('cpu', r.write_token)), sorted(want.get('cpu')!));
    assert.deepEqual(sorted(await rows('mem', r.write_token)), sorted(want.get('mem')!));

    // The same Batch-Id again: acknowledged as a duplicate, stored once.
    const again = await lc.writeLines('lp', lines.join('\n'), { batchId: 'lp-first' });
    assert.equal(again.duplicate, true);
    assert.equal((await rows('cpu', again.write_token)).length, 30);
  });

  it('one bad line refuses the whole request, naming it; nothing of it is stored', async () => {
    const before = (await rows('cpu')).length;
    const ts = `${T0 + 500_000}000000`;
    const text = [`cpu,host=x value=1 ${ts}`, `mem,host=x free=2 ${ts}`, `cpu,host=x,zone=eu value=3 ${ts}`].join('\n');
    await assert.rejects(lc.writeLines('lp', text), (e: LockstepError) => {
      assert.equal(e.code, 'InvalidArgument');
      assert.match(e.message, /line 3\.tags\.zone: unknown tag/);
      return true;
    });
    await assert.rejects(lc.writeLines('lp', `disk,host=x used=1 ${ts}`), (e: LockstepError) => e.code === 'NotFound');
    await assert.rejects(lc.writeLines('lp', `cpu,host=x value="hot" ${ts}`), /line 1\.fields\.value/);
    await assert.rejects(lc.writeLines('lp', 'cpu,host=x value=1 12:00'), /line 1: timestamp "12:00"/);
    assert.equal((await rows('cpu')).length, before);
    assert.equal((await rows('mem')).filter((r) => r.tags.host === 'x').length, 0);
  });

  it('lockstep write line - a file in ms precision, and a bad line named by file and line', async () => {
    const ts = T0 + 900_000;
    const good = join(dir, 'good.lp');
    writeFileSync(
      good,
      [
        '# from the InfluxDB client, millisecond timestamps',
        new Point('cpu').tag('host', 'cli').floatField('value', 7.5).timestamp(String(ts)).toLineProtocol()!,
        '',
        new Point('mem').tag('host', 'cli').floatField('free', 9).timestamp(String(ts)).toLineProtocol()!,
      ].join('\n'),
    );
    const ok = await runCli(c.lc.natsUrl, ['write', 'line', 'lp', good, '--precision', 'ms', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { points: number }).points, 2);
    const cli = (await rows('cpu')).filter((r) => r.tags.host === 'cli');
    assert.deepEqual(cli, [{ ts, tags: { host: 'cli', core: 0 }, fields: { value: 7.5, count: 0 } }]);

    const bad = join(dir, 'bad.lp');
    writeFileSync(bad, `cpu,host=b value=1 ${ts}\n\ncpu,host=b value=oops ${ts}\n`);
    const r = await runCli(c.lc.natsUrl, ['write', 'line', 'lp', bad, '--precision', 'ms']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /InvalidArgument: .*bad\.lp:3: field value: "oops" is not a number/);
    assert.match(r.stderr, /0 points were acknowledged before the failure/);
  });
});
