/**
 * The in-memory twin of a NATS KV bucket (transport/nats_kv.ts on nats-server 2.9), checked against
 * the real one by test/integration/bus_contract.test.ts:
 * - revisions are one gap-free sequence across the bucket's keys (the stream sequence);
 * - create succeeds on a missing or deleted key, else AlreadyExists; update and delete with an
 *   expected revision compare it with the key's last revision (a tombstone counts), else
 *   FailedPrecondition with details.expected_revision; update at revision 0 or less is Unavailable;
 * - a delete is a tombstone (operation DEL, empty value) with its own revision;
 * - `history` entries are kept per key; older ones leave the bucket (and watches skip them);
 * - a watch replays from a revision (never past the next one), then goes live, with `pending` the
 *   number of stored entries after the one delivered.
 * The store is the server's state, shared by every connection; MemoryKvBucket is one connection's view.
 */
import type { KvBucket, KvEntry, KvWatch } from '../../transport/bus.js';
import { errors, LockstepError } from '../../transport/errors.js';
import type { ConnectionHost } from './memory_faults.js';
import { invalidKeyReason, subjectMatches, subjectTokens } from './memory_subjects.js';

const EMPTY = new Uint8Array(0);

function copyEntry(e: KvEntry, pending?: number): KvEntry {
  const out: KvEntry = { key: e.key, value: e.value.slice(), revision: e.revision, operation: e.operation };
  if (pending !== undefined) out.pending = pending;
  return out;
}

function casFailure(key: string, expectedRevision: number): LockstepError {
  return errors.failedPrecondition(`${key} is no longer at revision ${expectedRevision}`, {
    expected_revision: expectedRevision,
  });
}

/** One bucket's stored entries: the server side, shared by every connection. */
export class MemoryKvStore {
  private seq = 0;
  /** Stored entries by revision; insertion order is revision order. */
  private readonly byRevision = new Map<number, KvEntry>();
  /** The revisions kept per key, oldest first (at most `history`). */
  private readonly perKey = new Map<string, number[]>();
  /** Live watches, told of every commit. */
  readonly watches = new Set<MemoryKvWatch>();

  constructor(
    readonly name: string,
    readonly history: number,
  ) {
    if (!(Number.isInteger(history) && history >= 1))
      throw new Error(`history must be an integer >= 1, got ${history}`);
  }

  /** The last revision ever written (0 when none). */
  get lastSeq(): number {
    return this.seq;
  }

  /** The latest stored entry of `key` (a tombstone counts). */
  last(key: string): KvEntry | undefined {
    const revs = this.perKey.get(key);
    return revs && revs.length > 0 ? this.byRevision.get(revs[revs.length - 1]!) : undefined;
  }

  create(key: string, value: Uint8Array): number {
    const last = this.last(key);
    if (last && last.operation === 'PUT') throw errors.alreadyExists(`${key} already exists`);
    return this.append(key, 'PUT', value);
  }

  update(key: string, value: Uint8Array, expectedRevision: number): number {
    if ((this.last(key)?.revision ?? 0) !== expectedRevision) throw casFailure(key, expectedRevision);
    return this.append(key, 'PUT', value);
  }

  delete(key: string, expectedRevision?: number): number {
    if (expectedRevision !== undefined && (this.last(key)?.revision ?? 0) !== expectedRevision) {
      throw casFailure(key, expectedRevision);
    }
    return this.append(key, 'DEL', EMPTY);
  }

  /** Live keys (last operation PUT) matching `pattern` tokens, sorted. */
  keys(pattern: readonly string[]): string[] {
    const out: string[] = [];
    for (const key of this.perKey.keys()) {
      if (this.last(key)?.operation === 'PUT' && subjectMatches(pattern, key.split('.'))) out.push(key);
    }
    return out.sort();
  }

  /** The stored entry at `revision`, if it is still kept. */
  entry(revision: number): KvEntry | undefined {
    return this.byRevision.get(revision);
  }

  /** Stored entries after `revision`: what a watch's `pending` reports. */
  pendingAfter(revision: number): number {
    let n = 0;
    for (const r of this.byRevision.keys()) if (r > revision) n++;
    return n;
  }

  /** The number of stored entries. */
  get messages(): number {
    return this.byRevision.size;
  }

  private append(key: string, operation: KvEntry['operation'], value: Uint8Array): number {
    const revision = ++this.seq;
    // A copy: the caller may reuse its buffer (msgpackr's arena does) after the call.
    this.byRevision.set(revision, { key, value: value.slice(), revision, operation });
    let revs = this.perKey.get(key);
    if (!revs) this.perKey.set(key, (revs = []));
    revs.push(revision);
    while (revs.length > this.history) this.byRevision.delete(revs.shift()!);
    for (const w of this.watches) w.committed(revision);
    return revision;
  }
}

/** A watch: replays stored entries from its start revision, then live ones, in revision order. */
export class MemoryKvWatch implements KvWatch {
  /** The next revision to deliver. */
  private cursor: number;
  /** Monotonic time of the last scheduled delivery: later ones never overtake it. */
  private lastDueMs = 0;
  private readonly queue: KvEntry[] = [];
  private waiting?: (r: IteratorResult<KvEntry>) => void;
  private stopped = false;

  constructor(
    private readonly store: MemoryKvStore,
    fromRevision: number,
    private readonly host: ConnectionHost,
  ) {
    // The server starts a consumer past the stream's end at the next message, not at the asked one.
    this.cursor = Math.max(1, Math.min(fromRevision, store.lastSeq + 1));
    store.watches.add(this);
    host.track(this);
    if (store.lastSeq >= this.cursor) this.committed(store.lastSeq);
  }

  /** The store committed `revision`: deliver up to it after this watch's delay. */
  committed(revision: number): void {
    const { sched, faults } = this.host;
    const due = Math.max(sched.now() + faults.kvDelayMs(), this.lastDueMs);
    this.lastDueMs = due;
    sched.later(due - sched.now(), () => this.deliverUpTo(revision));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.store.watches.delete(this);
    this.host.untrack(this);
    // As nats.js does: entries not yet taken are dropped, and the iteration ends.
    this.queue.length = 0;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<KvEntry> {
    return {
      next: () => this.next(),
      return: async () => {
        this.stop();
        return { value: undefined, done: true };
      },
    };
  }

  private next(): Promise<IteratorResult<KvEntry>> {
    const e = this.queue.shift();
    if (e) return Promise.resolve({ value: e, done: false });
    if (this.stopped) return Promise.resolve({ value: undefined, done: true });
    if (this.waiting) throw new Error('watch: next() called again before the previous call settled');
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** Delivers every entry still stored from the cursor to `revision`: superseded ones are gone, as on the server. */
  private deliverUpTo(revision: number): void {
    if (this.stopped) return;
    for (; this.cursor <= revision; this.cursor++) {
      const e = this.store.entry(this.cursor);
      if (!e) continue;
      const out = copyEntry(e, this.store.pendingAfter(e.revision));
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w({ value: out, done: false });
      else this.queue.push(out);
    }
  }
}

/** One connection's view of a bucket: every call is an operation with the network's KV faults. */
export class MemoryKvBucket implements KvBucket {
  readonly name: string;

  constructor(
    private readonly store: MemoryKvStore,
    private readonly host: ConnectionHost,
  ) {
    this.name = store.name;
  }

  get(key: string): Promise<KvEntry | null> {
    return this.op('get', false, () => {
      this.checkKey(key);
      const e = this.store.last(key);
      return e ? copyEntry(e) : null;
    });
  }

  create(key: string, value: Uint8Array): Promise<number> {
    return this.op('create', true, () => (this.checkKey(key), this.store.create(key, value)));
  }

  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    return this.op('update', true, () => {
      this.checkKey(key);
      // nats.js refuses this before sending; NatsKvBucket reports it as Unavailable.
      if (expectedRevision <= 0) throw new Error('version must be greater than 0');
      return this.store.update(key, value, expectedRevision);
    });
  }

  delete(key: string, expectedRevision?: number): Promise<number> {
    return this.op('delete', true, () => (this.checkKey(key), this.store.delete(key, expectedRevision)));
  }

  keys(prefix?: string): Promise<string[]> {
    return this.op('keys', false, () =>
      this.store.keys(subjectTokens(prefix ? `${prefix}.>` : '>', { wildcards: true })),
    );
  }

  lastRevision(): Promise<{ revision: number; messages: number }> {
    return this.op('status', false, () => ({ revision: this.store.lastSeq, messages: this.store.messages }));
  }

  watch(fromRevision: number): Promise<KvWatch> {
    return this.op('watch', false, () => new MemoryKvWatch(this.store, fromRevision, this.host));
  }

  /**
   * One round trip: a request leg, the operation applied atomically on the store, a reply leg.
   * Injected faults lose a write's request (not applied) or its reply (applied): both Unavailable.
   */
  private async op<T>(op: string, write: boolean, apply: () => T): Promise<T> {
    const { sched, faults } = this.host;
    if (this.host.isClosed()) throw this.unavailable(op, 'closed connection');
    await sched.sleep(faults.kvDelayMs());
    if (this.host.isClosed()) throw this.unavailable(op, 'closed connection');
    if (write && faults.kvFail()) throw this.unavailable(op, 'injected fault: request lost');
    let result: T | undefined;
    let failure: unknown;
    try {
      result = apply();
    } catch (err) {
      // As NatsKvBucket does: anything but a coded error (a bad key, say) becomes Unavailable.
      failure = err instanceof LockstepError ? err : this.unavailable(op, (err as Error).message);
    }
    const replyLost = write && failure === undefined && faults.kvAmbiguous();
    await sched.sleep(faults.kvDelayMs());
    if (replyLost) throw this.unavailable(op, 'injected fault: reply lost');
    if (failure !== undefined) throw failure;
    return result as T;
  }

  private checkKey(key: string): void {
    const why = invalidKeyReason(key);
    if (why) throw new Error(why);
  }

  private unavailable(op: string, why: string): LockstepError {
    return errors.unavailable(`kv ${op} on ${this.name} failed: ${why}`);
  }
}
