/**
 * Instant migrations on a cluster (1 liaison, 2 data nodes, 2 claimers; real processes): a ttl
 * change and an added field and tag across three ordered groups. Each target's cutover is the
 * registry update certified by the barrier on every node, and the next target's cutover begins only
 * after it; the API refuses bad input with its code and writes nothing.
 */
import assert from 'node:assert/strict';
import { decode } from '../../transport/codec.js';
import { Code, LockstepError } from '../../transport/errors.js';
import type { MigrationEvent, MigrationStatus, MigrationSpec, PlanReply } from '../../transport/migration_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { TestCluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

const S = subjectsFor();
const TARGETS = ['metrics_eu', 'metrics_us', 'metrics_ap'];
const CHANGE = { group: { ttl: '14d' }, measures: { cpu: { fields: { errors: 'int' }, tags: { region: 'string' } } } };

describe('instant migrations (1 liaison, 2 data nodes, 2 claimers)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  const events: MigrationEvent[] = [];

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2, claimers: 2 });
    c.bus.subscribe('lockstep.events.migration.>', (m) => events.push(decode(m.data) as MigrationEvent));
    for (const g of [...TARGETS, 'logs_eu', 'other_a', 'other_b']) {
      await c.createGroup(g);
      await c.createMeasure(g, 'cpu');
    }
  });
  after(async () => c?.stop());

  const migration = <T>(verb: string, body: unknown) => c.api<T>(S.api.migration(verb as never), body, 15_000);
  const rejects = async (p: Promise<unknown>, code: string, ...parts: string[]) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof LockstepError, String(err));
      assert.equal(err.code, code, err.message);
      for (const part of parts) assert.ok(err.message.includes(part), `${err.message} names ${part}`);
      return true;
    });
  };
  const done = (id: string, states = ['completed']) =>
    waitFor(
      async () => {
        const s = await migration<MigrationStatus>('status', { id });
        return states.includes(s.state) && s;
      },
      { timeoutMs: 60_000, what: `migration ${id} to end` },
    );

  /** Waits until migration `id` is in `state`; a timeout shows the last status seen. */
  const reaches = async (id: string, state: string) => {
    let last: MigrationStatus | undefined;
    await waitFor(
      async () => {
        last = await migration<MigrationStatus>('status', { id });
        return last.state === state;
      },
      { timeoutMs: 30_000, what: `migration ${id} ${state}` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last status: ${JSON.stringify(last)}`);
    });
  };

  it('migrate - plan says instant with the reason, per target, and writes nothing', async () => {
    const p = await migration<PlanReply>('plan', { spec: { targets: TARGETS, policy: 'barrier', change: CHANGE } });
    assert.deepEqual(
      p.targets.map((t) => [t.target, t.kind]),
      TARGETS.map((t) => [t, 'instant']),
    );
    assert.match(p.targets[0]!.reason, /ttl 7d → 14d; cpu adds tag region:string; cpu adds field errors:int/);
    assert.equal((await migration<{ migrations: unknown[] }>('list', {})).migrations.length, 0);
  });

  it('migrate - barrier policy: cutovers in target order, each certified on every node before the next', async () => {
    const spec: MigrationSpec = { targets: TARGETS, policy: 'barrier', change: CHANGE };
    const started = await migration<MigrationStatus>('start', { spec });
    assert.match(started.id, /^m/);
    const s = await done(started.id);
    assert.deepEqual(
      s.operations.map((o) => [o.target, o.state, o.kind]),
      TARGETS.map((t) => [t, 'completed', 'instant']),
    );
    // Strictly in order: a target's cutover begins only after the previous one completed.
    for (let i = 1; i < TARGETS.length; i++) {
      const prev = s.operations[i - 1]!;
      const cur = s.operations[i]!;
      assert.ok(cur.cutover_started_at! >= prev.completed_at!, `${cur.target} cut over after ${prev.target} completed`);
    }
    // The claimers' events tell the same order (an event follows its record, so wait for the last).
    const completions = await waitFor(
      () => {
        const seen = events.filter((e) => e.id === started.id && e.kind === 'completed').map((e) => e.target!);
        return seen.length === TARGETS.length && seen;
      },
      { what: 'every completed event' },
    );
    assert.deepEqual(completions, TARGETS);
    // Every node has every target's new schema (the barrier certified it; asking again answers at once).
    for (const g of TARGETS) {
      const m = await c.api<{ resource: { fields: { name: string }[] }; mod_revision: number }>(
        S.api.schema('measure', 'get'),
        { group: g, name: 'cpu' },
      );
      assert.deepEqual(
        m.resource.fields.map((f) => f.name),
        ['value', 'errors'],
      );
      assert.equal(await c.measureApplied(g, 'cpu', m.mod_revision), true);
      const grp = await c.api<{ resource: { ttl: string } }>(S.api.schema('group', 'get'), { group: g });
      assert.equal(grp.resource.ttl, '14d');
    }
    assert.equal(s.headline, `completed — ${TARGETS.join(', ')}`);
  });

  it('migrate - deferred cutover holds its lease until asked, in turn; out of turn is refused naming whose turn', async () => {
    const spec = {
      targets: ['other_a', 'other_b'],
      policy: 'parallel',
      defer_cutover: true,
      change: { group: { ttl: '30d' } },
    };
    const { id } = await migration<MigrationStatus>('start', { spec });
    const waiting = await waitFor(
      async () => {
        const s = await migration<MigrationStatus>('status', { id });
        return s.operations[0]!.state === 'waiting_for_cutover' && s.operations[0]!.lease_owner !== null && s;
      },
      { timeoutMs: 30_000, what: 'the first target to wait for its cutover' },
    );
    assert.equal(waiting.headline, 'ready for cutover — next: other_a');
    // Another migration touching a group under this one is refused, naming it.
    await rejects(
      migration('start', { spec: { targets: ['other_b'], change: { group: { ttl: '9d' } } } }),
      Code.FailedPrecondition,
      'other_b',
      id,
    );
    await rejects(migration('cutover', { id, target: 'other_b' }), Code.FailedPrecondition, "other_a's turn");
    await rejects(migration('release', { id }), Code.FailedPrecondition, 'not paused');
    await migration('cutover', { id, target: 'other_a' });
    await waitFor(
      async () => {
        const s = await migration<MigrationStatus>('status', { id });
        return s.operations[0]!.state === 'completed' && s.operations[1]!.state === 'waiting_for_cutover' && s;
      },
      { timeoutMs: 30_000, what: 'other_a completed and other_b waiting' },
    );
    await migration('cutover', { id });
    await done(id);
    await rejects(migration('resume', { id }), Code.FailedPrecondition, 'completed');
    await rejects(migration('cutover', { id }), Code.FailedPrecondition, 'not waiting for a cutover (completed)');
  });

  it('migrate - a target changed since the plan is never overwritten: it fails, and halt stops the later targets', async () => {
    const targets = ['halt_a', 'halt_b', 'halt_c'];
    for (const g of targets) await c.createGroup(g);
    const { id } = await migration<MigrationStatus>('start', {
      spec: { targets, policy: 'barrier', on_failure: 'halt', defer_cutover: true, change: { group: { ttl: '21d' } } },
    });
    // Someone changes halt_b by a plain update after the migration planned it.
    await c.api(S.api.schema('group', 'update'), { resource: { ...(await groupOf('halt_b')), ttl: '3d' } });
    await reaches(id, 'waiting_for_cutover');
    await migration('cutover', { id, target: 'halt_a' });
    await waitFor(
      async () => {
        const ops = (await migration<MigrationStatus>('status', { id })).operations;
        return ops[0]!.state === 'completed' && ops[1]!.state === 'waiting_for_cutover';
      },
      { timeoutMs: 30_000, what: 'halt_a completed' },
    );
    await migration('cutover', { id, target: 'halt_b' });
    const s = await done(id, ['failed']);
    assert.deepEqual(
      s.operations.map((o) => o.state),
      ['completed', 'failed', 'waiting_for_cutover'],
    );
    assert.match(s.operations[1]!.error!, /group:halt_b changed since the migration planned it/);
    assert.match(s.headline, /^halted — halt_b failed: /);
    assert.equal((await groupOf('halt_b')).ttl, '3d', 'the later change stands');
    assert.equal((await groupOf('halt_c')).ttl, '7d', 'halt_c never cut over');
  });

  it('migrate - a cancel is published on the migration events once a claimer applied it', async () => {
    await c.createGroup('cancel_a');
    const { id } = await migration<MigrationStatus>('start', {
      spec: { targets: ['cancel_a'], defer_cutover: true, change: { group: { ttl: '2d' } } },
    });
    await reaches(id, 'waiting_for_cutover');
    await migration('cancel', { id });
    const e = await waitFor(() => events.find((x) => x.id === id && x.status.state === 'cancelled'), {
      timeoutMs: 30_000,
      what: 'an event saying the migration is cancelled',
    });
    assert.equal(e.status.operations[0]!.state, 'cancelled');
    assert.equal((await groupOf('cancel_a')).ttl, '7d', 'nothing was cut over');
  });

  const groupOf = async (g: string) =>
    (await c.api<{ resource: Record<string, unknown> }>(S.api.schema('group', 'get'), { group: g })).resource;

  it('migrate - bad specs are refused with their code and nothing is recorded', async () => {
    const before = (await migration<{ migrations: unknown[] }>('list', {})).migrations.length;
    const spec = (over: Record<string, unknown>) => ({
      spec: { targets: ['logs_eu'], change: { group: { ttl: '9d' } }, ...over },
    });
    await rejects(migration('start', spec({ targets: ['nosuch'] })), Code.NotFound, 'nosuch');
    await rejects(
      migration('start', spec({ targets: ['logs_eu', 'logs_eu'] })),
      Code.InvalidArgument,
      'repeats logs_eu',
    );
    await rejects(migration('start', spec({ change: {} })), Code.InvalidArgument, 'empty');
    await rejects(migration('start', spec({ change: { group: { ttl: '7d' } } })), Code.InvalidArgument, 'nothing');
    await rejects(
      migration('start', spec({ change: { group: { catalog: 'stream' } } })),
      Code.InvalidArgument,
      'catalog',
    );
    await rejects(migration('start', spec({ policy: 'fastest' })), Code.InvalidArgument, 'policy');
    await rejects(
      migration('start', spec({ change: { measures: { nosuch: { fields: { x: 'int' } } } } })),
      Code.NotFound,
      'logs_eu/nosuch',
    );
    await rejects(
      migration('start', spec({ change: { measures: { cpu: { tags: { host: 'int' } } } } })),
      Code.Unimplemented,
      'logs_eu needs its rows rewritten (cpu tag host string → int)',
    );
    await rejects(migration('status', { id: 'mnosuch' }), Code.NotFound, 'mnosuch');
    assert.equal((await migration<{ migrations: unknown[] }>('list', {})).migrations.length, before);
  });
});
