/**
 * A claimer's engine (DESIGN §9): it ticks on a wake event or every `tickMs`, takes at most one
 * action per tick (runtime/migration/claims.ts decides which) and ticks again at once after an
 * action that stored a change (up to MAX_TICKS_IN_A_ROW), and drives the operations it
 * claimed: copy with heartbeats, then park, wait for a deferred cutover, or cut over. What copying
 * and cutting over mean is injected (`DriveHooks`), so the same engine runs the real drives on a
 * claimer node and simulated ones in the seeded simulation test.
 *
 * A drive stops at once when a fenced write is refused (its lease was taken over, or a stop or
 * cancel dropped it): its hooks see their AbortSignal fire and nothing more is written.
 */
import type { Clock, TimerHandle } from '../../runtime/clock.js';
import {
  claimed,
  completed,
  copied,
  cutoverStarted,
  deferTimedOut,
  failedWith,
  heartbeat,
  nextAction,
  reconciled,
  retried,
  unclaimed,
  withApplied,
  isRetryableFailure,
  type MigrationView,
  type TickAction,
} from '../../runtime/migration/claims.js';
import { mayCutOver, mayStartCopy } from '../../runtime/migration/gates.js';
import { projectMigration } from '../../runtime/migration/projection.js';
import { LeaseLostError, migrationKey, MigrationStore, opKey, type StoredView } from '../../runtime/migration/store.js';
import {
  migrationEnded,
  type CopyPosition,
  type MigrationRecord,
  type OperationRecord,
} from '../../transport/migration_types.js';

/**
 * Ticks one wake may run back to back while each stores a change: enough to claim every target of
 * a parallel migration at once, bounded so a loop of changes cannot starve the timer.
 */
const MAX_TICKS_IN_A_ROW = 16;

/** A pending user intent with its key. */
type PendingIntent = MigrationView['intents'][number];

/** What copying and cutting over one operation do. */
export interface DriveHooks {
  /**
   * Copies the target's data, reporting progress (with the position to go on from after a crash or
   * a stop, stored with it); throws to fail, retried when the error says `retryable: true` or has a
   * transient code (Unavailable, DeadlineExceeded) and says nothing.
   */
  copy(
    op: OperationRecord,
    progress: (copied: number, total: number, position?: CopyPosition) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * Switches the target to its new layout and waits until the barrier certified it everywhere;
   * `record` durably notes the revisions it wrote (a fenced write), so a retry can tell its own
   * writes from anyone else's.
   */
  cutover(
    op: OperationRecord,
    signal: AbortSignal,
    record: (applied: Record<string, number>) => Promise<void>,
  ): Promise<void>;
}

/** What the engine tells its observer (logs, metrics, the simulation's checks). */
export type EngineEvent =
  | { kind: 'claimed'; op: OperationRecord; claim: 'copy' | 'cutover' }
  | { kind: 'wrote'; op: OperationRecord; token: string }
  | { kind: 'lease_lost'; key: string; token: string }
  /** The operations of the migrations a tick read (ended ones are read once more, then no longer). */
  | { kind: 'viewed'; ops: OperationRecord[] }
  /** A change made without a lease (a retry, an intent reconciled), with the migration after it. */
  | { kind: 'changed'; migration: MigrationRecord; ops: OperationRecord[]; detail: string };

/** Options of an engine. */
export interface EngineOptions {
  store: MigrationStore;
  clock: Clock;
  /** This claimer's name (the lease owner). */
  owner: string;
  hooks: DriveHooks;
  /** A fresh, unique lease token per claim. */
  newToken: () => string;
  leaseTimeoutMs: number;
  /** Heartbeat period of a holder; well under the lease timeout. */
  heartbeatMs: number;
  /** Tick period when no wake event comes. */
  tickMs: number;
  /** How long a deferred operation waits for its cutover intent before it is stopped. */
  deferTimeoutMs: number;
  /** Tells the other claimers to tick now (a park, a completion). */
  wakeOthers: () => void;
  onEvent?: (e: EngineEvent) => void;
}

/** One claimer's ticks and drives. */
export class ClaimerEngine {
  private stopped = false;
  private timer?: TimerHandle;
  private ticking = false;
  private again = false;
  /** Whether the current tick's action stored a change. */
  private changed = false;
  /** Waits of deferred holders between looks at their intents: a wake ends them early. */
  private readonly naps = new Set<AbortController>();
  private readonly abort = new AbortController();
  /** Drives in progress, by operation key. */
  readonly drives = new Map<string, Promise<void>>();
  /** Migrations seen ended (their state never changes again): ticks no longer read them. */
  private readonly ended = new Set<string>();

  constructor(private readonly o: EngineOptions) {}

  /** Starts ticking. */
  start(): void {
    this.schedule(0);
  }

  /** Stops ticking and aborts every drive (its lease simply goes stale: a crash looks the same). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.abort.abort();
    await Promise.allSettled([...this.drives.values()]);
  }

  /** A wake event: tick now (a tick in progress ticks once more when it ends). */
  wake(): void {
    if (this.stopped) return;
    for (const nap of this.naps) nap.abort(); // deferred holders look for their cutover request now
    if (this.ticking) this.again = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer?.cancel();
    this.timer = this.o.clock.setTimer(ms, () => void this.loop());
  }

  private async loop(): Promise<void> {
    if (this.stopped || this.ticking) return;
    this.ticking = true;
    try {
      // A tick takes one action; one that changed something may have made another possible (the
      // next target of a parallel migration), so tick again at once, a bounded number of times.
      let ticks = 0;
      do {
        this.again = false;
        this.changed = false;
        await this.tick().catch(() => undefined); // a store error ends this tick; the next retries
        ticks++;
      } while ((this.again || (this.changed && ticks < MAX_TICKS_IN_A_ROW)) && !this.stopped);
    } finally {
      this.ticking = false;
      if (!this.stopped) this.schedule(this.o.tickMs);
    }
  }

  /** One tick: reads every migration not ended, takes the one action the rules pick. */
  async tick(): Promise<TickAction<StoredView> | null> {
    const views = await this.o.store.views(this.ended);
    this.o.onEvent?.({ kind: 'viewed', ops: views.flatMap((v) => v.ops) });
    for (const v of views) if (migrationEnded(projectMigration(v.migration, v.ops))) this.ended.add(v.migration.id);
    const action = nextAction(views, this.o.clock.now(), this.o.leaseTimeoutMs);
    if (!action || this.stopped) return action;
    const view = action.view;
    if (action.kind === 'retry') {
      const next = retried(action.op);
      if (await this.o.store.replace(next, view.revisions.get(opKey(next.migration_id, next.index))!)) {
        this.changed = true;
        const ops = view.ops.map((o) => (o.index === next.index ? next : o));
        this.o.onEvent?.({ kind: 'changed', migration: view.migration, ops, detail: `retry ${next.target}` });
        this.o.wakeOthers();
      }
    } else if (action.kind === 'intent') {
      await this.reconcile(view, action.intent);
    } else {
      await this.claim(view, action.op, action.claim);
    }
    return action;
  }

  private async reconcile(view: StoredView, intent: PendingIntent): Promise<void> {
    let m = view.migration;
    let ops = view.ops;
    if (intent.kind === 'release') {
      if (!m.released) {
        m = { ...m, released: true };
        if (!(await this.o.store.replaceMigration(m, view.revisions.get(migrationKey(m.id))!))) return;
      }
    } else if (intent.kind === 'stop' || intent.kind === 'resume' || intent.kind === 'cancel') {
      ops = reconciled(intent.kind, view.ops);
      for (let i = 0; i < ops.length; i++) {
        if (ops[i] === view.ops[i]) continue;
        // A change under us (a claim, a heartbeat) leaves the intent for the next tick to reconcile.
        if (!(await this.o.store.replace(ops[i]!, view.revisions.get(opKey(m.id, i))!))) return;
      }
    }
    await this.o.store.consumeIntent(intent.key);
    this.changed = true;
    this.o.onEvent?.({ kind: 'changed', migration: m, ops, detail: `${intent.kind} ${m.id}` });
    this.o.wakeOthers();
  }

  private async claim(view: StoredView, op: OperationRecord, claim: 'copy' | 'cutover'): Promise<void> {
    const key = opKey(op.migration_id, op.index);
    if (this.drives.has(key)) return; // our own drive's lease looks stale to us: it is not
    const token = this.o.newToken();
    const next = claimed(op, claim, this.o.owner, token, this.o.clock.now());
    if (!(await this.o.store.replace(next, view.revisions.get(key)!))) return;
    this.changed = true;
    this.o.onEvent?.({ kind: 'claimed', op: next, claim });
    const drive = this.drive(view.migration, next, token).finally(() => this.drives.delete(key));
    this.drives.set(key, drive);
  }

  /** Drives a claimed operation to where this claimer lets go of it. */
  private async drive(migration: MigrationRecord, op: OperationRecord, token: string): Promise<void> {
    // Aborted when this engine stops, or when a fenced write finds the lease gone.
    const local = new AbortController();
    const both = AbortSignal.any([this.abort.signal, local.signal]);
    const write = async (change: (cur: OperationRecord) => OperationRecord): Promise<OperationRecord> => {
      try {
        const stored = await this.o.store.fenced(op.migration_id, op.index, token, change);
        this.o.onEvent?.({ kind: 'wrote', op: stored, token });
        return stored;
      } catch (err) {
        if (err instanceof LeaseLostError) {
          local.abort();
          this.o.onEvent?.({ kind: 'lease_lost', key: opKey(op.migration_id, op.index), token });
        }
        throw err;
      }
    };
    const beats = this.heartbeats(write, both);
    try {
      let cur = op;
      if (cur.state === 'running' && !(await this.gateStillHolds(cur))) {
        await write(unclaimed);
        return;
      }
      if (cur.state === 'running') {
        await this.o.hooks.copy(
          cur,
          async (copiedRows, total, position) => {
            cur = await write((c) =>
              heartbeat(c, this.o.clock.now(), { copied: copiedRows, total, ...(position ? { position } : {}) }),
            );
          },
          both,
        );
        cur = await write((c) => copied(migration, c, this.o.clock.now()));
        if (cur.state === 'waiting_for_cutover' && cur.lease === null) {
          this.o.wakeOthers(); // parked: the cutover claim takes it when its turn comes
          return;
        }
      }
      if (cur.state === 'waiting_for_cutover') cur = await this.awaitDeferredCutover(cur, write, both);
      if (cur.state === 'cutting_over') {
        await this.o.hooks.cutover(cur, both, async (applied) => {
          cur = await write((c) => withApplied(c, applied, this.o.clock.now()));
        });
        await write((c) => completed(c, this.o.clock.now()));
        this.o.wakeOthers();
      }
    } catch (err) {
      if (err instanceof LeaseLostError || both.aborted) return; // lost, stopped or cancelled: write nothing
      // A transient store error (a KV listing that timed out) is retried, not the end of the operation.
      const retryable = isRetryableFailure(err);
      const message = err instanceof Error ? err.message : String(err);
      await write((c) => failedWith(c, message, retryable, this.o.clock.now())).catch(() => undefined);
      this.o.wakeOthers();
    } finally {
      local.abort();
      await beats;
    }
  }

  /** A copy claim raced a failure or a stop of another target: the gate must still let it start. */
  private async gateStillHolds(op: OperationRecord): Promise<boolean> {
    if (op.copy_started_at !== null && op.rows_copied > 0) return true; // re-taken mid-copy: it had passed
    const v = await this.o.store.view(op.migration_id);
    if (!v) return false;
    const ops = v.ops.map((o) => (o.index === op.index ? { ...o, state: 'pending' as const } : o));
    return mayStartCopy(v.migration, ops, op.index);
  }

  /** Holds a deferred operation's lease until its `cutover` intent comes and it is its turn. */
  private async awaitDeferredCutover(
    op: OperationRecord,
    write: (change: (cur: OperationRecord) => OperationRecord) => Promise<OperationRecord>,
    signal: AbortSignal,
  ): Promise<OperationRecord> {
    const since = this.o.clock.now();
    // A cutover asked for before (its intent consumed) that failed and is retried, or was stopped
    // and resumed, needs no second `migrate cutover`.
    const asked = op.cutover_started_at !== null;
    for (;;) {
      signal.throwIfAborted();
      const v = await this.o.store.view(op.migration_id);
      const intent = v?.intents.find((i) => i.kind === 'cutover' && i.target === op.target);
      if (v && (intent || asked) && mayCutOver(v.migration, v.ops, op.index)) {
        const started = await write((c) => cutoverStarted(c, this.o.clock.now()));
        if (intent) await this.o.store.consumeIntent(intent.key);
        return started;
      }
      if (!asked && this.o.clock.now() - since >= this.o.deferTimeoutMs) {
        await write((c) => deferTimedOut(c, this.o.deferTimeoutMs));
        this.o.wakeOthers();
        return { ...op, state: 'stopped' };
      }
      const nap = new AbortController();
      this.naps.add(nap);
      await this.o.clock
        .sleep(Math.min(this.o.tickMs, this.o.heartbeatMs), AbortSignal.any([signal, nap.signal]))
        .catch(() => undefined)
        .finally(() => this.naps.delete(nap));
    }
  }

  /** Writes a heartbeat every `heartbeatMs` until `signal` fires or a write is refused. */
  private async heartbeats(
    write: (change: (cur: OperationRecord) => OperationRecord) => Promise<OperationRecord>,
    signal: AbortSignal,
  ): Promise<void> {
    while (!signal.aborted) {
      await this.o.clock.sleep(this.o.heartbeatMs, signal).catch(() => undefined);
      if (signal.aborted) return;
      try {
        await write((c) => heartbeat(c, this.o.clock.now()));
      } catch (err) {
        if (err instanceof LeaseLostError) return; // the drive aborts with it
        // A store error: the next beat retries, well before the lease goes stale.
      }
    }
  }
}
