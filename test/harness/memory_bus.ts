/**
 * The in-memory twin of the bus (transport/bus.ts), for simulation tests: a MemoryNetwork is the
 * server (subscriptions, KV buckets, streams, the seeded faults and the clock) and each
 * `connect()` gives one connection, a MemoryBus, as NatsBus.connect does. Checked against NatsBus
 * on a real nats-server by test/integration/bus_contract.test.ts.
 *
 * Semantics kept from core NATS: wildcards `*` and `>`; one member of each queue group per message
 * (a seeded choice); a connection gets its own publishes; messages from one connection to one
 * subscription arrive in order (unless `faults.reorder`); a request nobody serves fails at once
 * with NoRespondersError, one without a reply within its timeout with DeadlineExceeded; the first
 * reply wins. Every delivery is independent under the faults: a delay, a drop, a duplicate.
 * A handler that throws lets the error escape (to the clock's `advance`, or as an uncaught
 * exception): in a simulation that is a bug to see, not to hide.
 */
import type { Clock } from '../../runtime/clock.js';
import type {
  Bus,
  BusMessage,
  DurableConsumer,
  DurableConsumerSpec,
  Headers,
  KvBucket,
  KvOpenOptions,
  RequestOptions,
  StreamAck,
  StreamSpec,
  SubscribeOptions,
  Subscription,
} from '../../transport/bus.js';
import { errors, NoRespondersError } from '../../transport/errors.js';
import { FakeClock } from './fake_clock.js';
import { Faults, Scheduler, type ConnectionHost, type FaultOptions } from './memory_faults.js';
import { MemoryKvBucket, MemoryKvStore } from './memory_kv.js';
import { MemoryStreams } from './memory_stream.js';
import { invalidBucketReason, subjectMatches, subjectTokens } from './memory_subjects.js';

/** nats-server's default largest message, in bytes. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Options of a MemoryNetwork. */
export interface MemoryNetworkOptions {
  /** Seeds every random choice (faults, queue group members): the same seed replays the same run. */
  seed: number;
  /** Drives delays, timeouts and redeliveries; a new FakeClock when absent. */
  clock?: Clock;
  faults?: FaultOptions;
  /** The server's largest message (default 1 MiB); `maxPayload()` keeps NatsBus's 4 KiB margin. */
  maxPayloadBytes?: number;
}

/** What the network did so far: tests read it to see that faults happened. */
export interface NetworkStats {
  /** Messages routed (publishes, requests and replies). */
  routed: number;
  /** Deliveries handed to a subscription's handler (duplicates included). */
  delivered: number;
  dropped: number;
  duplicated: number;
  noResponders: number;
}

interface Sub {
  conn: MemoryBus;
  tokens: string[];
  /** Queue groups are per subscription subject and queue name, as on the server. */
  group?: string;
  handler: (msg: BusMessage) => void;
  closed: boolean;
}

interface Delivery {
  sub: Sub;
  msg: BusMessage;
  done: boolean;
}

/** Deliveries in flight from one connection to one subscription, kept in order. */
interface Lane {
  items: Delivery[];
  lastDueMs: number;
}

/** The twin's server: subscriptions, buckets, streams, faults and clock, shared by its connections. */
export class MemoryNetwork {
  readonly clock: Clock;
  readonly sched: Scheduler;
  readonly faults: Faults;
  readonly streams: MemoryStreams;
  readonly maxPayloadBytes: number;
  readonly stats: NetworkStats = { routed: 0, delivered: 0, dropped: 0, duplicated: 0, noResponders: 0 };
  /** Insertion order is subscription order: routing visits subscriptions deterministically. */
  private readonly subs = new Set<Sub>();
  private readonly buckets = new Map<string, MemoryKvStore>();
  private readonly lanes = new Map<Sub, Map<MemoryBus, Lane>>();
  private connections = 0;

  constructor(opts: MemoryNetworkOptions) {
    if (!Number.isInteger(opts.seed)) throw new Error(`options.seed must be an integer, got ${opts.seed}`);
    this.clock = opts.clock ?? new FakeClock();
    this.sched = new Scheduler(this.clock);
    this.faults = new Faults(opts.seed, opts.faults);
    this.streams = new MemoryStreams(this.sched);
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  }

  /** A new connection, named as NatsBus's connection name. */
  connect(name = `conn-${this.connections + 1}`): MemoryBus {
    return new MemoryBus(this, name, ++this.connections);
  }

  /** The bucket `name` (the server's), created with `history` when missing; options of an existing one stay. */
  bucket(name: string, history: number): MemoryKvStore {
    let b = this.buckets.get(name);
    if (!b) this.buckets.set(name, (b = new MemoryKvStore(name, history)));
    return b;
  }

  addSub(conn: MemoryBus, subject: string, handler: (m: BusMessage) => void, queue?: string): Sub {
    const tokens = subjectTokens(subject, { wildcards: true });
    const sub: Sub = { conn, tokens, handler, closed: false, group: queue ? `${subject}\u0000${queue}` : undefined };
    this.subs.add(sub);
    return sub;
  }

  removeSub(sub: Sub): void {
    sub.closed = true;
    this.subs.delete(sub);
    this.lanes.delete(sub);
  }

  /** Routes one message to every plain subscription and one member per queue group; returns how many. */
  route(from: MemoryBus, subject: string, data: Uint8Array, headers: Headers, reply?: string): number {
    const tokens = subjectTokens(subject, { wildcards: false });
    this.stats.routed++;
    const targets: Sub[] = [];
    const groups = new Map<string, Sub[]>();
    for (const s of this.subs) {
      if (!subjectMatches(s.tokens, tokens)) continue;
      if (!s.group) targets.push(s);
      else groups.set(s.group, [...(groups.get(s.group) ?? []), s]);
    }
    for (const members of groups.values()) targets.push(this.faults.random().pick(members));
    // A copy: the sender may reuse its buffer (msgpackr's arena does) once publish returns.
    const body = data.slice();
    for (const sub of targets) this.send(from, sub, subject, body, headers, reply);
    return targets.length;
  }

  private send(from: MemoryBus, sub: Sub, subject: string, body: Uint8Array, headers: Headers, reply?: string): void {
    if (this.faults.drop()) {
      this.stats.dropped++;
      return;
    }
    const copies = this.faults.duplicate() ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      // Each subscriber gets its own buffer and headers, as from the wire.
      const msg = this.message(sub, subject, body.slice(), { ...headers }, reply);
      this.enqueue(from, { sub, msg, done: false });
    }
  }

  private message(sub: Sub, subject: string, data: Uint8Array, headers: Headers, reply?: string): BusMessage {
    return {
      subject,
      data,
      headers,
      reply,
      respond: (replyData: Uint8Array, replyHeaders?: Headers) => {
        // As NatsBus: a no-op without a reply subject or once the responder's connection closed.
        if (!reply || sub.conn.isClosed()) return;
        this.route(sub.conn, reply, replyData, replyHeaders ?? {});
      },
    };
  }

  private enqueue(from: MemoryBus, d: Delivery): void {
    const delay = this.faults.deliveryDelayMs();
    if (this.faults.options.reorder) {
      this.sched.later(delay, () => this.fire(d));
      return;
    }
    let bySender = this.lanes.get(d.sub);
    if (!bySender) this.lanes.set(d.sub, (bySender = new Map()));
    let lane = bySender.get(from);
    if (!lane) bySender.set(from, (lane = { items: [], lastDueMs: 0 }));
    const now = this.sched.now();
    const due = Math.max(now + delay, lane.lastDueMs);
    lane.lastDueMs = due;
    lane.items.push(d);
    const l = lane;
    // Whatever fires first for this lane delivers everything queued before it: order is kept even
    // when a zero-delay microtask would run before an earlier timer due at the same instant.
    this.sched.later(due - now, () => {
      if (d.done) return; // an earlier-armed callback of this lane already delivered it
      for (let head = l.items.shift(); head; head = l.items.shift()) {
        this.fire(head);
        if (head === d) break;
      }
    });
  }

  private fire(d: Delivery): void {
    if (d.done) return;
    d.done = true;
    if (d.sub.closed) return;
    this.stats.delivered++;
    d.sub.handler(d.msg);
  }
}

interface PendingRequest {
  subject: string;
  fail(err: Error): void;
}

/** One connection to a MemoryNetwork: a Bus. */
export class MemoryBus implements Bus, ConnectionHost {
  readonly sched: Scheduler;
  readonly faults: Faults;
  private closedFlag = false;
  private readonly subs = new Set<Sub>();
  private readonly requests = new Set<PendingRequest>();
  private readonly closables = new Set<{ stop(): void }>();
  private readonly kvs = new Map<string, KvBucket>();
  private inboxes = 0;
  private markClosed!: () => void;
  private readonly closedPromise = new Promise<void>((resolve) => (this.markClosed = resolve));

  constructor(
    readonly network: MemoryNetwork,
    readonly name: string,
    readonly id: number,
  ) {
    this.sched = network.sched;
    this.faults = network.faults;
  }

  isClosed(): boolean {
    return this.closedFlag;
  }

  track(c: { stop(): void }): void {
    this.closables.add(c);
  }

  untrack(c: { stop(): void }): void {
    this.closables.delete(c);
  }

  publish(subject: string, data: Uint8Array, headers?: Headers, reply?: string): void {
    // nats.js throws ClosedConnectionError here; NatsBus lets it through uncoded.
    if (this.closedFlag) throw new Error('closed connection');
    this.network.route(this, subject, data, headers ?? {}, reply);
  }

  request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage> {
    if (this.closedFlag) return Promise.reject(errors.unavailable(`request on ${subject} failed: closed connection`));
    return new Promise<BusMessage>((resolve, reject) => {
      let settled = false;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        this.network.removeSub(inbox);
        this.requests.delete(pending);
        settle();
      };
      const replyTo = `_INBOX.${this.id}.${++this.inboxes}`;
      // The first reply wins; later ones (duplicates, other responders) find the inbox gone.
      const inbox = this.network.addSub(this, replyTo, (m) => finish(() => resolve(m)));
      const timeoutMs = Math.max(1, Math.floor(opts.timeoutMs));
      const timer = this.sched.clock.setTimer(timeoutMs, () =>
        finish(() => reject(errors.deadlineExceeded(`no reply on ${subject} within ${opts.timeoutMs} ms`))),
      );
      const pending: PendingRequest = { subject, fail: (err) => finish(() => reject(err)) };
      this.requests.add(pending);
      if (this.network.route(this, subject, data, opts.headers ?? {}, replyTo) === 0) {
        // The server answers at once that nobody listens; the answer still travels back.
        this.network.stats.noResponders++;
        this.sched.later(this.faults.deliveryDelayMs(), () => pending.fail(new NoRespondersError(subject)));
      }
    });
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, opts: SubscribeOptions = {}): Subscription {
    if (this.closedFlag) throw new Error('closed connection');
    const sub = this.network.addSub(this, subject, handler, opts.queue);
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        this.subs.delete(sub);
        this.network.removeSub(sub);
      },
    };
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    this.assertOpen(`cannot create or update stream ${spec.name}`);
    this.network.streams.ensure(spec);
  }

  async streamPublish(subject: string, data: Uint8Array, opts: { msgId?: string } = {}): Promise<StreamAck> {
    this.assertOpen(`stream publish on ${subject} failed`);
    return this.network.streams.publish(subject, data, opts.msgId);
  }

  async consume(spec: DurableConsumerSpec): Promise<DurableConsumer> {
    this.assertOpen(`cannot consume ${spec.stream}/${spec.durable}`);
    return this.network.streams.consume(this, spec);
  }

  async lastSequence(stream: string, subject: string): Promise<number> {
    this.assertOpen(`cannot read the last sequence of ${subject} in ${stream}`);
    return this.network.streams.lastSequence(stream, subject);
  }

  async kv(bucket: string, opts: KvOpenOptions = {}): Promise<KvBucket> {
    this.assertOpen(`kv open on ${bucket} failed`);
    const why = invalidBucketReason(bucket);
    if (why) throw errors.unavailable(`kv open on ${bucket} failed: ${why}`);
    let b = this.kvs.get(bucket);
    if (!b) this.kvs.set(bucket, (b = new MemoryKvBucket(this.network.bucket(bucket, opts.history ?? 1), this)));
    return b;
  }

  maxPayload(): number {
    return this.network.maxPayloadBytes - 4096;
  }

  async flush(): Promise<void> {
    // Routing happens inside publish, so the "server" has processed everything already.
    this.assertOpen('flush failed');
  }

  /** Closes at once: subscriptions end (messages in flight to them are dropped), pending requests fail. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const sub of this.subs) this.network.removeSub(sub);
    this.subs.clear();
    for (const r of [...this.requests]) r.fail(errors.unavailable(`request on ${r.subject} failed: closed connection`));
    for (const c of [...this.closables]) c.stop();
    this.markClosed();
  }

  closed(): Promise<void> {
    return this.closedPromise;
  }

  private assertOpen(what: string): void {
    if (this.closedFlag) throw errors.unavailable(`${what}: closed connection`);
  }
}
