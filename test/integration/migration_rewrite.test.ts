/**
 * Rewrite migrations of a group's layout on a cluster (1 liaison, 2 data nodes, 2 claimers; real
 * processes): re-sharding three ordered groups 2 → 4 under the barrier policy while a writer keeps
 * writing and a reader checks, after every write, that a query returns exactly the points
 * acknowledged so far. Every target copies and parks, cutovers run in target order each after the
 * previous one completed, every point written before and during the migration is read exactly once
 * from the new layout, and the old layout is dropped after the grace period. A cancelled rewrite
 * leaves the old layout serving and loses nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ActorsReply, WritePoint, WriteReply } from '../../transport/api_types.js';
import { decode } from '../../transport/codec.js';
import { Code } from '../../transport/errors.js';
import type { Layout } from '../../transport/layout_types.js';
import type {
  MigrationEvent,
  MigrationStatus,
  MigrationSpec,
  OperationRecord,
  PlanReply,
} from '../../transport/migration_types.js';
import type { MeasureRow, QueryReply } from '../../transport/query_types.js';
import type { StoredResource } from '../../transport/schema_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { TestCluster } from '../harness/cluster.js';
import { nodeShards } from '../harness/node_shards.js';
import { rejectsWith } from '../harness/schema_api.js';
import { waitFor } from '../harness/wait.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
const TARGETS = ['metrics_eu', 'metrics_us', 'metrics_ap'];
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);
const HOSTS = 40;
/** Three targets per on_failure policy; the copy of the second one fails. */
const ON_FAILURE = ['halt', 'continue', 'pause'] as const;
const FAIL_GROUPS = ON_FAILURE.flatMap((p) => [1, 2, 3].map((i) => `${p}_${i}`));

describe('rewrite migrations of the layout (1 liaison, 2 data nodes, 2 claimers)', function () {
  this.timeout(180_000);
  let c: TestCluster;
  const events: MigrationEvent[] = [];
  /** Per group: points acknowledged (distinct keys) and the token covering all of them. */
  const written = new Map<string, { points: number; tokens: WriteToken[]; times: number[] }>();

  before(async () => {
    let last: { group: string; revision: number } | undefined;
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2, claimers: 2, nodeArgs: ['--retiring-grace', '2s'] });
    c.bus.subscribe('lockstep.events.migration.>', (m) => events.push(decode(m.data) as MigrationEvent));
    for (const g of [
      ...TARGETS,
      'logs_x',
      'roll_a',
      'roll_b',
      'par_a',
      'par_b',
      'par_c',
      'par_d',
      'moved',
      'stop_resume',
      ...FAIL_GROUPS,
    ]) {
      await c.createGroup(g);
      const m = await c.createMeasure(g, 'cpu');
      written.set(g, { points: 0, tokens: [], times: [] });
      last = { group: g, revision: m.revision };
    }
    // Queries need the shards open: a data node opens them while applying the group, which comes
    // before the last measure in the registry's order. Without this the first count could race it.
    assert.ok(await c.measureApplied(last!.group, 'cpu', last!.revision), 'every node applied the schema');
  });
  after(async () => c?.stop());

  const migration = <T>(verb: string, body: unknown) => c.api<T>(S.api.migration(verb as never), body, 15_000);
  const status = (id: string) => migration<MigrationStatus>('status', { id });
  let step = 0;
  /** Writes one batch of HOSTS new points (a new timestamp, on day `day` after T0) to `g`. */
  const writeBatch = async (g: string, day = 0) => {
    const ts = T0 + day * 86_400_000 + step++ * 1000;
    const points: WritePoint[] = Array.from({ length: HOSTS }, (_, h) => ({
      tags: { host: `h${h}` },
      fields: { value: h },
      ts,
    }));
    const r = await c.api<WriteReply>(S.api.write('measure'), { group: g, name: 'cpu', points }, 10_000);
    const w = written.get(g)!;
    w.points += HOSTS;
    w.tokens.push(r.write_token);
    w.times.push(ts);
  };
  /**
   * Every point of `g` read back raw: each written (host, ts) exactly once, nothing else. A count
   * alone would let a missing point and a duplicate cancel out.
   */
  const readsExactly = async (g: string, what: string): Promise<void> => {
    const w = written.get(g)!;
    const r = await c.api<QueryReply<MeasureRow>>(
      S.api.query('measure'),
      {
        group: g,
        name: 'cpu',
        from: T0,
        to: T0 + 4 * 86_400_000,
        limit: 100_000,
        write_token: mergeTokens(g, w.tokens),
      },
      10_000,
    );
    assert.equal(r.has_more, false, `${what}: one page`);
    const got = (r.rows ?? []).map((row) => `${String(row.tags.host)}@${row.ts}`).sort();
    const want = w.times.flatMap((ts) => Array.from({ length: HOSTS }, (_, h) => `h${h}@${ts}`)).sort();
    assert.deepEqual(got, want, what);
  };
  /** Rows a query on `g` returns, waiting for every acknowledged write. */
  const count = async (g: string): Promise<number> => {
    const r = await c.api<QueryReply>(
      S.api.query('measure'),
      {
        group: g,
        name: 'cpu',
        from: T0,
        to: T0 + 4 * 86_400_000,
        aggregations: [{ fn: 'count' }],
        write_token: mergeTokens(g, written.get(g)!.tokens),
      },
      10_000,
    );
    return Number(r.groups?.[0]?.values.count ?? 0);
  };
  const layoutOf = async (g: string) =>
    (await c.api<StoredResource>(S.api.schema('layout', 'get'), { group: g })).resource as Layout;
  const dataDirs = (g: string) =>
    ['d1', 'd2'].flatMap((n) => {
      const dir = join(c.lc.opts.dir, 'data', n, g);
      return existsSync(dir) ? readdirSync(dir) : [];
    });

  it('rewrite - barrier policy: all copy and park, cutovers in order, every point read exactly once throughout', async () => {
    for (const g of TARGETS) for (let i = 0; i < 5; i++) await writeBatch(g);
    const spec: MigrationSpec = { targets: TARGETS, policy: 'barrier', change: { group: { shards: 4 } } };
    // The plan counts the rows each copy takes: every acknowledged write, applied or not yet.
    const plan = await migration<PlanReply>('plan', { spec });
    assert.deepEqual(
      plan.targets.map((t) => [t.target, t.kind, t.reason, t.rows_total]),
      TARGETS.map((t) => [t, 'rewrite', 'shards 2 → 4', written.get(t)!.points]),
    );
    const { id } = await migration<MigrationStatus>('start', { spec });
    // Writes and exact reads go on through the whole migration, bounded in time.
    const deadline = Date.now() + 120_000;
    let s = await status(id);
    let rounds = 0;
    while (s.state !== 'completed' && s.state !== 'failed' && Date.now() < deadline) {
      for (const g of TARGETS) {
        await writeBatch(g);
        await readsExactly(g, `${g} during the migration (${s.headline})`);
      }
      rounds++;
      s = await status(id);
    }
    assert.equal(s.state, 'completed', `${s.headline}: ${JSON.stringify(s.operations.map((o) => o.error))}`);
    assert.ok(rounds >= 2, `reads were checked while it ran (${rounds} rounds)`);
    for (let i = 1; i < TARGETS.length; i++) {
      const prev = s.operations[i - 1]!;
      const cur = s.operations[i]!;
      assert.ok(cur.cutover_started_at! >= prev.completed_at!, `${cur.target} cut over after ${prev.target} completed`);
    }
    for (const o of s.operations) assert.ok(o.rows_copied > 0 && o.rows_copied === o.rows_total, JSON.stringify(o));
    assert.deepEqual(
      events.filter((e) => e.id === id && e.kind === 'cutover_started').map((e) => e.target),
      TARGETS,
      'each cutover announced once, in target order',
    );
    // Every target parked (its lease released) and every copy ended before any cutover began (the
    // barrier policy): the records' times say so, whatever order two claimers' events arrive in.
    const parked = events.filter((e) => e.id === id && e.kind === 'parked').map((e) => e.target);
    assert.deepEqual([...new Set(parked)].sort(), [...TARGETS].sort(), 'all parked');
    const lastCopy = Math.max(...s.operations.map((o) => Date.parse(o.copy_completed_at!)));
    const firstCutover = Math.min(...s.operations.map((o) => Date.parse(o.cutover_started_at!)));
    assert.ok(
      lastCopy <= firstCutover,
      `the last copy ended before the first cutover: ${JSON.stringify(s.operations)}`,
    );
    for (const g of TARGETS) {
      const l = await layoutOf(g);
      assert.equal(l.current.shards, 4);
      assert.equal(l.current.generation, 2);
      await writeBatch(g);
      await readsExactly(g, `${g} after the migration`);
    }
  });

  it('rewrite - the old layout is dropped after the grace period: its shards close and its files go', async () => {
    for (const g of TARGETS) {
      await waitFor(async () => (await layoutOf(g)).retiring === undefined, { what: `${g} retiring dropped` });
      await waitFor(() => dataDirs(g).every((d) => d === 'gen-2'), { what: `${g} generation 1 files removed` });
      assert.equal(await count(g), written.get(g)!.points, `${g} reads everything from generation 2 alone`);
    }
  });

  it('rewrite - cancel before the cutover drops the new layout; the old one keeps serving every point', async () => {
    const g = 'logs_x';
    for (let i = 0; i < 3; i++) await writeBatch(g);
    const spec = { targets: [g], defer_cutover: true, change: { group: { shards: 3 } } };
    const { id } = await migration<MigrationStatus>('start', { spec });
    await waitFor(async () => (await status(id)).operations[0]!.state === 'waiting_for_cutover', {
      timeoutMs: 60_000,
      what: 'the copy done, waiting for the cutover',
    });
    // Copied means in parts: the new generation has nothing of the copy left to flush at its cutover.
    const g2 = [];
    for (const node of ['d1', 'd2']) {
      g2.push(
        ...nodeShards(await c.control<ActorsReply>(node, 'actors')).filter((s) => s.shard.startsWith(`${g}/g2/`)),
      );
    }
    assert.equal(g2.length, 3, `every shard of generation 2 open: ${JSON.stringify(g2)}`);
    for (const s of g2) {
      assert.ok(s.applied > 0 && s.flushed === s.applied, `${s.shard} flushed what it applied: ${JSON.stringify(s)}`);
    }
    await writeBatch(g); // a dual write
    assert.equal((await layoutOf(g)).next?.shards, 3);
    await migration('cancel', { id });
    await waitFor(async () => (await status(id)).state === 'cancelled', { what: 'cancelled' });
    await waitFor(async () => (await layoutOf(g)).next === undefined, { what: 'next dropped' });
    assert.equal((await layoutOf(g)).current.shards, 2);
    await writeBatch(g);
    assert.equal(await count(g), written.get(g)!.points);
    await waitFor(() => dataDirs(g).every((d) => d.startsWith('shard-')), { what: 'generation 2 files removed' });
    // Cancel is final.
    for (const verb of ['resume', 'cutover', 'stop', 'cancel']) {
      await rejectsWith(migration(verb, { id }), Code.FailedPrecondition);
    }
    assert.equal((await status(id)).state, 'cancelled');
  });

  const run = async (spec: MigrationSpec): Promise<MigrationStatus> => {
    const { id } = await migration<MigrationStatus>('start', { spec });
    return waitFor(
      async () => {
        const st = await status(id);
        return ['completed', 'failed', 'cancelled'].includes(st.state) && st;
      },
      { timeoutMs: 60_000, what: `migration ${id} to end` },
    );
  };

  it('rewrite - stop mid-copy, then resume: the copy goes on from its recorded position', async () => {
    const g = 'stop_resume';
    for (const day of [0, 1, 2]) for (let i = 0; i < 3; i++) await writeBatch(g, day); // 3 segments per shard
    const slow = { actor: 'data_shard', phase: 'backfill', kind: 'delay', delay_ms: 400, group: g };
    for (const n of ['d1', 'd2']) await c.injectFault(n, slow as never);
    const { id } = await migration<MigrationStatus>('start', {
      spec: { targets: [g], change: { group: { shards: 3 } } },
    });
    const ops = await c.bus.kv(S.opsBucket);
    const stored = async () => decode((await ops.get(`op.${id}.0`))!.value) as OperationRecord;
    // Stop once a segment of the second shard was copied.
    await waitFor(
      async () =>
        ((await stored()).copy_position?.shard ?? 0) >= 1 && (await stored()).copy_position?.after_segment !== null,
      {
        timeoutMs: 60_000,
        what: 'the copy into the second shard',
      },
    );
    await migration('stop', { id });
    await waitFor(async () => (await status(id)).state === 'stopped', { what: 'stopped' });
    for (const n of ['d1', 'd2']) await c.control(n, 'clear_fault');
    const atStop = await stored();
    assert.ok(atStop.rows_copied > 0 && atStop.rows_copied < atStop.rows_total, JSON.stringify(atStop));
    await writeBatch(g, 1); // dual writes go on while it is stopped
    const from = events.length;
    await migration('resume', { id });
    const done = await waitFor(
      async () => {
        const s = await status(id);
        return ['completed', 'failed'].includes(s.state) && s;
      },
      { timeoutMs: 60_000, what: 'the resumed migration to end' },
    );
    assert.equal(done.state, 'completed', JSON.stringify(done.operations[0]));
    const progress = events
      .slice(from)
      .filter((e) => e.id === id && e.status.operations[0]!.state === 'running')
      .map((e) => e.status.operations[0]!.rows_copied);
    assert.ok(progress.length > 0, 'progress was published after the resume');
    assert.ok(
      progress.every((n) => n >= atStop.rows_copied),
      `never copied from the start again: ${atStop.rows_copied} at the stop, then ${progress.join(', ')}`,
    );
    assert.equal(done.operations[0]!.rows_copied, done.operations[0]!.rows_total);
    // A copy started over would have counted the segments copied before the stop twice.
    assert.equal(done.operations[0]!.rows_total, written.get(g)!.points, 'rows counted once: no copy started over');
    assert.equal((await layoutOf(g)).current.shards, 3);
    assert.equal(await count(g), written.get(g)!.points, 'every point, once, from the new layout');
  });

  it('rewrite - rolling: a target starts copying only after the one before it completed', async () => {
    for (const g of ['roll_a', 'roll_b']) for (let i = 0; i < 3; i++) await writeBatch(g);
    const s = await run({ targets: ['roll_a', 'roll_b'], policy: 'rolling', change: { group: { shards: 3 } } });
    assert.equal(s.state, 'completed', s.headline);
    const [a, b] = s.operations;
    assert.ok(b!.copy_started_at! >= a!.completed_at!, `${b!.copy_started_at} after ${a!.completed_at}`);
    for (const g of ['roll_a', 'roll_b']) assert.equal(await count(g), written.get(g)!.points);
  });

  it('rewrite - parallel: every target copies without waiting for the others; cutovers still in order', async () => {
    for (const g of ['par_a', 'par_b']) for (let i = 0; i < 3; i++) await writeBatch(g);
    // Deferred cutovers make it visible: both copies finish while neither has cut over.
    const spec = {
      targets: ['par_a', 'par_b'],
      policy: 'parallel',
      defer_cutover: true,
      change: { group: { segment_interval: '12h' } },
    };
    const { id } = await migration<MigrationStatus>('start', { spec });
    await waitFor(
      async () => (await status(id)).operations.every((o) => o.state === 'waiting_for_cutover' && o.rows_copied > 0),
      { timeoutMs: 60_000, what: 'both targets copied' },
    );
    await assert.rejects(migration('cutover', { id, target: 'par_b' }), /par_a's turn/);
    await migration('cutover', { id, target: 'par_a' });
    await waitFor(
      async () =>
        (await status(id)).operations[1]!.state === 'waiting_for_cutover' &&
        (await status(id)).operations[0]!.state === 'completed',
      { timeoutMs: 30_000, what: 'par_a cut over' },
    );
    await migration('cutover', { id, target: 'par_b' });
    const s = await waitFor(
      async () => {
        const st = await status(id);
        return st.state === 'completed' && st;
      },
      { timeoutMs: 30_000, what: 'par_b cut over' },
    );
    const [a, b] = s.operations;
    assert.ok(b!.cutover_started_at! >= a!.completed_at!, 'cutovers in order');
    for (const g of ['par_a', 'par_b']) {
      assert.equal((await layoutOf(g)).current.segment_interval, '12h');
      assert.equal(await count(g), written.get(g)!.points);
    }
  });

  it('rewrite - parallel, cutovers automatic: copies overlap, each target parks, cutovers in target order', async () => {
    const groups = ['par_c', 'par_d'];
    for (const g of groups) for (const day of [0, 1]) for (let i = 0; i < 2; i++) await writeBatch(g, day);
    // Slow segment copies make the overlap certain: each copy outlasts the other's claim.
    for (const g of groups) {
      for (const n of ['d1', 'd2']) {
        await c.injectFault(n, {
          actor: 'data_shard',
          phase: 'backfill',
          kind: 'delay',
          delay_ms: 300,
          group: g,
        } as never);
      }
    }
    const from = events.length;
    const s = await run({ targets: groups, policy: 'parallel', change: { group: { shards: 3 } } });
    for (const n of ['d1', 'd2']) await c.control(n, 'clear_fault');
    assert.equal(s.state, 'completed', `${s.headline}: ${JSON.stringify(s.operations.map((o) => o.error))}`);
    const [a, b] = s.operations;
    assert.ok(
      b!.copy_started_at! < a!.copy_completed_at! && a!.copy_started_at! < b!.copy_completed_at!,
      `the copies overlap: ${JSON.stringify(s.operations)}`,
    );
    assert.ok(b!.cutover_started_at! >= a!.completed_at!, `${b!.target} cut over after ${a!.target} completed`);
    const mine = events.slice(from).filter((e) => e.id === s.id);
    // Each cutover is announced once, when it begins.
    const cutovers = mine.filter((e) => e.kind === 'cutover_started').map((e) => e.target);
    assert.deepEqual(cutovers, groups, 'cutovers began in target order, each announced once');
    // Each parked after its copy (lease released; no deferral), and the cutover claim took it. Under
    // parallel the first may cut over while the second still copies, so no order across targets.
    const parked = new Set(mine.filter((e) => e.kind === 'parked').map((e) => e.target));
    assert.deepEqual([...parked].sort(), [...groups].sort(), 'each target parked');
    for (const g of groups) {
      assert.equal((await layoutOf(g)).current.shards, 3);
      await readsExactly(g, `${g} after the migration`);
    }
  });

  for (const policy of ON_FAILURE) {
    it(`rewrite - on_failure ${policy}: a copy failing on target 2 ${policy === 'halt' ? 'stops target 3 from starting' : policy === 'continue' ? 'lets target 3 complete; the verdict is failed' : 'holds target 3 until release'}`, async () => {
      const targets = [1, 2, 3].map((i) => `${policy}_${i}`);
      for (const g of targets) await writeBatch(g);
      const fault = { actor: 'data_shard', phase: 'backfill', kind: 'permanent', group: targets[1] };
      for (const n of ['d1', 'd2']) await c.injectFault(n, fault as never);
      try {
        const { id } = await migration<MigrationStatus>('start', {
          spec: { targets, policy: 'rolling', on_failure: policy, change: { group: { shards: 3 } } },
        });
        const settled = (st: MigrationStatus) =>
          policy === 'pause'
            ? st.state === 'paused'
            : ['completed', 'failed'].includes(st.state) && st.operations[2]!.state !== 'running';
        let s = await waitFor(
          async () => {
            const st = await status(id);
            return st.operations[1]!.state === 'failed' && settled(st) && st;
          },
          { timeoutMs: 60_000, what: `${targets[1]} failed and the migration settled` },
        );
        assert.match(s.operations[1]!.error!, new RegExp(`injected permanent fault`));
        assert.equal(s.operations[0]!.state, 'completed');
        if (policy === 'halt') {
          assert.equal(s.state, 'failed');
          assert.match(s.headline, new RegExp(targets[1]!));
          assert.equal(s.operations[2]!.state, 'pending', 'target 3 never started');
          assert.equal(s.operations[2]!.copy_started_at, null);
        } else if (policy === 'continue') {
          s = await waitFor(
            async () => {
              const st = await status(id);
              return st.operations[2]!.state === 'completed' && st;
            },
            { timeoutMs: 60_000, what: 'target 3 completed' },
          );
          assert.equal(s.state, 'failed', 'the verdict is still failed');
        } else {
          assert.equal(s.operations[2]!.state, 'pending', 'target 3 waits');
          await migration('release', { id });
          s = await waitFor(
            async () => {
              const st = await status(id);
              return st.operations[2]!.state === 'completed' && st;
            },
            { timeoutMs: 60_000, what: 'target 3 completed after release' },
          );
        }
        // The failed target kept its old layout and every point; the others read theirs from the new one.
        await waitFor(async () => (await layoutOf(targets[1]!)).next === undefined, {
          what: 'next of the failed target dropped',
        });
        for (const g of targets) assert.equal(await count(g), written.get(g)!.points, g);
      } finally {
        for (const n of ['d1', 'd2']) await c.control(n, 'clear_fault');
      }
    });
  }

  it('rewrite - placement: a group moves off a data node, which can then go without its shards', async () => {
    const g = 'moved';
    for (let i = 0; i < 4; i++) await writeBatch(g);
    const s = await run({ targets: [g], change: { group: { placement: { data_nodes: ['d2'] } } } });
    assert.equal(s.state, 'completed', s.headline);
    await waitFor(async () => (await layoutOf(g)).retiring === undefined, { what: 'the old placement dropped' });
    const d1 = join(c.lc.opts.dir, 'data', 'd1', g);
    await waitFor(() => !existsSync(d1) || readdirSync(d1).length === 0, { what: `nothing of ${g} left on d1` });
    c.lc.kill('d1', 'SIGKILL');
    await writeBatch(g);
    assert.equal(await count(g), written.get(g)!.points, 'every point, with d1 gone');
  });
});
