/**
 * What a reader sees across a layout rewrite (1 liaison, 2 data nodes, 1 claimer; real processes):
 * - a point overwritten while the copy runs (same series and timestamp, new value) keeps its new
 *   value after the cutover, though the copy carries the old value into the new layout after it
 *   (an injected delay holds the copied rows between reading and appending);
 * - a write token taken before the cutover makes a query after it, served by the new layout, wait
 *   for that write on a data node that had not applied it (the node was SIGSTOPped), then see it;
 * - a query without a token right after the migration completed sees every copied row, though a
 *   new-layout shard owner was slow to apply what the copy appended (an injected apply delay); a
 *   write carrying the measure's revision from before the re-shard is accepted during and after it;
 * - inside a cutover held open for seconds (a new-layout owner slow to apply), writes carrying the
 *   old revision are accepted and reads return every point exactly once.
 */
import assert from 'node:assert/strict';
import type { WritePoint, WriteReply } from '../../transport/api_types.js';
import type { Layout } from '../../transport/layout_types.js';
import type { MigrationStatus } from '../../transport/migration_types.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';
import type { StoredResource } from '../../transport/schema_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);
const HOSTS = 40;

describe('reads across a layout rewrite (1 liaison, 2 data nodes, 1 claimer)', function () {
  this.timeout(120_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2, claimers: 1 });
    for (const g of ['ow', 'ryw', 'lag', 'window']) {
      await c.createGroup(g);
      await c.createMeasure(g, 'cpu');
    }
  });
  after(async () => {
    // A stopped node would not stop on SIGTERM.
    for (const n of ['d1', 'd2']) c?.lc.kill(n, 'SIGCONT');
    await c?.stop();
  });

  const write = async (group: string, points: WritePoint[]): Promise<WriteToken> =>
    (await c.api<WriteReply>(S.api.write('measure'), { group, name: 'cpu', points }, 10_000)).write_token;
  const rows = async (group: string, token: WriteToken, timeoutMs = 10_000) =>
    (
      await c.api<QueryReply<MeasureRow>>(
        S.api.query('measure'),
        { group, name: 'cpu', from: T0, to: T0 + 86_400_000, write_token: token, limit: 10_000 },
        timeoutMs,
      )
    ).rows!;
  const batch = (ts: number, value: (h: number) => number): WritePoint[] =>
    Array.from({ length: HOSTS }, (_, h) => ({ tags: { host: `h${h}` }, fields: { value: value(h) }, ts }));
  const status = (id: string) => c.api<MigrationStatus>(S.api.migration('status'), { id }, 10_000);
  const layoutOf = async (g: string) =>
    (await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: g })) as StoredResource & {
      resource: Layout;
    };
  const ended = (id: string) =>
    waitFor(
      async () => {
        const s = await status(id);
        return ['completed', 'failed'].includes(s.state) && s;
      },
      { timeoutMs: 60_000, what: `migration ${id} to end` },
    );

  it('overwrite - a point overwritten during the copy has its new value after the cutover', async () => {
    const tokens = [
      await write(
        'ow',
        batch(T0, () => 1),
      ),
    ];
    // The first segment copied is held 3 s between reading its rows and appending them to the new
    // layout: the overwrite below reaches the new layout (a dual write) before the old values do.
    const slow = { actor: 'data_shard', phase: 'backfill', kind: 'delay', delay_ms: 3000, group: 'ow', times: 1 };
    for (const n of ['d1', 'd2']) await c.injectFault(n, slow as never);
    const { id } = await c.api<MigrationStatus>(S.api.migration('start'), {
      spec: { targets: ['ow'], change: { group: { shards: 3 } } },
    });
    await waitFor(() => ['d1', 'd2'].some((n) => c.log(n).includes('injected backfill delay: segment read')), {
      timeoutMs: 30_000,
      what: 'a segment read by the copy',
    });
    tokens.push(
      await write(
        'ow',
        batch(T0, (h) => 100 + h),
      ),
    );
    assert.equal((await status(id)).operations[0]!.copy_completed_at, null, 'overwritten before the copy ended');
    for (const n of ['d1', 'd2']) await c.control(n, 'clear_fault');
    const done = await ended(id);
    assert.equal(done.state, 'completed', JSON.stringify(done.operations[0]));
    assert.ok(done.operations[0]!.rows_copied >= HOSTS, 'the old values were copied too');
    assert.equal((await layoutOf('ow')).resource.current.shards, 3);
    const after = await rows('ow', mergeTokens('ow', tokens));
    assert.deepEqual(
      after.map((r) => [r.tags.host, r.fields.value]).sort(),
      Array.from({ length: HOSTS }, (_, h) => [`h${h}`, 100 + h]).sort(),
      'one row per series, with the value written last',
    );
  });

  it('read your writes - a token from before the cutover makes a query on the new layout wait for its write', async () => {
    await write(
      'ryw',
      batch(T0, () => 1),
    );
    const { id } = await c.api<MigrationStatus>(S.api.migration('start'), {
      spec: { targets: ['ryw'], defer_cutover: true, change: { group: { shards: 4 } } },
    });
    await waitFor(async () => (await status(id)).operations[0]!.state === 'waiting_for_cutover', {
      timeoutMs: 60_000,
      what: 'the copy done, waiting for the cutover',
    });
    // d2 stops applying anything: the write below reaches the WAL of both layouts but not its shards.
    c.lc.kill('d2', 'SIGSTOP');
    let resumed = false;
    try {
      const token = await write(
        'ryw',
        batch(T0 + 1000, (h) => h),
      );
      await c.api(S.api.migration('cutover'), { id }, 10_000);
      // d2 falls silent, is left out by the barrier, and the cutover completes: reads use the new layout.
      assert.equal((await ended(id)).state, 'completed');
      assert.equal((await layoutOf('ryw')).resource.current.generation, 2);
      const query = rows('ryw', token, 20_000).then((r) => ({ r, resumed }));
      setTimeout(() => {
        resumed = true;
        c.lc.kill('d2', 'SIGCONT');
      }, 1500);
      const { r, resumed: afterResume } = await query;
      assert.ok(afterResume, 'the query waited for the data node that had not applied the write');
      assert.equal(r.filter((x) => x.ts === T0 + 1000).length, HOSTS, 'every point of the write is seen');
      assert.equal(r.length, 2 * HOSTS);
    } finally {
      c.lc.kill('d2', 'SIGCONT');
    }
  });

  it('caught up - right after completion a query without a token sees every copied row', async () => {
    const DAYS = 3;
    for (let d = 0; d < DAYS; d++)
      for (let m = 0; m < 4; m++)
        await write(
          'lag',
          batch(T0 + d * 86_400_000 + m * 60_000, (h) => h),
        );
    // A client holding the measure's revision from before the re-shard is never refused (the layout is its own key).
    const before = await c.api<WriteReply>(
      S.api.write('measure'),
      { group: 'lag', name: 'cpu', points: batch(T0 + 3_600_000, () => 5) },
      10_000,
    );
    const withOldRevision = async () =>
      c.api<WriteReply>(
        S.api.write('measure'),
        { group: 'lag', name: 'cpu', schema_revision: before.schema_revision, points: batch(T0 + 3_600_000, () => 5) },
        10_000,
      );
    const total = DAYS * 4 * HOSTS + HOSTS;
    // Each data node holds the first record of the new layout it receives 3 s before applying it.
    const lag = { actor: 'data_shard', phase: 'wal_apply', kind: 'delay', delay_ms: 3000, group: 'lag', generation: 2 };
    for (const n of ['d1', 'd2']) await c.injectFault(n, { ...lag, times: 1 } as never);
    const { id } = await c.api<MigrationStatus>(S.api.migration('start'), {
      spec: { targets: ['lag'], change: { group: { shards: 3 } } },
    });
    const during = await withOldRevision();
    const done = await waitFor(
      async () => {
        const s = await status(id);
        return ['completed', 'failed'].includes(s.state) && s;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: `migration ${id} to end` },
    );
    const count = await c.api<QueryReply<MeasureRow>>(
      S.api.query('measure'),
      { group: 'lag', name: 'cpu', from: T0, to: T0 + DAYS * 86_400_000, limit: 10_000 },
      10_000,
    );
    assert.equal(done.state, 'completed', JSON.stringify(done.operations[0]));
    assert.equal(done.operations[0]!.rows_copied, total);
    assert.ok(
      ['d1', 'd2'].some((n) => c.log(n).includes('injected WAL apply delay')),
      'a new-layout shard owner was held',
    );
    assert.equal(count.rows!.length, total, 'every copied row is read at once after the cutover');
    const after = await withOldRevision();
    assert.deepEqual([during.schema_revision, after.schema_revision], [before.schema_revision, before.schema_revision]);
  });

  it('cutover window - writes with the old revision are accepted and reads are exact while the cutover runs', async () => {
    const g = 'window';
    const keys: string[] = [];
    const tokens: WriteToken[] = [];
    let next = T0;
    const writeOld = async (revision?: number) => {
      const ts = (next += 1000);
      const r = await c.api<WriteReply>(
        S.api.write('measure'),
        { group: g, name: 'cpu', points: batch(ts, (h) => h), ...(revision ? { schema_revision: revision } : {}) },
        10_000,
      );
      for (let h = 0; h < HOSTS; h++) keys.push(`h${h}@${ts}`);
      tokens.push(r.write_token);
      return r;
    };
    const before = await writeOld();
    for (let i = 0; i < 4; i++) await writeOld(before.schema_revision);
    const { id } = await c.api<MigrationStatus>(S.api.migration('start'), {
      spec: { targets: [g], defer_cutover: true, change: { group: { shards: 3 } } },
    });
    await waitFor(async () => (await status(id)).operations[0]!.state === 'waiting_for_cutover', {
      timeoutMs: 60_000,
      what: 'the copy',
    });
    // The next new-layout record each owner applies waits 1.5 s: the cutover's catch-up waits for it.
    const hold = { actor: 'data_shard', phase: 'wal_apply', kind: 'delay', delay_ms: 1500, group: g, generation: 2 };
    for (const n of ['d1', 'd2']) await c.injectFault(n, { ...hold, times: 1 } as never);
    await writeOld(before.schema_revision);
    await c.api(S.api.migration('cutover'), { id });
    let inside = 0; // rounds of a write and a read both inside the cutover
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      const at = (await status(id)).state;
      if (at === 'completed' || at === 'failed') break;
      const w = await writeOld(before.schema_revision);
      assert.equal(w.schema_revision, before.schema_revision);
      const got = (await rows(g, mergeTokens(g, tokens))).map((r) => `${String(r.tags.host)}@${r.ts}`).sort();
      assert.deepEqual(got, [...keys].sort(), `every point once (${at})`);
      // Counted as inside only when the cutover ran before and after both calls.
      if (at === 'cutting_over' && (await status(id)).state === 'cutting_over') {
        inside++;
      }
    }
    const done = await ended(id);
    assert.equal(done.state, 'completed', JSON.stringify(done.operations[0]));
    assert.ok(inside >= 1, 'a write and a read inside the cutover');
    assert.equal((await layoutOf(g)).resource.current.shards, 3);
    const got = (await rows(g, mergeTokens(g, tokens))).map((r) => `${String(r.tags.host)}@${r.ts}`).sort();
    assert.deepEqual(got, [...keys].sort(), 'every point once after the cutover');
  });
});
