/**
 * Answers of any size on a cluster (1 liaison + 2 data nodes, real nats-server): an answer larger
 * than one NATS message comes page by page — each page cut to fit, saying `has_more` with the
 * cursor of the next — and the pages put together are the whole answer in order, each row once.
 * The TypeScript client iterates them; the CLI fetches them (`--all`), prints csv and ndjson as they
 * come, and says on stderr when a limit left rows out, with the cursor that continues.
 */
import assert from 'node:assert/strict';
import type { MeasureRow } from '../../transport/query_types.js';
import { LockstepClient } from '../../transport/client.js';
import { runCli } from '../harness/child.js';
import { TestCluster } from '../harness/cluster.js';
import { tagFamily } from '../harness/fixtures.js';
import { seriesId } from '../../storage/series_id.js';

describe('answers of any size, page by page (1 liaison + 2 data nodes)', function () {
  this.timeout(180_000);
  let c: TestCluster;
  let lc: LockstepClient;
  const N = 24_000;
  const T0 = Date.now() - 2 * 3_600_000;
  // ~300 bytes a row: the whole answer is ~7 MB, several messages' worth.
  const note = (i: number) => `${String(i).padStart(6, '0')}-${'x'.repeat(280)}`;
  const q = { group: 'pg', name: 'log', from: T0, to: T0 + 3_600_000 };
  // The answer's order: time, then series id (transport/query_types.ts).
  const sid = (i: number) => seriesId('measure', 'log', JSON.stringify([`h${i % 8}`]));
  const ORDER = Array.from({ length: N }, (_, i) => i).sort(
    (a, b) => Math.floor(a / 8) - Math.floor(b / 8) || (sid(a) < sid(b) ? -1 : 1),
  );

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2 });
    lc = await LockstepClient.connect({ natsUrl: c.lc.natsUrl });
    await lc.create('group', { name: 'pg', catalog: 'measure', shards: 4, segment_interval: '1d', ttl: '7d' });
    const m = await lc.create('measure', {
      group: 'pg',
      name: 'log',
      entity: ['host'],
      tag_families: [tagFamily('default', { host: 'string', note: 'string' })],
      fields: [{ name: 'n', type: 'int' }],
    });
    assert.equal((await lc.awaitRevision(m.revision, { timeoutMs: 10_000 })).applied, true);
    let token;
    for (let b = 0; b < N; b += 2000) {
      const points = Array.from({ length: 2000 }, (_, k) => {
        const i = b + k;
        return { ts: T0 + Math.floor(i / 8) * 100, tags: { host: `h${i % 8}`, note: note(i) }, fields: { n: i } };
      });
      token = (await lc.writeMeasure('pg', 'log', points)).write_token;
    }
    // Every point applied before the tests read.
    await lc.queryMeasure({ ...q, limit: 1, write_token: token });
  });
  after(async () => {
    await lc?.close();
    await c?.stop();
  });

  it('a limit beyond one message: the page is cut to fit and says so; the cursor goes on where it ended', async () => {
    const first = await lc.queryMeasure({ ...q, limit: 20_000 });
    assert.equal(first.has_more, true);
    assert.ok(first.rows!.length > 0 && first.rows!.length < 20_000, `cut to fit: ${first.rows!.length} rows`);
    assert.ok(first.cursor);
    const next = await lc.queryMeasure({ ...q, limit: 5, cursor: first.cursor });
    const at = ORDER.indexOf(first.rows!.at(-1)!.fields.n!);
    assert.equal(at, first.rows!.length - 1);
    assert.deepEqual(
      next.rows!.map((r) => r.fields.n),
      ORDER.slice(at + 1, at + 6),
    );
  });

  it('one series (one shard asked, which builds the page): cut to fit, every row once through the cursor', async () => {
    // 3,000 rows of ~300 bytes: about one message, so the shard's page may be cut.
    const one = { ...q, criteria: { tag: 'host', op: 'eq' as const, value: 'h3' }, limit: 20_000 };
    const got: number[] = [];
    let page = await lc.queryMeasure(one);
    for (let i = 0; i < 10; i++) {
      got.push(...page.rows!.map((r) => r.fields.n!));
      if (!page.has_more) break;
      page = await lc.queryMeasure({ ...one, cursor: page.cursor });
    }
    assert.equal(page.has_more, false);
    assert.deepEqual(
      got,
      ORDER.filter((i) => i % 8 === 3),
    );
  });

  it('the client iterates every row once, in order, holding one page at a time', async () => {
    const seen: number[] = [];
    let pages = 0;
    for await (const page of lc.pages<MeasureRow>('measure', q)) {
      pages++;
      for (const r of page) seen.push(r.fields.n!);
    }
    assert.ok(pages >= 4, `${pages} pages`);
    assert.equal(seen.length, N);
    assert.deepEqual(seen, ORDER);
  });

  it('the CLI: --all as ndjson and csv; a limit that leaves rows out says so with the cursor', async () => {
    const args = ['query', 'measure', 'pg/log', '--from', String(T0), '--to', String(T0 + 3_600_000)];
    const nd = await runCli(c.lc.natsUrl, [...args, '--all', '--format', 'ndjson'], { timeoutMs: 120_000 });
    assert.equal(nd.code, 0, nd.stderr);
    const lines = nd.stdout.trim().split('\n');
    assert.equal(lines.length, N);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as MeasureRow).fields.n),
      ORDER,
    );
    assert.equal(nd.stderr, '', 'nothing left out');

    const csv = await runCli(c.lc.natsUrl, [...args, '--limit', '30', '--format', 'csv', '--tags', 'host']);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = csv.stdout.trim().split('\n');
    assert.equal(rows[0], 'time,tag.host,field.n');
    assert.equal(rows.length, 31);
    assert.equal(rows[1], `${new Date(T0).toISOString()},h${ORDER[0]! % 8},${ORDER[0]}`);
    const m = /note: more rows follow these 30: raise --limit, give --all, or continue with --cursor (\S+)/.exec(
      csv.stderr,
    );
    assert.ok(m, csv.stderr);
    // The same query (the cursor names it), asking for the next rows.
    const more = await runCli(c.lc.natsUrl, [...args, '--tags', 'host', '--limit', '2', '--cursor', m[1]!, '--json']);
    assert.equal(more.code, 0, more.stdout);
    assert.deepEqual(
      (JSON.parse(more.stdout) as { rows: MeasureRow[] }).rows.map((r) => r.fields.n),
      ORDER.slice(30, 32),
    );

    // The default limit: 1000 rows, and stderr says more follow.
    const table = await runCli(c.lc.natsUrl, [...args, '--tags', 'host']);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stdout.trim().split('\n').length, 1001);
    assert.match(table.stderr, /note: more rows follow these 1000/);
  });
});
