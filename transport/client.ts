/**
 * The public TypeScript client of Lockstep: the schema API, writes, queries, the barrier, node admin
 * and (through `migrations`, transport/migration_client.ts) migrations, over one NATS connection.
 * Every call goes through `call()`, so failures arrive as LockstepError with the server's code;
 * arguments that would become subject tokens are checked here first.
 */
import { BackupClient } from './backup_client.js';
import { randomUUID } from 'node:crypto';
import type {
  ActorsReply,
  ApplyItem,
  ApplyReply,
  BarrierReply,
  CreateReply,
  DeleteReply,
  LineWriteReply,
  MembersReply,
  UpdateReply,
  WatchControlReply,
  WriteColumns,
  WriteElement,
  WritePoint,
  WriteReply,
} from './api_types.js';
import type { Bus } from './bus.js';
import { Code, errors, isNoResponders, LockstepError } from './errors.js';
import { MigrationClient } from './migration_client.js';
import { NatsBus } from './nats_bus.js';
import { PinnedWriter, type PinnedKind, type PinnedWriterOptions } from './pinned_writer.js';
import type {
  GroupRow,
  MeasureQuery,
  MeasureRow,
  PlainColumns,
  QueryReply,
  StreamQuery,
  StreamRow,
  TagColumn,
} from './query_types.js';
import { packTags, plainColumns } from './packed_columns.js';
import { rowsOfColumns } from './row_columns.js';
import { call, unwrapReply } from './rpc.js';
import { CONTENT_TYPE_HEADER } from './codec.js';
import { BATCH_ID_HEADER, checkPrecision, PRECISION_HEADER, type LinePrecision } from './line_protocol.js';
import {
  checkName,
  isGroupKeyed,
  parseKey,
  SCHEMA_KINDS,
  type Resource,
  type SchemaKey,
  type SchemaKind,
  type StoredResource,
} from './schema_types.js';
import type { MaxRevisionReply } from './status_types.js';
import { DEFAULT_BARRIER_TIMEOUT_MS, DEFAULT_QUERY_TIMEOUT_MS, MAX_BARRIER_TIMEOUT_MS } from './limits.js';
import { DEFAULT_PREFIX, isValidNodeName, subjectsFor, type Subjects } from './subjects.js';

/** Options of `LockstepClient.connect`. */
export interface ClientOptions {
  natsUrl: string;
  /** Subject prefix (default `lockstep`). */
  prefix?: string;
  /** Timeout of every non-barrier call in ms (default 5000). */
  timeoutMs?: number;
  /** Connection name shown by the server (default `lockstep-client`). */
  name?: string;
  /** NATS user (deploy/nats.conf: `admin`, `writer` or `reader`); wins over a user in `natsUrl`. */
  user?: string;
  /** The user's password; wins over one in `natsUrl`. Never logged. */
  password?: string;
  /**
   * Prefix of this client's reply subjects; default `_INBOX.<user>`, the only inbox the deployment
   * config lets that user subscribe to (`_INBOX` without a user).
   */
  inboxPrefix?: string;
  /** A NATS credentials file (`.creds`) instead of a user and password. */
  credsFile?: string;
}

/** Default timeout of a non-barrier call. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 5000;
/**
 * Extra time the NATS request waits beyond the barrier's own timeout: a barrier that times out
 * answers `applied: false`, and that answer must still reach us.
 */
export const BARRIER_REPLY_GRACE_MS = 2000;
/**
 * Default timeout of a write: a batch of up to 10 000 points may wait for the schema gate and for
 * JetStream to acknowledge one append per shard, far longer than a schema call.
 */
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;
/** Rows per page of `pages` and `rows` unless the query's limit says otherwise. */
export const PAGE_ROWS = 10_000;
/**
 * Extra time the NATS request of a query waits beyond the query's own deadline: a query that runs
 * out of time answers with the server's `DeadlineExceeded`, and that answer must still reach us
 * rather than a bare client-side timeout.
 */
export const QUERY_REPLY_GRACE_MS = 2000;

export type {
  ActorInfo,
  ActorsReply,
  ApplyItem,
  ApplyReply,
  ApplyResultItem,
  BarrierReply,
  CreateReply,
  DeleteReply,
  Laggard,
  LineMeasureReply,
  LineWriteReply,
  MemberInfo,
  MembersReply,
  Role,
  UpdateReply,
  WatchControlReply,
  WriteColumns,
  WriteElement,
  WritePoint,
  WriteReply,
  WriteTagValue,
} from './api_types.js';
export type {
  Aggregation,
  AggFunction,
  Criteria,
  GroupRow,
  MeasureQuery,
  MeasureRow,
  PlainColumns,
  QueryReply,
  RowColumns,
  StreamQuery,
  StreamRow,
  TagCondition,
  FieldCondition,
  TopN,
  WriteToken,
} from './query_types.js';

/** Address of one resource: a group by `group` alone, anything else by `group` and `name`. */
export interface ResourceRef {
  group: string;
  name?: string;
}

/** Options of a barrier call. */
export interface BarrierOptions {
  /** Barrier timeout in ms; ≤ 0 or absent means the server default (5 s). */
  timeoutMs?: number;
}

/** Options of a write. */
export interface WriteOptions {
  /** Refuse the write unless the resource is at this revision (`ExpiredSchema` when older, a gate wait when newer). */
  schemaRevision?: number;
  /**
   * De-duplication id (1–64 of A-Z, a-z, 0-9, _ and -): resending a batch with the same id within
   * the WAL's window stores it once. Default: a fresh random id per call (pass your own to retry).
   */
  batchId?: string;
  /** Request timeout in ms (default 30 s). */
  timeoutMs?: number;
}

/** Options of a query. */
export interface QueryOptions {
  /**
   * NATS request timeout in ms. Default: the query's `timeout_ms` (10 s when absent) plus
   * `QUERY_REPLY_GRACE_MS`; the query's own deadline is `timeout_ms`, sent to the server.
   */
  requestTimeoutMs?: number;
}

/** The NATS request timeout of a barrier call with barrier timeout `timeoutMs`. */
export function barrierRequestTimeoutMs(timeoutMs: number | undefined): number {
  const t =
    timeoutMs === undefined || timeoutMs <= 0
      ? DEFAULT_BARRIER_TIMEOUT_MS
      : Math.min(timeoutMs, MAX_BARRIER_TIMEOUT_MS);
  return t + BARRIER_REPLY_GRACE_MS;
}

/** The NATS request timeout of a query whose deadline is `timeoutMs` (absent: the server default). */
export function queryRequestTimeoutMs(timeoutMs: number | undefined): number {
  return (timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS) + QUERY_REPLY_GRACE_MS;
}

/** Throws `InvalidArgument` unless `node` is a valid node name. */
export function checkNodeName(node: unknown): string {
  if (!isValidNodeName(node)) {
    throw errors.invalidArgument(
      `node name ${JSON.stringify(node)} is invalid: use 1–63 of a-z, 0-9, _ and - (starting with a letter or digit)`,
      { field: 'node' },
    );
  }
  return node;
}

function keysOf(keys: readonly (SchemaKey | string)[]): SchemaKey[] {
  if (!Array.isArray(keys)) throw errors.invalidArgument('keys must be an array', { field: 'keys' });
  return keys.map((k) => parseKey(k));
}

/** A client of one Lockstep cluster over one NATS connection. */
export class LockstepClient {
  /** The subject catalog this client uses. */
  readonly subjects: Subjects;
  /** The migration API (DESIGN §9): plan, start, status, list, watch and the intents. */
  readonly migrations: MigrationClient;
  /** The backup API: shard snapshots and their files (transport/backup_types.ts). */
  readonly backups: BackupClient;

  private constructor(
    private readonly bus: Bus,
    prefix: string,
    private readonly timeoutMs: number,
  ) {
    this.subjects = subjectsFor(prefix);
    this.migrations = new MigrationClient(bus, this.subjects, timeoutMs);
    this.backups = new BackupClient(bus, this.subjects, timeoutMs);
  }

  /** Connects; `Unavailable` naming the URL when NATS cannot be reached. */
  static async connect(opts: ClientOptions): Promise<LockstepClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new TypeError('options.timeoutMs must be a positive number');
    const bus = await NatsBus.connect({
      url: opts.natsUrl,
      name: opts.name ?? 'lockstep-client',
      auth: { user: opts.user, pass: opts.password, inboxPrefix: opts.inboxPrefix, credsFile: opts.credsFile },
    });
    return new LockstepClient(bus, opts.prefix ?? DEFAULT_PREFIX, timeoutMs);
  }

  /** Wraps an existing bus; `close` then closes that bus. */
  static onBus(bus: Bus, opts: { prefix?: string; timeoutMs?: number } = {}): LockstepClient {
    return new LockstepClient(bus, opts.prefix ?? DEFAULT_PREFIX, opts.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS);
  }

  /** Drains and closes the connection. */
  async close(): Promise<void> {
    await this.bus.close();
  }

  /** Creates a resource; `AlreadyExists` when it is present. */
  async create(kind: SchemaKind, resource: Resource | Record<string, unknown>): Promise<CreateReply> {
    return this.schema(kind, 'create', { resource });
  }

  /** Replaces a resource, only at `expectedRevision` when given (`FailedPrecondition` otherwise). */
  async update(
    kind: SchemaKind,
    resource: Resource | Record<string, unknown>,
    opts: { expectedRevision?: number } = {},
  ): Promise<UpdateReply> {
    const body: Record<string, unknown> = { resource };
    if (opts.expectedRevision !== undefined) body.expected_revision = opts.expectedRevision;
    return this.schema(kind, 'update', body);
  }

  /** Deletes a resource; a group that still holds resources needs `cascade`. */
  async delete(
    kind: SchemaKind,
    ref: ResourceRef,
    opts: { cascade?: boolean; expectedRevision?: number } = {},
  ): Promise<DeleteReply> {
    const body: Record<string, unknown> = this.refBody(kind, ref);
    if (opts.cascade) body.cascade = true;
    if (opts.expectedRevision !== undefined) body.expected_revision = opts.expectedRevision;
    return this.schema(kind, 'delete', body);
  }

  /** The resource at `ref`; `NotFound` when missing. */
  async get(kind: SchemaKind, ref: ResourceRef): Promise<StoredResource> {
    return this.schema(kind, 'get', this.refBody(kind, ref));
  }

  /** Groups (no `group`), or the resources of `kind` in `group`, sorted by key. */
  async list(kind: SchemaKind, group?: string): Promise<StoredResource[]> {
    const body = group === undefined ? {} : { group: checkName(group, 'group') };
    const reply = await this.schema<{ items: StoredResource[] }>(kind, 'list', body);
    return reply.items;
  }

  /** Declares resources: creates, updates or leaves alone each one; groups are written first. */
  async apply(items: readonly ApplyItem[]): Promise<ApplyReply> {
    return call<ApplyReply>(
      this.bus,
      this.subjects.api.schemaApply,
      { resources: items },
      { timeoutMs: this.timeoutMs },
    );
  }

  /** Writes measure points; the reply comes after the WAL acknowledged them, with a write token. */
  async writeMeasure(
    group: string,
    name: string,
    points: readonly WritePoint[],
    opts: WriteOptions = {},
  ): Promise<WriteReply> {
    return this.write('measure', group, name, { points }, opts);
  }

  /**
   * Writes measure points given as columns (`WriteColumns`: typed arrays of timestamps and field
   * values, an array per tag), the fast form for large batches: neither side builds an object per
   * point. A string tag whose values repeat (a batch's series) is sent as a dictionary, so the
   * server checks, hashes and routes each series once, not each point. Same validation, gates and
   * reply as `writeMeasure`.
   */
  async writeMeasureColumns(
    group: string,
    name: string,
    columns: WriteColumns,
    opts: WriteOptions = {},
  ): Promise<WriteReply> {
    const tags: NonNullable<WriteColumns['tags']> = {};
    for (const k in columns.tags ?? {}) {
      const col = columns.tags![k]!;
      tags[k] = Array.isArray(col) ? (packTags(col) as typeof col | TagColumn) : col;
    }
    return this.write('measure', group, name, { columns: columns.tags ? { ...columns, tags } : columns }, opts);
  }

  /** Writes stream elements; the reply comes after the WAL acknowledged them, with a write token. */
  async writeStream(
    group: string,
    name: string,
    elements: readonly WriteElement[],
    opts: WriteOptions = {},
  ): Promise<WriteReply> {
    return this.write('stream', group, name, { elements }, opts);
  }

  /**
   * Writes InfluxDB line protocol into `group` (one measure per measurement name); every line is
   * validated before any is stored. `precision` of the timestamps: ns (default), us, ms or s.
   */
  async writeLines(
    group: string,
    lines: string,
    opts: { precision?: LinePrecision; batchId?: string; timeoutMs?: number } = {},
  ): Promise<LineWriteReply> {
    const headers: Record<string, string> = { [CONTENT_TYPE_HEADER]: 'text/plain; charset=utf-8' };
    if (opts.precision !== undefined) headers[PRECISION_HEADER] = checkPrecision(opts.precision);
    headers[BATCH_ID_HEADER] = opts.batchId ?? randomUUID();
    const data = new TextEncoder().encode(lines);
    if (data.length > this.bus.maxPayload())
      throw errors.invalidArgument(
        `${data.length} bytes of lines exceed the server's message limit of ${this.bus.maxPayload()}: send fewer lines per write`,
      );
    const reply = await this.bus.request(this.subjects.api.writeLine(checkName(group, 'group')), data, {
      timeoutMs: opts.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS,
      headers,
    });
    return unwrapReply(reply, 'json') as LineWriteReply;
  }

  /** A writer at the schema revision of a measure or stream that refreshes on `ExpiredSchema` (pinned_writer.ts). */
  pinnedWriter<K extends PinnedKind>(
    kind: K,
    group: string,
    name: string,
    opts?: PinnedWriterOptions<K>,
  ): PinnedWriter<K> {
    return new PinnedWriter(this, kind, group, name, opts);
  }

  /**
   * Every row (or group) of a query, page after page: each page is one request of `q.limit` rows
   * (default 10 000), the next asked for with the previous reply's cursor, so memory holds one page,
   * never the whole answer. Ends when the answer does. With `columns` raw rows travel as
   * (packed) columns and come out as row objects.
   */
  async *pages<Row = MeasureRow | StreamRow | GroupRow>(
    kind: 'measure' | 'stream',
    q: MeasureQuery | StreamQuery,
    opts: QueryOptions = {},
  ): AsyncGenerator<Row[], void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = { ...q, limit: q.limit ?? PAGE_ROWS, ...(cursor !== undefined ? { cursor } : {}) };
      const r = (await this.query(kind, page, opts)) as QueryReply<unknown>;
      yield (r.rows ?? (r.columns ? rowsOfColumns(kind, r.columns) : r.groups) ?? []) as Row[];
      if (!r.has_more || r.cursor === undefined) return;
      cursor = r.cursor;
    }
  }

  /** Every row of a query as an async iterator (see `pages`). */
  async *rows<Row = MeasureRow | StreamRow | GroupRow>(
    kind: 'measure' | 'stream',
    q: MeasureQuery | StreamQuery,
    opts: QueryOptions = {},
  ): AsyncGenerator<Row, void, undefined> {
    for await (const page of this.pages<Row>(kind, q, opts)) yield* page;
  }

  /** Queries a measure: rows, or groups when the query has aggregations or a top-N. */
  async queryMeasure(q: MeasureQuery, opts: QueryOptions = {}): Promise<QueryReply<MeasureRow, PlainColumns>> {
    return this.query<MeasureRow>('measure', q, opts);
  }

  /** Queries a stream's elements. */
  async queryStream(q: StreamQuery, opts: QueryOptions = {}): Promise<QueryReply<StreamRow, PlainColumns>> {
    return this.query<StreamRow>('stream', q, opts);
  }

  /** Waits until every watched member applied `minRevision`. */
  async awaitRevision(minRevision: number, opts: BarrierOptions = {}): Promise<BarrierReply> {
    if (!Number.isSafeInteger(minRevision) || minRevision < 0) {
      throw errors.invalidArgument(`min_revision must be a non-negative integer, got ${minRevision}`, {
        field: 'min_revision',
      });
    }
    return this.barrier('revision', { min_revision: minRevision }, opts);
  }

  /** Waits until every key is present on every watched member (at `minRevisions[i]` or later). */
  async awaitApplied(
    keys: readonly (SchemaKey | string)[],
    opts: BarrierOptions & { minRevisions?: number[] } = {},
  ): Promise<BarrierReply> {
    const body: Record<string, unknown> = { keys: keysOf(keys) };
    if (opts.minRevisions !== undefined) body.min_revisions = opts.minRevisions;
    return this.barrier('applied', body, opts);
  }

  /** Waits until every key is absent on every watched member. */
  async awaitDeleted(keys: readonly (SchemaKey | string)[], opts: BarrierOptions = {}): Promise<BarrierReply> {
    return this.barrier('deleted', { keys: keysOf(keys) }, opts);
  }

  /** Pauses a node's schema watcher: events queue until `resumeWatch`. */
  async pauseWatch(node: string): Promise<WatchControlReply> {
    return this.control(node, 'pause_watch');
  }

  /** Resumes a node's schema watcher; queued events are applied in order. */
  async resumeWatch(node: string): Promise<WatchControlReply> {
    return this.control(node, 'resume_watch');
  }

  /** The actors of a node with their lifecycle and restarts. */
  async actors(node: string): Promise<ActorsReply> {
    return this.control(node, 'actors');
  }

  /** A node's applied schema revision. */
  async maxRevision(node: string): Promise<MaxRevisionReply> {
    return call<MaxRevisionReply>(
      this.bus,
      this.subjects.node.status(checkNodeName(node), 'max_revision'),
      {},
      {
        timeoutMs: this.timeoutMs,
      },
    );
  }

  /** The cluster's members as a liaison sees them. */
  async members(): Promise<MembersReply> {
    return call<MembersReply>(this.bus, this.subjects.api.members, {}, { timeoutMs: this.timeoutMs });
  }

  private async schema<T>(kind: SchemaKind, verb: string, body: unknown): Promise<T> {
    // The kind becomes a subject token: an untyped caller must not slip a dot or wildcard in.
    if (!(SCHEMA_KINDS as readonly unknown[]).includes(kind)) {
      throw errors.invalidArgument(`unknown schema kind ${JSON.stringify(kind)} (kinds: ${SCHEMA_KINDS.join(', ')})`, {
        field: 'kind',
      });
    }
    return call<T>(this.bus, this.subjects.api.schema(kind, verb), body, { timeoutMs: this.timeoutMs });
  }

  // Names are checked here so a bad one fails before any I/O; the server validates the rest.
  private async write(
    kind: 'measure' | 'stream',
    group: string,
    name: string,
    rows: Record<string, unknown>,
    opts: WriteOptions,
  ): Promise<WriteReply> {
    const body: Record<string, unknown> = { group: checkName(group, 'group'), name: checkName(name, kind), ...rows };
    if (opts.schemaRevision !== undefined) body.schema_revision = opts.schemaRevision;
    body.batch_id = opts.batchId ?? randomUUID();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw errors.invalidArgument('timeout_ms must be a positive number', { field: 'timeout_ms' });
    return call<WriteReply>(this.bus, this.subjects.api.write(kind), body, { timeoutMs });
  }

  // Names and the deadline are checked here so a bad one fails before any I/O; the server validates the rest.
  private async query<Row>(
    kind: 'measure' | 'stream',
    q: MeasureQuery | StreamQuery,
    opts: QueryOptions,
  ): Promise<QueryReply<Row, PlainColumns>> {
    if (q === null || typeof q !== 'object')
      throw errors.invalidArgument('query must be an object', { field: 'query' });
    checkName(q.group, 'group');
    checkName(q.name, kind);
    if (q.timeout_ms !== undefined && !(Number.isFinite(q.timeout_ms) && q.timeout_ms > 0)) {
      throw errors.invalidArgument(`timeout_ms must be a positive number, got ${q.timeout_ms}`, {
        field: 'timeout_ms',
      });
    }
    const timeoutMs = opts.requestTimeoutMs ?? queryRequestTimeoutMs(q.timeout_ms);
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw errors.invalidArgument('requestTimeoutMs must be a positive number', { field: 'timeout_ms' });
    }
    // Columns travel packed (about a sixth of the bytes for a series' raw day) and come back plain.
    const asked = q.columns ? { ...q, columns: 'packed' as const } : q;
    const reply = await call<QueryReply<Row>>(this.bus, this.subjects.api.query(kind), asked, { timeoutMs }).catch(
      (err: unknown) => {
        // A liaison forwards a one-shard query to the shard's owners, who answer here: NATS's
        // no-responders then also means that shard just lost its last owner.
        if (!isNoResponders(err)) throw err;
        const le = err as LockstepError;
        throw new LockstepError(
          Code.Unavailable,
          `${le.message}: no liaison is running, or the one shard this query needs has just lost its last owner (a retry names it)`,
          { details: le.details, cause: le },
        );
      },
    );
    return reply.columns
      ? { ...reply, columns: plainColumns(reply.columns) }
      : (reply as QueryReply<Row, PlainColumns>);
  }

  private async barrier(
    which: 'revision' | 'applied' | 'deleted',
    body: Record<string, unknown>,
    opts: BarrierOptions,
  ): Promise<BarrierReply> {
    if (opts.timeoutMs !== undefined) {
      if (!Number.isFinite(opts.timeoutMs))
        throw errors.invalidArgument('timeout_ms must be a finite number', { field: 'timeout_ms' });
      body.timeout_ms = Math.floor(opts.timeoutMs);
    }
    return call<BarrierReply>(this.bus, this.subjects.api.barrier(which), body, {
      timeoutMs: barrierRequestTimeoutMs(opts.timeoutMs),
    });
  }

  private async control<T>(node: string, op: string): Promise<T> {
    return call<T>(this.bus, this.subjects.node.control(checkNodeName(node), op), {}, { timeoutMs: this.timeoutMs });
  }

  // The body addressing one resource. Names are checked here so a bad one fails before any I/O.
  private refBody(kind: SchemaKind, ref: ResourceRef): Record<string, unknown> {
    const group = checkName(ref?.group, 'group');
    if (isGroupKeyed(kind)) return { group };
    return { group, name: checkName(ref.name, 'name') };
  }
}
