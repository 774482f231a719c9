/**
 * The schema API over a real nats-server, for the schema registry tests: `useSchemaApi()` in a
 * `describe` body starts a server for the block, serves the API on one connection and calls it
 * through `call()` on another. Tests that use their own group names share the bucket without
 * seeing each other.
 */
import assert from 'node:assert/strict';
import type { Bus, KvBucket, Subscription } from '../../transport/bus.js';
import { Code, codeOf } from '../../transport/errors.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { call } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';
import { SchemaRegistry } from '../../actors/liaison/schema_registry.js';
import { serveSchemaApi } from '../../actors/liaison/schema_service.js';
import { startNatsServer, type NatsServer } from './nats_server.js';

/** The subjects the API is served on. */
export const SCHEMA_SUBJECTS = subjectsFor('schematest');
/** Deadline of every call. */
export const SCHEMA_TIMEOUT_MS = 5000;

// Replies are checked field by field against what each test expects; their exact types are the API's.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Reply = Record<string, any>;

/** The API of one `useSchemaApi` block; the connections and the bucket exist once its `before` ran. */
export interface SchemaApi {
  /** Calls `<kind>.<verb>` with `body`, in msgpack or JSON. */
  api(kind: string, verb: string, body: unknown, encoding?: 'msgpack' | 'json'): Promise<Reply>;
  /** Calls schema apply with `body`. */
  apply(body: unknown): Promise<Reply>;
  /** Sends `data` as it is (JSON-typed when `json`) and returns the raw reply. */
  rawRequest(subject: string, data: Uint8Array, json: boolean): ReturnType<Bus['request']>;
  /** The bucket's last revision. */
  lastRevision(): Promise<number>;
  /** The registry's bucket. */
  readonly kv: KvBucket;
  /** The client's connection. */
  readonly client: NatsBus;
}

/** Starts a nats-server and the schema API before the enclosing block's tests; stops them after. */
export function useSchemaApi(): SchemaApi {
  let server: NatsServer;
  let serviceBus: NatsBus;
  let client: NatsBus;
  let kv: KvBucket;
  let subs: Subscription[] = [];
  before(async () => {
    server = await startNatsServer();
    serviceBus = await NatsBus.connect({ url: server.url, name: 'schema-service' });
    client = await NatsBus.connect({ url: server.url, name: 'schema-client' });
    const registry = await SchemaRegistry.open(serviceBus);
    kv = registry.kv;
    subs = serveSchemaApi(serviceBus, SCHEMA_SUBJECTS, registry);
    await serviceBus.flush();
  });
  after(async () => {
    for (const s of subs) s.unsubscribe();
    await client?.close();
    await serviceBus?.close();
    await server?.stop();
  });
  const timeoutMs = SCHEMA_TIMEOUT_MS;
  return {
    api: (kind, verb, body, encoding = 'msgpack') =>
      call<Reply>(client, SCHEMA_SUBJECTS.api.schema(kind, verb), body, { timeoutMs, encoding }),
    apply: (body) => call<Reply>(client, SCHEMA_SUBJECTS.api.schemaApply, body, { timeoutMs }),
    rawRequest: (subject, data, json) => {
      const headers = json ? { 'Content-Type': 'application/json' } : undefined;
      return (client as Bus).request(subject, data, { timeoutMs, headers });
    },
    lastRevision: async () => (await kv.lastRevision()).revision,
    get kv() {
      return kv;
    },
    get client() {
      return client;
    },
  };
}

/** Awaits `p`, which must fail with `code` (and a message that `mentions`); returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: Code, mentions?: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.equal(codeOf(err), code, `expected ${code}, got ${codeOf(err)}: ${(err as Error).message}`);
    if (mentions)
      assert.ok((err as Error).message.includes(mentions), `message "${(err as Error).message}" lacks "${mentions}"`);
    return err as Error;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}
