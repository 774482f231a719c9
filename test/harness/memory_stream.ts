/**
 * The in-memory twin of the JetStream pieces of the bus (the WAL stream): streams capturing
 * subjects with a max age and a msg-id duplicate window, and durable consumers with cumulative
 * acks, at most `maxAckPending` unacknowledged, redelivery after the ack wait (on the clock) and a
 * position kept across readers. Reliable and without injected faults: JetStream's own redelivery
 * is what is modelled. One reader per durable at a time (a new one replaces the old).
 */
import type {
  DurableConsumer,
  DurableConsumerInfo,
  DurableConsumerSpec,
  StreamAck,
  StreamMessage,
  StreamSpec,
} from '../../transport/bus.js';
import { errors } from '../../transport/errors.js';
import type { ConnectionHost, Scheduler } from './memory_faults.js';
import { subjectMatches, subjectTokens } from './memory_subjects.js';

interface StoredMsg {
  seq: number;
  subject: string;
  tokens: string[];
  data: Uint8Array;
  /** Wall time it was stored, for max age. */
  atMs: number;
}

interface Stream {
  spec: StreamSpec;
  patterns: string[][];
  seq: number;
  /** Stored messages by sequence; insertion order is sequence order. */
  msgs: Map<number, StoredMsg>;
  /** Message ids seen within the duplicate window, with the sequence they got. */
  ids: Map<string, { seq: number; atMs: number }>;
}

/** A durable consumer's server-side state: it outlives its readers. */
interface Durable {
  stream: string;
  filter: string[];
  ackWaitMs: number;
  maxAckPending: number;
  /** The next stream sequence to deliver for the first time. */
  nextSeq: number;
  /** Delivered and not acknowledged: sequence → monotonic time its ack wait ends. */
  unacked: Map<number, number>;
  reader?: Reader;
}

/** Every stream and durable of one network. */
export class MemoryStreams {
  private readonly streams = new Map<string, Stream>();
  private readonly durables = new Map<string, Durable>();

  constructor(private readonly sched: Scheduler) {}

  ensure(spec: StreamSpec): void {
    const patterns = spec.subjects.map((s) => subjectTokens(s, { wildcards: true }));
    const s = this.streams.get(spec.name);
    if (s) Object.assign(s, { spec: { ...spec }, patterns });
    else this.streams.set(spec.name, { spec: { ...spec }, patterns, seq: 0, msgs: new Map(), ids: new Map() });
  }

  publish(subject: string, data: Uint8Array, msgId?: string): StreamAck {
    const tokens = subjectTokens(subject, { wildcards: false });
    const s = [...this.streams.values()].find((x) => x.patterns.some((p) => subjectMatches(p, tokens)));
    if (!s) throw errors.unavailable(`stream publish on ${subject} failed: no stream captures the subject`);
    this.expire(s);
    const now = this.sched.clock.now();
    const seen = msgId === undefined ? undefined : s.ids.get(msgId);
    if (seen && now - seen.atMs < s.spec.duplicateWindowMs)
      return { stream: s.spec.name, seq: seen.seq, duplicate: true };
    const seq = ++s.seq;
    s.msgs.set(seq, { seq, subject, tokens, data: data.slice(), atMs: now });
    if (msgId !== undefined) s.ids.set(msgId, { seq, atMs: now });
    for (const d of this.durables.values()) if (d.stream === s.spec.name) d.reader?.fill();
    return { stream: s.spec.name, seq, duplicate: false };
  }

  lastSequence(stream: string, subject: string): number {
    const s = this.stream(stream, `cannot read the last sequence of ${subject} in ${stream}`);
    this.expire(s);
    let last = 0;
    for (const m of s.msgs.values()) if (m.subject === subject) last = m.seq;
    return last;
  }

  consume(host: ConnectionHost, spec: DurableConsumerSpec): DurableConsumer {
    const s = this.stream(spec.stream, `cannot consume ${spec.stream}/${spec.durable}`);
    const key = `${spec.stream}/${spec.durable}`;
    let d = this.durables.get(key);
    // As NatsBus.consume: a start sequence recreates the durable; otherwise only its limits change.
    if (d && spec.startSequence !== undefined) {
      d.reader?.stop();
      d = undefined;
    }
    if (d) {
      d.ackWaitMs = spec.ackWaitMs;
      d.maxAckPending = spec.maxAckPending;
      d.reader?.stop();
    } else {
      d = {
        stream: s.spec.name,
        filter: subjectTokens(spec.filterSubject, { wildcards: true }),
        ackWaitMs: spec.ackWaitMs,
        maxAckPending: spec.maxAckPending,
        nextSeq: Math.max(1, spec.startSequence ?? 1),
        unacked: new Map(),
      };
      this.durables.set(key, d);
    }
    const reader = new Reader(this, s, d, host);
    d.reader = reader;
    reader.fill();
    return reader;
  }

  /** Removes messages older than the stream's max age (wall time, as the server does). */
  expire(s: Stream): void {
    if (s.spec.maxAgeMs <= 0) return;
    const cutoff = this.sched.clock.now() - s.spec.maxAgeMs;
    for (const m of s.msgs.values()) {
      if (m.atMs >= cutoff) break;
      s.msgs.delete(m.seq);
    }
    for (const [id, v] of s.ids) if (v.atMs < cutoff) s.ids.delete(id);
  }

  /** The scheduler, for readers' ack-wait timers. */
  get scheduler(): Scheduler {
    return this.sched;
  }

  private stream(name: string, what: string): Stream {
    const s = this.streams.get(name);
    if (!s) throw errors.unavailable(`${what}: stream not found`);
    return s;
  }
}

/** One reader of a durable: messages in stream order, redeliveries first once their ack wait ended. */
class Reader implements DurableConsumer {
  private readonly queue: StreamMessage[] = [];
  private waiting?: (r: IteratorResult<StreamMessage>) => void;
  private stopped = false;

  constructor(
    private readonly streams: MemoryStreams,
    private readonly stream: Stream,
    private readonly durable: Durable,
    private readonly host: ConnectionHost,
  ) {
    host.track(this);
  }

  /** Delivers what the durable may deliver now: redeliveries due, then new messages, up to maxAckPending. */
  fill(): void {
    if (this.stopped) return;
    const d = this.durable;
    this.streams.expire(this.stream);
    const now = this.streams.scheduler.now();
    for (const [seq, due] of [...d.unacked]) {
      if (due > now) continue;
      const m = this.stream.msgs.get(seq);
      if (!m) {
        d.unacked.delete(seq); // aged out of the stream: nothing left to redeliver
        continue;
      }
      this.deliver(m, true);
    }
    // Bounded by the stream's last sequence: each pass moves nextSeq forward.
    while (d.unacked.size < d.maxAckPending && d.nextSeq <= this.stream.seq) {
      const m = this.stream.msgs.get(d.nextSeq++);
      if (m && subjectMatches(d.filter, m.tokens)) this.deliver(m, false);
    }
  }

  ackUpTo(seq: number): void {
    for (const s of [...this.durable.unacked.keys()]) if (s <= seq) this.durable.unacked.delete(s);
    this.fill();
  }

  async info(): Promise<DurableConsumerInfo> {
    if (this.host.isClosed()) throw errors.unavailable('cannot read consumer: closed connection');
    const d = this.durable;
    this.streams.expire(this.stream);
    let pending = 0;
    for (const m of this.stream.msgs.values()) if (m.seq >= d.nextSeq && subjectMatches(d.filter, m.tokens)) pending++;
    return { pending, deliveredSeq: d.nextSeq - 1 };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.durable.reader === this) this.durable.reader = undefined;
    this.host.untrack(this);
    // Messages buffered but not taken stay unacknowledged: the next reader gets them after the ack wait.
    this.queue.length = 0;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamMessage> {
    return {
      next: () => {
        const m = this.queue.shift();
        if (m) return Promise.resolve({ value: m, done: false });
        if (this.stopped) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
      return: async () => {
        await this.stop();
        return { value: undefined, done: true };
      },
    };
  }

  private deliver(m: StoredMsg, redelivered: boolean): void {
    const d = this.durable;
    const sched = this.streams.scheduler;
    d.unacked.set(m.seq, sched.now() + d.ackWaitMs);
    // The ack wait runs on the server: when it ends, whoever reads the durable then gets it again.
    sched.clock.setTimer(d.ackWaitMs, () => d.reader?.fill());
    const out: StreamMessage = { subject: m.subject, data: m.data.slice(), seq: m.seq, redelivered };
    const w = this.waiting;
    this.waiting = undefined;
    if (w) w({ value: out, done: false });
    else this.queue.push(out);
  }
}
