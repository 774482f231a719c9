/**
 * KV buckets on JetStream (NATS 2.9 semantics): create/update are compare-and-set on the key's last
 * revision; a delete is a tombstone published with its own revision.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { headers as natsHeaders, type QueuedIterator } from '@nats-io/nats-core';
import type { KvBucket, KvEntry, KvOpenOptions, KvWatch } from './bus.js';
import { errors, LockstepError } from './errors.js';

// JetStream API error codes for a failed compare-and-set.
const WRONG_LAST_SEQUENCE = new Set<number>([
  JetStreamApiCodes.StreamWrongLastSequence,
  JetStreamApiCodes.StreamWrongLastSequenceUnknown,
]);

/** Longest a key listing may take before it is abandoned as Unavailable. */
const KEYS_DEADLINE_MS = 10_000;

function isCasFailure(err: unknown): boolean {
  return err instanceof JetStreamApiError && WRONG_LAST_SEQUENCE.has(err.code);
}

function unavailable(op: string, bucket: string, err: unknown): LockstepError {
  if (err instanceof LockstepError) return err;
  return errors.unavailable(`kv ${op} on ${bucket} failed: ${(err as Error).message}`, err);
}

/** Opens a bucket, creating it when missing. */
export async function openNatsKv(
  js: JetStreamClient,
  bucket: string,
  opts: KvOpenOptions & { replicas?: number },
): Promise<KvBucket> {
  try {
    const replicas = opts.replicas ?? 1;
    // A direct get may be served by a follower that has not applied the latest write yet, so a
    // key just created could read as missing. With replicas, reads go through the stream leader.
    const kv = await new Kvm(js).create(bucket, {
      history: opts.history ?? 1,
      replicas,
      allow_direct: replicas === 1 ? undefined : false,
    });
    // `create` leaves an existing bucket as it is: one made with fewer replicas is scaled here.
    const status = await kv.status();
    if (status.replicas !== replicas) {
      const jsm = await js.jetstreamManager();
      const info = await jsm.streams.info(status.streamInfo.config.name);
      await jsm.streams.update(info.config.name, { ...info.config, num_replicas: replicas });
    }
    return new NatsKvBucket(js, kv, bucket);
  } catch (err) {
    throw unavailable('open', bucket, err);
  }
}

class NatsKvBucket implements KvBucket {
  constructor(
    private readonly js: JetStreamClient,
    private readonly kv: KV,
    readonly name: string,
  ) {}

  async get(key: string): Promise<KvEntry | null> {
    try {
      const e = await this.kv.get(key);
      if (!e) return null;
      return { key: e.key, value: e.value, revision: e.revision, operation: e.operation };
    } catch (err) {
      throw unavailable('get', this.name, err);
    }
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      if (isCasFailure(err)) throw errors.alreadyExists(`${key} already exists`);
      throw unavailable('create', this.name, err);
    }
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    try {
      return await this.kv.update(key, value, expectedRevision);
    } catch (err) {
      if (isCasFailure(err)) {
        throw errors.failedPrecondition(`${key} is no longer at revision ${expectedRevision}`, {
          expected_revision: expectedRevision,
        });
      }
      throw unavailable('update', this.name, err);
    }
  }

  async delete(key: string, expectedRevision?: number): Promise<number> {
    const h = natsHeaders();
    h.set('KV-Operation', 'DEL');
    try {
      const ack = await this.js.publish(`$KV.${this.name}.${key}`, new Uint8Array(0), {
        headers: h,
        expect: expectedRevision === undefined ? undefined : { lastSubjectSequence: expectedRevision },
      });
      return ack.seq;
    } catch (err) {
      if (isCasFailure(err)) {
        throw errors.failedPrecondition(`${key} is no longer at revision ${expectedRevision}`, {
          expected_revision: expectedRevision,
        });
      }
      throw unavailable('delete', this.name, err);
    }
  }

  /**
   * Every live key (under `prefix`), sorted. The client's listing ends on the consumer's pending
   * count or an idle heartbeat; under concurrent writes it has been seen never to end, so it gets a
   * deadline: past it, the listing stops and the caller sees Unavailable (and retries).
   */
  async keys(prefix?: string): Promise<string[]> {
    let it: QueuedIterator<string> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        late = true;
        const err = errors.unavailable(`listing the keys of ${this.name} took over ${KEYS_DEADLINE_MS} ms`);
        it?.stop(err);
        reject(err);
      }, KEYS_DEADLINE_MS);
    });
    const list = async () => {
      it = await this.kv.keys(prefix ? `${prefix}.>` : '>');
      if (late) it.stop(); // the listing came after its deadline: nobody reads it
      const out: string[] = [];
      for await (const k of it) out.push(k);
      return out.sort();
    };
    try {
      return await Promise.race([list(), deadline]);
    } catch (err) {
      throw unavailable('keys', this.name, err);
    } finally {
      clearTimeout(timer);
    }
  }

  async lastRevision(): Promise<{ revision: number; messages: number }> {
    try {
      const st = await this.kv.status();
      return { revision: st.streamInfo.state.last_seq, messages: st.streamInfo.state.messages };
    } catch (err) {
      throw unavailable('status', this.name, err);
    }
  }

  async watch(fromRevision: number): Promise<KvWatch> {
    try {
      const it = await this.kv.watch({ key: '>', resumeFromRevision: Math.max(1, fromRevision) });
      return {
        stop: () => it.stop(),
        async *[Symbol.asyncIterator]() {
          for await (const e of it) {
            yield {
              key: e.key,
              value: e.value,
              revision: e.revision,
              operation: e.operation,
              pending: e.delta,
            } satisfies KvEntry;
          }
        },
      };
    } catch (err) {
      throw unavailable('watch', this.name, err);
    }
  }
}
