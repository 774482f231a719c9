/**
 * The NATS implementation of the bus: with `nats_kv.ts` and `nats_connect.ts`, the only files that
 * import the NATS client.
 */
import {
  AuthorizationError,
  credsAuthenticator,
  UserAuthenticationExpiredError,
  headers as natsHeaders,
  NoRespondersError as NatsNoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type {
  Bus,
  BusMessage,
  DurableConsumer,
  DurableConsumerInfo,
  DurableConsumerSpec,
  StreamMessage,
  Headers,
  KvBucket,
  KvOpenOptions,
  RequestOptions,
  StreamAck,
  StreamSpec,
  SubscribeOptions,
  Subscription,
  WalRetention,
} from './bus.js';
import { Code, errors, LockstepError, NoRespondersError } from './errors.js';
import {
  DEFAULT_INBOX_PREFIX,
  inboxPrefixFor,
  readCredsFile,
  redactUrl,
  splitCredentials,
  type NatsAuth,
} from './nats_auth.js';
import { connectNats } from './nats_connect.js';
import { openNatsKv } from './nats_kv.js';

/** True when NATS refused the connection's credentials (the error or its cause). */
function isAuthFailure(err: unknown): boolean {
  const auth = (e: unknown) => e instanceof AuthorizationError || e instanceof UserAuthenticationExpiredError;
  return auth(err) || auth((err as { cause?: unknown } | null)?.cause);
}

/** True when NATS refused a publish or subscribe for the user's permissions (the error or its cause). */
function isPermissionViolation(err: unknown): boolean {
  const pv = (e: unknown) => e instanceof PermissionViolationError;
  return pv(err) || pv((err as { cause?: unknown } | null)?.cause);
}

/** Options to connect a bus. */
export interface NatsBusOptions {
  url: string;
  /** Connection name shown by the server (node and actor). */
  name: string;
  /** How long to wait for the first connection (ms). */
  connectTimeoutMs?: number;
  /** User, password and inbox prefix; a user or password here wins over one in `url`. */
  auth?: NatsAuth;
  /**
   * Replicas of the streams and KV buckets this connection creates or finds (the WAL, the
   * registry, the migrations' records); default `defaultStreamReplicas` of the servers it knows.
   */
  streamReplicas?: number;
}

/** 3 replicas when the connection knows at least three servers, else 1. */
export function defaultStreamReplicas(servers: number): number {
  return servers >= 3 ? 3 : 1;
}

function toRecord(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (!h) return out;
  for (const [k, v] of h) {
    if (v.length > 0) out[k] = v[0]!;
  }
  return out;
}

function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const keys = Object.keys(h);
  if (keys.length === 0) return undefined;
  const out = natsHeaders();
  for (const k of keys) out.set(k, h[k]!);
  return out;
}

function wrap(m: Msg): BusMessage {
  return {
    subject: m.subject,
    data: m.data,
    headers: toRecord(m.headers),
    reply: m.reply || undefined,
    respond(data: Uint8Array, headers?: Headers) {
      if (!m.reply) return;
      try {
        m.respond(data, { headers: toNatsHeaders(headers) });
      } catch {
        // The connection is closing; the requester will see a timeout.
      }
    },
  };
}

/** A bus on one NATS connection. */
export class NatsBus implements Bus, WalRetention {
  readonly name: string;
  /** Set by `watchConnection` between a disconnect and the reconnect. */
  private down = false;
  private readonly kvs = new Map<string, Promise<KvBucket>>();
  private js?: JetStreamClient;
  /** The manager for polled reads (one API check per connection, not per read). */
  private jsm?: Promise<JetStreamManager>;

  private constructor(
    private readonly nc: NatsConnection,
    name: string,
    /** Replicas of the streams and buckets this bus creates (NatsBusOptions.streamReplicas). */
    readonly streamReplicas: number,
  ) {
    this.name = name;
  }

  /** Connects once; throws `Unavailable` naming the URL when the server cannot be reached. */
  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const fromUrl = splitCredentials(opts.url);
    const user = opts.auth?.user ?? fromUrl.user;
    const pass = opts.auth?.pass ?? fromUrl.pass;
    const credsFile = opts.auth?.credsFile;
    const login =
      credsFile !== undefined
        ? {
            authenticator: credsAuthenticator(
              new TextEncoder().encode(readCredsFile(credsFile, 'NATS credentials file')),
            ),
          }
        : { user, pass };
    try {
      const nc = await connectNats({
        servers: fromUrl.servers,
        ...login,
        inboxPrefix: opts.auth?.inboxPrefix ?? (credsFile !== undefined ? DEFAULT_INBOX_PREFIX : inboxPrefixFor(user)),
        name: opts.name,
        timeout: opts.connectTimeoutMs ?? 2000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        // nats.js otherwise builds an Error on every request to keep its async stack; on the
        // write path that was ~4% of the liaison's CPU and a steady source of garbage.
        noAsyncTraces: true,
      });
      // The servers it knows: those it was given and those the server says are in its cluster.
      const known = Math.max(fromUrl.servers.length, new Set(nc.info?.connect_urls ?? []).size);
      return new NatsBus(nc, opts.name, opts.streamReplicas ?? defaultStreamReplicas(known));
    } catch (err) {
      if (isAuthFailure(err)) {
        // Wrong credentials never fix themselves: marked permanent so start-up fails at once.
        throw Object.assign(
          new LockstepError(
            Code.PermissionDenied,
            `NATS at ${redactUrl(opts.url)} refused the credentials${credsFile !== undefined ? ` in ${credsFile}` : user === undefined ? '' : ` of user ${user}`}: ${(err as Error).message}`,
            { cause: err },
          ),
          { permanent: true },
        );
      }
      throw errors.unavailable(`cannot reach NATS at ${redactUrl(opts.url)}: ${(err as Error).message}`, err);
    }
  }

  /** The JetStream client (used by the KV and, later, the WAL). */
  jetstream(): JetStreamClient {
    this.js ??= jetstream(this.nc);
    return this.js;
  }

  publish(subject: string, data: Uint8Array, headers?: Headers, reply?: string): void {
    this.nc.publish(subject, data, { headers: toNatsHeaders(headers), ...(reply ? { reply } : {}) });
  }

  async request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage> {
    try {
      const m = await this.nc.request(subject, data, {
        timeout: Math.max(1, Math.floor(opts.timeoutMs)),
        headers: toNatsHeaders(opts.headers),
      });
      return wrap(m);
    } catch (err) {
      if (err instanceof NatsNoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
        throw new NoRespondersError(subject, err);
      }
      if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
        throw errors.deadlineExceeded(`no reply on ${subject} within ${opts.timeoutMs} ms`, err);
      }
      if (isPermissionViolation(err)) {
        throw new LockstepError(
          Code.PermissionDenied,
          `NATS does not allow this connection's user to send on ${subject}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      throw errors.unavailable(`request on ${subject} failed: ${(err as Error).message}`, err);
    }
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, opts: SubscribeOptions = {}): Subscription {
    const sub = this.nc.subscribe(subject, {
      queue: opts.queue,
      callback: (err, m) => {
        if (err) return;
        handler(wrap(m));
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    const ms2ns = (ms: number) => Math.round(ms * 1_000_000);
    const cfg = {
      subjects: spec.subjects,
      max_age: ms2ns(spec.maxAgeMs),
      duplicate_window: ms2ns(spec.duplicateWindowMs),
      num_replicas: this.streamReplicas,
    };
    try {
      const jsm = await jetstreamManager(this.nc);
      try {
        const info = await jsm.streams.info(spec.name);
        // What `update` would keep from the existing stream must already be what durability needs.
        const c = info.config as {
          storage?: string;
          retention?: string;
          no_ack?: boolean;
          max_msgs?: number;
          max_bytes?: number;
        };
        const problems = [
          c.storage !== 'file' && `storage ${c.storage} (want file)`,
          c.retention !== 'limits' && `retention ${c.retention} (want limits)`,
          c.no_ack === true && 'no_ack set',
          (c.max_msgs ?? -1) !== -1 && `max_msgs ${c.max_msgs} (want unlimited)`,
          (c.max_bytes ?? -1) !== -1 && `max_bytes ${c.max_bytes} (want unlimited)`,
        ].filter(Boolean);
        if (problems.length > 0) {
          throw Object.assign(
            new LockstepError(
              Code.FailedPrecondition,
              `stream ${spec.name} exists with settings that lose data: ${problems.join(', ')}; fix or remove it`,
            ),
            { permanent: true },
          );
        }
        const same =
          info.config.subjects?.join(',') === spec.subjects.join(',') &&
          info.config.max_age === cfg.max_age &&
          info.config.duplicate_window === cfg.duplicate_window &&
          info.config.num_replicas === cfg.num_replicas;
        if (!same) await jsm.streams.update(spec.name, cfg);
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
        await jsm.streams.add({ name: spec.name, storage: 'file' as never, ...cfg });
      }
    } catch (err) {
      if (err instanceof LockstepError) throw err;
      throw errors.unavailable(
        `cannot create or update stream ${spec.name} with ${this.streamReplicas} replica(s)` +
          `${this.streamReplicas > 1 ? ' (needs a JetStream cluster of at least that many servers)' : ''}: ${(err as Error).message}`,
        err,
      );
    }
  }

  async streamPublish(
    subject: string,
    data: Uint8Array,
    opts: { msgId?: string; timeoutMs?: number } = {},
  ): Promise<StreamAck> {
    try {
      const ack = await this.jetstream().publish(subject, data, {
        ...(opts.msgId ? { msgID: opts.msgId } : {}),
        ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
      });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw errors.unavailable(`stream publish on ${subject} failed: ${(err as Error).message}`, err);
    }
  }

  async consume(spec: DurableConsumerSpec): Promise<DurableConsumer> {
    const ms2ns = (ms: number) => Math.round(ms * 1_000_000);
    let messages;
    let consumer: Consumer;
    try {
      const jsm = await jetstreamManager(this.nc);
      const config = {
        durable_name: spec.durable,
        filter_subject: spec.filterSubject,
        ack_policy: AckPolicy.All,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ms2ns(spec.ackWaitMs),
        max_ack_pending: spec.maxAckPending,
      };
      let exists = true;
      try {
        await jsm.consumers.info(spec.stream, spec.durable);
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
        exists = false;
      }
      if (spec.startSequence !== undefined) {
        if (exists) await jsm.consumers.delete(spec.stream, spec.durable);
        await jsm.consumers.add(spec.stream, {
          ...config,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: Math.max(1, spec.startSequence),
        });
      } else if (exists) {
        await jsm.consumers.update(spec.stream, spec.durable, {
          ack_wait: config.ack_wait,
          max_ack_pending: config.max_ack_pending,
        });
      } else {
        await jsm.consumers.add(spec.stream, config);
      }
      consumer = await this.jetstream().consumers.get(spec.stream, spec.durable);
      messages = await consumer.consume({ max_messages: Math.min(1000, spec.maxAckPending) });
    } catch (err) {
      throw errors.unavailable(`cannot consume ${spec.stream}/${spec.durable}: ${(err as Error).message}`, err);
    }
    // AckAll: acknowledging one message acknowledges every earlier one, so only the newest
    // delivered message at or below the target is acked; older handles are dropped.
    const delivered: JsMsg[] = [];
    const it = messages;
    const c = consumer;
    return {
      ackUpTo(seq: number) {
        let last: JsMsg | undefined;
        while (delivered.length > 0 && delivered[0]!.seq <= seq) last = delivered.shift();
        last?.ack();
      },
      async info(): Promise<DurableConsumerInfo> {
        try {
          const i = await c.info(false);
          return { pending: i.num_pending, deliveredSeq: i.delivered.stream_seq };
        } catch (err) {
          throw errors.unavailable(
            `cannot read consumer ${spec.stream}/${spec.durable}: ${(err as Error).message}`,
            err,
          );
        }
      },
      async stop() {
        // Not awaiting `closed()`: it settles only once a pending pull expires.
        it.stop();
      },
      async *[Symbol.asyncIterator]() {
        for await (const m of it) {
          delivered.push(m);
          yield { subject: m.subject, data: m.data, seq: m.seq, redelivered: m.redelivered } satisfies StreamMessage;
        }
      },
    };
  }

  /** The JetStream manager, made once (a failed attempt is made again by the next call). */
  private manager(): Promise<JetStreamManager> {
    if (!this.jsm) {
      const p = jetstreamManager(this.nc);
      this.jsm = p;
      p.catch(() => {
        if (this.jsm === p) this.jsm = undefined;
      });
    }
    return this.jsm;
  }

  async lastSequence(stream: string, subject: string): Promise<number> {
    try {
      const m = await (await this.manager()).streams.getMessage(stream, { last_by_subj: subject });
      return m?.seq ?? 0;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return 0;
      throw errors.unavailable(
        `cannot read the last sequence of ${subject} in ${stream}: ${(err as Error).message}`,
        err,
      );
    }
  }

  kv(bucket: string, opts: KvOpenOptions = {}): Promise<KvBucket> {
    let p = this.kvs.get(bucket);
    if (!p) {
      p = openNatsKv(this.jetstream(), bucket, { ...opts, replicas: this.streamReplicas });
      this.kvs.set(bucket, p);
      p.catch(() => this.kvs.delete(bucket));
    }
    return p;
  }

  maxPayload(): number {
    // Header bytes count too: keep a margin below the server's limit.
    return (this.nc.info?.max_payload ?? 1024 * 1024) - 4096;
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close().catch(() => undefined);
    }
  }

  async closed(): Promise<Error | void> {
    return this.nc.closed();
  }

  async ackFloor(stream: string, durable: string): Promise<number | null> {
    try {
      const info = await (await this.manager()).consumers.info(stream, durable);
      return info.ack_floor.stream_seq;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return null;
      throw errors.unavailable(`cannot read consumer ${stream}/${durable}: ${(err as Error).message}`, err);
    }
  }

  async purgeBelow(stream: string, subject: string, seq: number): Promise<number> {
    try {
      return (await (await this.manager()).streams.purge(stream, { filter: subject, seq })).purged;
    } catch (err) {
      throw errors.unavailable(`cannot purge ${subject} below ${seq} in ${stream}: ${(err as Error).message}`, err);
    }
  }

  async streamBytes(stream: string): Promise<number> {
    try {
      return (await (await this.manager()).streams.info(stream)).state.bytes;
    } catch (err) {
      throw errors.unavailable(`cannot read stream ${stream}: ${(err as Error).message}`, err);
    }
  }

  async nextOnSubject(stream: string, subject: string, seq: number): Promise<{ seq: number; data: Uint8Array } | null> {
    try {
      // MSG.GET takes `next_by_subj` (the first match at `seq` or later); the client's type lacks it.
      const query = { seq, next_by_subj: subject } as unknown as { seq: number };
      const m = await (await this.manager()).streams.getMessage(stream, query);
      return m ? { seq: m.seq, data: m.data } : null;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
      throw errors.unavailable(`cannot read ${subject} from ${seq} in ${stream}: ${(err as Error).message}`, err);
    }
  }

  /** False while the connection is down (between a disconnect and the reconnect) and once closed. */
  get connected(): boolean {
    return !this.down && !this.nc.isClosed();
  }

  /**
   * Calls `on` with every disconnect and reconnect of this connection, until it closes. The client
   * keeps reconnecting on its own; this only tells (for logs, metrics and readiness).
   */
  watchConnection(on: (e: ConnectionEvent) => void): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') {
          this.down = s.type === 'disconnect';
          on({ type: s.type, server: s.server });
        }
      }
    })().catch(() => undefined);
  }
}

/** A change of a connection's state, as `NatsBus.watchConnection` reports it. */
export interface ConnectionEvent {
  type: 'disconnect' | 'reconnect';
  /** The server the connection lost or found again (host:port). */
  server: string;
}
