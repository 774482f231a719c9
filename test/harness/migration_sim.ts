/**
 * A seeded simulation of the migration claimers (DESIGN §9): three claimer engines on the in-memory
 * bus and KV twin, a fake clock, wake events that are delayed, lost and duplicated, claimers that
 * crash and come back, wall-clock jumps past the lease timeout, copies that fail (retryably or for
 * good), and a user who defers, releases, stops and resumes. Every record the bucket ever stored is
 * watched, in revision order, and checked against the invariants:
 *
 *   I1 a claim replaces no live lease: the previous holder's heartbeat is older than the timeout;
 *   I2 a target copies only when the gates let it (policy, failures, stops): a claim that raced a
 *      failure elsewhere is undone by its next write, before any row is copied;
 *   I3 a target cuts over only after its copy completed, only when every earlier target settled,
 *      and never while another target of the migration cuts over (barrier: once all copied);
 *   I4 a completed operation never changes again;
 *   I5 completions come in target order;
 *   I6 liveness: with a claimer alive, every migration ends (completed unless a permanent failure
 *      or a cancel was injected) within the time budget;
 *   I7 the migration's state is never stored: the record has none, so what anyone reads is the
 *      projection of its operations;
 *   I8 a target parked for its cutover holds no lease unless the migration defers its cutovers
 *      (parking frees the claimer; a deferred target's holder waits for `migrate cutover`).
 *
 * The watcher opens the bucket first, keeping every revision, so its watch delivers every record
 * (a watch skips what was overwritten before delivery; the claimers' writes are quick).
 *
 * The same seed replays the same run exactly (`digest` compares two runs).
 */
import { createHash } from 'node:crypto';
import { ClaimerEngine, type DriveHooks } from '../../actors/cutover_claimer/engine.js';
import { leaseLive, newOperation } from '../../runtime/migration/claims.js';
import { mayStartCopy, settled } from '../../runtime/migration/gates.js';
import { projectMigration } from '../../runtime/migration/projection.js';
import { MigrationStore, opKey } from '../../runtime/migration/store.js';
import { decode } from '../../transport/codec.js';
import type {
  MigrationRecord,
  MigrationState,
  OnFailure,
  OperationRecord,
  Policy,
} from '../../transport/migration_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { FakeClock } from './fake_clock.js';
import { MemoryNetwork, type MemoryBus } from './memory_bus.js';
import { Rng } from './random.js';

/** The watcher's bucket history: every revision of a run (the twin has no cap). */
const KEEP_EVERY_REVISION = 1_000_000;
/** The simulated claimers' lease timeout. */
export const LEASE_TIMEOUT_MS = 30_000;
const HEARTBEAT_MS = 5_000;
const TICK_MS = 3_000;
const DEFER_TIMEOUT_MS = 600_000;
/** Simulated time after which a run that has not ended breaks I6. */
const BUDGET_MS = 6 * 3_600_000;
const CLAIMERS = 3;
const S = subjectsFor('sim');

/** What one run did, for assertions and for replay checks. */
export interface SimResult {
  seed: number;
  ok: boolean;
  /** The first broken invariant, with enough context to debug it. */
  violation?: string;
  final: MigrationState;
  expected: 'completed' | 'ended';
  simulatedMs: number;
  claims: number;
  leaseLosses: number;
  crashes: number;
  jumps: number;
  /** A hash of every stored record in order: two runs of one seed must agree. */
  digest: string;
}

interface Scenario {
  targets: number;
  policy: Policy;
  onFailure: OnFailure;
  defer: boolean;
  rowsPerTarget: number[];
  /** Targets whose copy fails for good once (index), if any. */
  permanentFailure: number | null;
  retryableFailureRate: number;
  stopAndResume: boolean;
  cancel: boolean;
}

function scenario(rng: Rng): Scenario {
  const targets = rng.int(1, 4);
  return {
    targets,
    policy: rng.pick(['rolling', 'barrier', 'parallel'] as const),
    onFailure: rng.pick(['halt', 'continue', 'pause'] as const),
    defer: rng.chance(0.2),
    rowsPerTarget: Array.from({ length: targets }, () => rng.int(0, 20_000)),
    permanentFailure: rng.chance(0.15) ? rng.int(0, targets - 1) : null,
    retryableFailureRate: rng.pick([0, 0, 0.02, 0.05]),
    stopAndResume: rng.chance(0.15),
    cancel: rng.chance(0.05),
  };
}

/** A broken invariant, named by its number. */
export class Violation extends Error {}

/** Replays the bucket's history and checks I1–I5 and I7 at every record. */
export class HistoryChecker {
  readonly ops = new Map<string, OperationRecord>();
  migration?: MigrationRecord;
  readonly completions: number[] = [];
  readonly hash = createHash('sha256');
  claims = 0;
  /** Operations claimed for a copy the gates did not allow at that point of the history. */
  private readonly tentative = new Set<string>();

  constructor(private readonly targets: number) {}

  private current(): OperationRecord[] {
    const m = this.migration!;
    return Array.from({ length: this.targets }, (_, i) => this.ops.get(opKey(m.id, i))!).filter(Boolean);
  }

  /** The last revision applied. */
  lastRevision = 0;

  apply(key: string, value: Uint8Array, revision = this.lastRevision + 1): void {
    this.lastRevision = revision;
    this.hash.update(key).update(value);
    if (key.startsWith('migration.')) {
      this.migration = decode(value) as MigrationRecord;
      if ('state' in this.migration) throw new Violation(`I7 the migration record stores a state: ${key}`);
      return;
    }
    if (!key.startsWith('op.')) return;
    const next = decode(value) as OperationRecord;
    const prev = this.ops.get(key);
    const fail = (what: string) => {
      throw new Violation(`${what}: ${key} ${JSON.stringify(prev)} -> ${JSON.stringify(next)}`);
    };
    if (prev?.state === 'completed' && JSON.stringify(prev) !== JSON.stringify(next))
      fail('I4 a completed operation changed');
    if (next.lease && next.lease.token !== prev?.lease?.token) {
      this.claims++;
      // I1: the claim's time is its new heartbeat; the old lease must have been stale by then.
      if (prev?.lease && leaseLive(prev, next.lease.heartbeat_at, LEASE_TIMEOUT_MS))
        fail('I1 a claim replaced a live lease');
    }
    if (this.migration && next.state === 'waiting_for_cutover' && next.lease && !this.migration.defer_cutover) {
      fail('I8 a parked target holds a lease');
    }
    if (this.migration && prev) {
      const m = this.migration;
      const before = this.current();
      // A claim works from a snapshot, so it may race a failure or a stop of another target (KV has
      // no multi-key transaction); its holder re-checks the gates on a fresh read before copying
      // anything, so such a claim must be undone by the very next write, with nothing copied.
      if (this.tentative.has(key)) {
        this.tentative.delete(key);
        if (
          !(next.state === 'pending' || next.state === 'stopped' || next.state === 'cancelled') ||
          next.rows_copied > 0
        ) {
          fail('I2 a copy claimed against the gates went on');
        }
      }
      if (prev.state === 'pending' && next.state === 'running' && !mayStartCopy(m, before, next.index)) {
        this.tentative.add(key);
      }
      if (next.state === 'cutting_over' && prev.state !== 'cutting_over') {
        if (next.copy_completed_at === null) fail('I3 a cutover before the copy completed');
        for (const o of before) {
          if (o.index < next.index && !settled(m, o)) fail(`I3 a cutover before target ${o.index} settled`);
          if (o.index !== next.index && o.state === 'cutting_over') fail('I3 two cutovers at once');
          if (m.policy === 'barrier' && o.index !== next.index && (o.state === 'pending' || o.state === 'running')) {
            fail('I3 barrier cutover while another target copies');
          }
        }
      }
      if (next.state === 'completed' && prev.state !== 'completed') {
        if (this.completions.some((i) => i > next.index)) fail('I5 completions out of target order');
        this.completions.push(next.index);
      }
    }
    this.ops.set(key, next);
  }

  state(): MigrationState {
    return projectMigration(this.migration!, this.current());
  }
}

/** Awaits `p` while moving the fake clock: with KV latency on, every KV call waits on the clock. */
function pass<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  return clock.until(p, 'a simulated call', 1);
}

/** Runs one seeded simulation to its end (or its budget). */
export async function simulate(seed: number): Promise<SimResult> {
  const rng = new Rng(seed);
  const sc = scenario(rng);
  const clock = new FakeClock();
  const network = new MemoryNetwork({
    seed,
    clock,
    faults: { delay: { minMs: 0, maxMs: 200 }, dropRate: 0.2, duplicateRate: 0.2, kvDelay: { minMs: 0, maxMs: 20 } },
  });
  const checker = new HistoryChecker(sc.targets);
  let violation: string | undefined;
  const watcherBus = network.connect('watcher');
  const bucket = await pass(clock, watcherBus.kv(S.opsBucket, { history: KEEP_EVERY_REVISION }));
  const watch = await pass(clock, bucket.watch(0));
  void (async () => {
    try {
      for await (const e of watch) {
        if (e.operation === 'PUT') checker.apply(e.key, e.value, e.revision);
        else checker.lastRevision = e.revision;
      }
    } catch (err) {
      violation ??= err instanceof Violation ? err.message : `checker: ${(err as Error).message}`;
    }
  })();

  // The user: creates the migration, then answers what it waits for.
  const userBus = network.connect('user');
  const user = await pass(clock, MigrationStore.open(userBus, S.opsBucket, 'user'));
  const m: MigrationRecord = {
    id: `m${seed}`,
    targets: Array.from({ length: sc.targets }, (_, i) => `g${i}`),
    policy: sc.policy,
    on_failure: sc.onFailure,
    defer_cutover: sc.defer,
    created_at: clock.now(),
    released: false,
    change: { group: { shards: 4 } },
  };
  await pass(
    clock,
    user.create(
      m,
      m.targets.map((_, i) => newOperation(m, i)),
    ),
  );

  let tokenSeq = 0;
  let crashes = 0;
  let jumps = 0;
  let leaseLosses = 0;
  const failedOnce = new Set<number>();
  const hooks = (): DriveHooks => ({
    async copy(op, progress, signal) {
      const total = sc.rowsPerTarget[op.index]!;
      let done = op.rows_copied; // resumable: a re-taken copy continues from the recorded position
      while (done < total) {
        await clock.sleep(rng.int(50, 2_000), signal);
        if (sc.permanentFailure === op.index && !failedOnce.has(op.index) && rng.chance(0.3)) {
          failedOnce.add(op.index);
          throw new Error(`injected permanent copy failure of ${op.target}`);
        }
        if (rng.chance(sc.retryableFailureRate))
          throw Object.assign(new Error('injected copy failure'), { retryable: true });
        done = Math.min(total, done + rng.int(500, 5_000));
        await progress(done, total);
      }
    },
    async cutover(_op, signal) {
      await clock.sleep(rng.int(20, 1_500), signal);
      if (rng.chance(sc.retryableFailureRate))
        throw Object.assign(new Error('injected cutover failure'), { retryable: true });
    },
  });

  type Claimer = { engine: ClaimerEngine; bus: MemoryBus; down: boolean };
  const startClaimer = async (i: number, life: number): Promise<Claimer> => {
    const bus = network.connect(`c${i}.${life}`);
    const store = await pass(clock, MigrationStore.open(bus, S.opsBucket, `c${i}_${life}`));
    const engine = new ClaimerEngine({
      store,
      clock,
      owner: `c${i}`,
      hooks: hooks(),
      newToken: () => `t${++tokenSeq}`,
      leaseTimeoutMs: LEASE_TIMEOUT_MS,
      heartbeatMs: HEARTBEAT_MS,
      tickMs: TICK_MS,
      deferTimeoutMs: DEFER_TIMEOUT_MS,
      wakeOthers: () => bus.publish(S.events.migrationWake, new Uint8Array(0)),
      onEvent: (e) => {
        if (e.kind === 'lease_lost') leaseLosses++;
      },
    });
    bus.subscribe(S.events.migrationWake, () => engine.wake());
    engine.start();
    return { engine, bus, down: false };
  };
  const claimers: Claimer[] = [];
  const lives = Array.from({ length: CLAIMERS }, () => 0);
  for (let i = 0; i < CLAIMERS; i++) claimers.push(await startClaimer(i, 0));

  let stopSent = false;
  let resumeSent = false;
  let cancelSent = false;
  const cutoverSent = new Map<number, number>();
  const ended = (s: MigrationState) => s === 'completed' || s === 'failed' || s === 'cancelled';
  const intent = async (kind: 'stop' | 'resume' | 'cancel' | 'release' | 'cutover', target?: string) => {
    await pass(
      clock,
      user.addIntent({ migration_id: m.id, kind, created_at: clock.now(), ...(target ? { target } : {}) }),
    );
    userBus.publish(S.events.migrationWake, new Uint8Array(0));
  };

  while (clock.now() - m.created_at < BUDGET_MS && !violation) {
    await clock.advance(rng.int(10, 2_000));
    const state = checker.migration ? checker.state() : 'pending';
    if (ended(state) && checker.ops.size === sc.targets) break;
    // Claimers crash (at most two down at once, so one is always alive) and come back.
    const i = rng.int(0, CLAIMERS - 1);
    const c = claimers[i]!;
    if (!c.down && claimers.filter((x) => x.down).length < CLAIMERS - 1 && rng.chance(0.002)) {
      c.down = true;
      crashes++;
      void c.engine.stop();
      void c.bus.close();
    } else if (c.down && rng.chance(0.05)) {
      claimers[i] = await startClaimer(i, ++lives[i]!);
    }
    // The wall clock jumps ahead past the lease timeout: live holders must lose nothing but their lease.
    if (rng.chance(0.002)) {
      jumps++;
      clock.setNow(clock.now() + rng.int(1, 2) * LEASE_TIMEOUT_MS);
    }
    // The user's part.
    const ops = [...checker.ops.values()].sort((a, b) => a.index - b.index);
    const turn = ops.find((o) => !settled(checker.migration ?? m, o));
    // The operator asks once for the cutover of the target whose turn it is: a cutover that failed
    // and is retried, or was stopped and resumed, goes on without a second request.
    const asked = turn !== undefined && cutoverSent.has(turn.index);
    if (sc.defer && turn?.state === 'waiting_for_cutover' && !asked && rng.chance(0.1)) {
      cutoverSent.set(turn.index, clock.now());
      await intent('cutover', turn.target);
    }
    if (state === 'paused' && rng.chance(0.05)) await intent('release');
    if (sc.stopAndResume && !stopSent && state === 'running' && rng.chance(0.01)) {
      stopSent = true;
      await intent('stop');
    }
    if (stopSent && !resumeSent && state === 'stopped' && rng.chance(0.05)) {
      resumeSent = true;
      await intent('resume');
    }
    if (sc.cancel && !cancelSent && state !== 'pending' && rng.chance(0.01)) {
      cancelSent = true;
      await intent('cancel');
    }
    // A deferred target stopped by its inaction timeout is resumed by the user.
    if (state === 'stopped' && (!sc.stopAndResume || resumeSent) && rng.chance(0.05)) await intent('resume');
  }

  for (const c of claimers) if (!c.down) await pass(clock, c.engine.stop());
  // Drain the watch: the checker must have seen every record the bucket holds.
  const { revision: last } = await pass(clock, bucket.lastRevision());
  for (let i = 0; checker.lastRevision < last; i++) {
    if (i > 10_000) throw new Error(`the watch stopped at revision ${checker.lastRevision} of ${last}`);
    await clock.advance(10);
  }
  watch.stop();
  const final = checker.migration ? checker.state() : 'pending';
  const expected = sc.permanentFailure !== null || sc.cancel ? 'ended' : 'completed';
  if (!violation) {
    if (!ended(final)) {
      const ops = [...checker.ops.values()].map(
        (o) => `${o.index}:${o.state}:${o.lease?.owner ?? '-'}@${o.lease?.heartbeat_at ?? ''}`,
      );
      const pending = (await pass(clock, user.view(m.id)))?.intents.map((x) => `${x.kind}:${x.target ?? ''}`);
      violation = `I6 the migration did not end within ${BUDGET_MS} ms: ${final} [${ops.join(' ')}] now ${clock.now()} released ${checker.migration?.released} intents ${pending} asked ${JSON.stringify([...cutoverSent])}`;
    } else if (expected === 'completed' && final !== 'completed')
      violation = `I6 the migration ended ${final}, not completed`;
  }
  return {
    seed,
    ok: violation === undefined,
    ...(violation ? { violation: `${violation} (scenario ${JSON.stringify(sc)})` } : {}),
    final,
    expected,
    simulatedMs: clock.now() - m.created_at,
    claims: checker.claims,
    leaseLosses,
    crashes,
    jumps,
    digest: checker.hash.digest('hex'),
  };
}
