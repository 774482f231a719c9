/**
 * The message bus every actor talks through. Only `nats_bus.ts` and `nats_kv.ts` implement it with
 * the NATS client; everything else depends on these interfaces.
 */

/** Message headers as a plain record (names are case-sensitive as sent). */
export type Headers = Record<string, string>;

/** A header by name, whatever its case on the wire (NATS keeps header names as sent). */
export function headerOf(headers: Headers, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const k of Object.keys(headers)) if (k.toLowerCase() === lower) return headers[k];
  return undefined;
}

/** A received message. */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  /** The reply subject of a request, if any. */
  readonly reply?: string;
  /** Replies to a request; a no-op when the message has no reply subject. */
  respond(data: Uint8Array, headers?: Headers): void;
}

/** Options of a request. */
export interface RequestOptions {
  timeoutMs: number;
  headers?: Headers;
}

/** Options of a subscription. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

/** A live subscription. */
export interface Subscription {
  unsubscribe(): void;
}

/** One entry of a key-value bucket, or a tombstone (`operation` DEL or PURGE). */
export interface KvEntry {
  key: string;
  value: Uint8Array;
  revision: number;
  operation: 'PUT' | 'DEL' | 'PURGE';
  /** On a watch: messages still pending after this one when it was delivered (0 = caught up). */
  pending?: number;
}

/** A KV bucket whose revisions are one gap-free sequence across its keys. */
export interface KvBucket {
  readonly name: string;
  /** The latest entry for a key (a tombstone counts), or null. */
  get(key: string): Promise<KvEntry | null>;
  /** Creates a key; `AlreadyExists` when it is present. Returns the new revision. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Compare-and-set update; `FailedPrecondition` when the key's revision is not `expectedRevision`. */
  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number>;
  /** Writes a tombstone (optionally only at `expectedRevision`); returns the tombstone's revision. */
  delete(key: string, expectedRevision?: number): Promise<number>;
  /** Keys of live entries, optionally under a dotted prefix such as `measure.g1`. */
  keys(prefix?: string): Promise<string[]>;
  /** The bucket's last revision (0 when nothing was ever written) and its number of stored messages. */
  lastRevision(): Promise<{ revision: number; messages: number }>;
  /**
   * Every entry from `fromRevision` on, in revision order, then live changes (tombstones included)
   * until `stop()`.
   */
  watch(fromRevision: number): Promise<KvWatch>;
}

/** An ordered watch on a bucket. */
export interface KvWatch extends AsyncIterable<KvEntry> {
  stop(): void;
}

/** Options when opening a bucket. */
export interface KvOpenOptions {
  /** Revisions kept per key (default 1). */
  history?: number;
}

/** A JetStream stream the bus can create or update. */
export interface StreamSpec {
  name: string;
  subjects: string[];
  /** Messages older than this are removed (0 = kept until limits). */
  maxAgeMs: number;
  /** Window in which a repeated message id is dropped as a duplicate. */
  duplicateWindowMs: number;
}

/** The acknowledgement of a stream publish. */
export interface StreamAck {
  stream: string;
  seq: number;
  /** True when the server dropped it as a duplicate of an earlier message id. */
  duplicate: boolean;
}

/** A durable consumer on a stream: where a reader resumes after a restart. */
export interface DurableConsumerSpec {
  stream: string;
  /** Consumer name; one per reader (e.g. per owner of a shard). */
  durable: string;
  filterSubject: string;
  /** Unacknowledged messages are redelivered after this long. */
  ackWaitMs: number;
  /** Most messages delivered and not yet acknowledged. */
  maxAckPending: number;
  /**
   * Start reading at this stream sequence, whatever the durable's own state: the reader's storage
   * is the truth of what it applied. Messages a dead reader received but never acknowledged would
   * otherwise come back only after their ack wait — behind newer ones, which a cumulative ack
   * would then acknowledge unapplied.
   */
  startSequence?: number;
}

/** One message of a durable consumer. */
export interface StreamMessage {
  subject: string;
  data: Uint8Array;
  /** The stream sequence (the WAL sequence). */
  seq: number;
  redelivered: boolean;
}

/** What the server knows of a durable consumer's progress. */
export interface DurableConsumerInfo {
  /** Messages matching the filter not yet delivered to the reader. */
  pending: number;
  /** The stream sequence of the last message delivered (to the client, applied or not). */
  deliveredSeq: number;
}

/** A running durable consumer: messages in stream order, acknowledged cumulatively. */
export interface DurableConsumer extends AsyncIterable<StreamMessage> {
  /** Acknowledges every delivered message up to and including stream sequence `seq`. */
  ackUpTo(seq: number): void;
  /** Asks the server for the consumer's progress (one API round trip, no message bodies). */
  info(): Promise<DurableConsumerInfo>;
  /** Stops delivery; unacknowledged messages are redelivered to the next reader. */
  stop(): Promise<void>;
}

/** The bus: core pub/sub and request/reply plus the JetStream pieces we need. */
export interface Bus {
  /** A human-readable name for logs (the connection name). */
  readonly name: string;
  /**
   * Publishes a message; with `reply`, its receiver answers there (a request passed on: the answer
   * goes straight to whoever asked).
   */
  publish(subject: string, data: Uint8Array, headers?: Headers, reply?: string): void;
  /**
   * Sends a request and waits for the first reply. Throws `Unavailable` when nobody listens and
   * `DeadlineExceeded` on timeout.
   */
  request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage>;
  subscribe(subject: string, handler: (msg: BusMessage) => void, opts?: SubscribeOptions): Subscription;
  /** Creates the stream, or updates its subjects and limits to `spec`. */
  ensureStream(spec: StreamSpec): Promise<void>;
  /**
   * Publishes to a stream and waits for its acknowledgement (the message is then stored).
   * `msgId` de-duplicates within the stream's window. `Unavailable` when no stream captures it.
   */
  streamPublish(subject: string, data: Uint8Array, opts?: { msgId?: string; timeoutMs?: number }): Promise<StreamAck>;
  /** Creates (or reuses) a durable consumer with cumulative acks and starts reading from it. */
  consume(spec: DurableConsumerSpec): Promise<DurableConsumer>;
  /** The stream sequence of the last message stored on `subject` in `stream`; 0 when it has none. */
  lastSequence(stream: string, subject: string): Promise<number>;
  /** Opens (creating when missing) a KV bucket. */
  kv(bucket: string, opts?: KvOpenOptions): Promise<KvBucket>;
  /** The largest message body the server accepts, in bytes, less a margin for the headers it carries. */
  maxPayload(): number;
  /** Round trip to the server: everything published before is processed by it. */
  flush(): Promise<void>;
  /** Drains subscriptions and closes the connection. */
  close(): Promise<void>;
  /** Resolves when the connection is closed for good (by `close` or by a fatal error). */
  closed(): Promise<Error | void>;
}

/**
 * What trimming the WAL needs (actors/data_shard/wal_trim.ts): the NATS bus has it, the in-memory
 * twin of the tests does not (a node on it keeps its WAL whole).
 */
export interface WalRetention {
  /**
   * The durable's acknowledgement floor (every message of its filter up to this stream sequence is
   * acknowledged); null when no such durable exists.
   */
  ackFloor(stream: string, durable: string): Promise<number | null>;
  /** Removes the messages on `subject` with a stream sequence below `seq`; resolves with how many went. */
  purgeBelow(stream: string, subject: string, seq: number): Promise<number>;
  /** The bytes the stream holds now. */
  streamBytes(stream: string): Promise<number>;
  /**
   * The first message on `subject` at stream sequence `seq` or later (a backup reads a shard's WAL
   * tail with it); null when there is none.
   */
  nextOnSubject(stream: string, subject: string, seq: number): Promise<{ seq: number; data: Uint8Array } | null>;
}

/** True when `bus` can trim the WAL. */
export function hasWalRetention(bus: Bus): bus is Bus & WalRetention {
  const b = bus as Partial<WalRetention>;
  return (
    typeof b.ackFloor === 'function' &&
    typeof b.purgeBelow === 'function' &&
    typeof b.streamBytes === 'function' &&
    typeof b.nextOnSubject === 'function'
  );
}
