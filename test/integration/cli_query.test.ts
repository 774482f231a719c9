/**
 * `lockstep write` then `lockstep query` end to end (CLI processes, 1 liaison + 1 data node): the
 * write's JSON output is the read-your-writes token of the query; the table and `--json` show the
 * rows and the groups; a server error and a bad option exit 2 with their message.
 */
import assert from 'node:assert/strict';
import { TestCluster } from '../harness/cluster.js';
import { runCli, type ChildResult } from '../harness/child.js';

describe('cli query (1 liaison + 1 data node)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  const now = Date.now();
  const T = now - 30 * 60_000;
  const cli = (args: string[], input?: string) => runCli(c.lc.natsUrl, args, { input });
  const ok = (r: ChildResult): ChildResult => {
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 1 });
    ok(
      await cli([
        'schema',
        'create',
        'group',
        'cq',
        '--catalog',
        'measure',
        '--shards',
        '2',
        '--segment-interval',
        '1h',
        '--ttl',
        '7d',
      ]),
    );
    ok(
      await cli([
        'schema',
        'create',
        'measure',
        'cq/cpu',
        '--entity',
        'host',
        '--tags',
        'host:string,region:string',
        '--fields',
        'value:float',
      ]),
    );
    ok(await cli(['barrier', 'applied', '--key', 'measure:cq/cpu']));
  });
  after(async () => {
    await c?.stop();
  });

  it('cli - a query carrying the write output as token sees the write; table and --json agree', async () => {
    const lines = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({
        ts: T + i * 1000,
        tags: { host: `h${i % 3}`, region: i % 3 === 2 ? 'us' : 'eu' },
        fields: { value: i + 0.5 },
      }),
    );
    const w = ok(await cli(['--json', 'write', 'measure', 'cq/cpu'], lines.join('\n') + '\n'));
    const range = ['--from', String(T), '--to', String(T + 60_000)];
    const json = ok(
      await cli(['--json', 'query', 'measure', 'cq/cpu', ...range, '--where', 'host=h1', '--token', w.stdout.trim()]),
    );
    const reply = JSON.parse(json.stdout) as {
      rows: { ts: number; tags: { host: string }; fields: { value: number } }[];
    };
    assert.deepEqual(
      reply.rows.map((r) => [r.ts, r.tags.host, r.fields.value]),
      Array.from({ length: 10 }, (_, k) => [T + (3 * k + 1) * 1000, 'h1', 3 * k + 1.5]),
    );
    const table = ok(await cli(['query', 'measure', 'cq/cpu', ...range, '--where', 'host=h1', '--limit', '2']));
    const out = table.stdout.trim().split('\n');
    assert.match(out[0]!, /^time\s+host\s+region\s+value$/);
    assert.match(out[1]!, new RegExp(`^${new Date(T + 1000).toISOString()}\\s+h1\\s+eu\\s+1\\.5$`));
    assert.equal(out.length, 3, table.stdout);
  });

  it('cli - group-by, aggregation and top-N as a table', async () => {
    const range = ['--from', String(T), '--to', String(T + 60_000)];
    const g = ok(
      await cli([
        'query',
        'measure',
        'cq/cpu',
        ...range,
        '--group-by',
        'region',
        '--agg',
        'count',
        '--agg',
        'max:value',
      ]),
    );
    assert.deepEqual(
      g.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/)),
      [
        ['region', 'count', 'max(value)'],
        ['eu', '20', '28.5'],
        ['us', '10', '29.5'],
      ],
    );
    const top = ok(
      await cli([
        '--json',
        'query',
        'measure',
        'cq/cpu',
        ...range,
        '--top',
        '1',
        '--top-by',
        'min:value',
        '--top-order',
        'asc',
      ]),
    );
    assert.deepEqual(JSON.parse(top.stdout).groups, [{ tags: { host: 'h0' }, values: { 'min(value)': 0.5 } }]);
  });

  it('cli - a server error and a bad option exit 2 with their message', async () => {
    const nf = await cli(['query', 'measure', 'cq/nope', '--from', '-1h', '--timeout', '500ms']);
    assert.equal(nf.code, 2);
    assert.match(nf.stderr, /NotFound/);
    const bad = await cli(['query', 'measure', 'cq/cpu', '--where', 'host=']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /where/i);
    const inverted = await cli(['query', 'measure', 'cq/cpu', '--from', String(T + 1000), '--to', String(T)]);
    assert.equal(inverted.code, 2);
  });
});
