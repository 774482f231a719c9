/**
 * A writer pinned to the schema revision of one measure or stream (`LockstepClient.pinnedWriter`).
 * Every write carries `schema_revision` = the resource's `mod_revision`, so the server refuses a
 * batch shaped for a schema that has since changed (`ExpiredSchema`) instead of storing it. The
 * writer then fetches the resource again, pins its new revision, tells the caller (`onRefresh`) and
 * resends the same batch with the same `batch_id`, so a writer sees no failed write across a schema
 * change (an online migration's cutover, say) and a retry can never store a batch twice.
 */
import { randomUUID } from 'node:crypto';
import type { WriteElement, WritePoint, WriteReply } from './api_types.js';
import type { LockstepClient } from './client.js';
import { Code, codeOf, errors } from './errors.js';
import { checkName, type Measure, type StoredResource, type Stream } from './schema_types.js';

/** The kinds a pinned writer writes. */
export type PinnedKind = 'measure' | 'stream';
/** The rows of a write to a resource of kind `K`. */
export type RowOf<K extends PinnedKind> = K extends 'measure' ? WritePoint : WriteElement;
/** The resource of kind `K`. */
export type ResourceOf<K extends PinnedKind> = K extends 'measure' ? Measure : Stream;

/** Refreshes one write may make before its `ExpiredSchema` is thrown. */
export const DEFAULT_PINNED_REFRESHES_MAX = 3;

/** Options of `LockstepClient.pinnedWriter`. */
export interface PinnedWriterOptions<K extends PinnedKind = PinnedKind> {
  /**
   * Called with the newly pinned resource after each refresh an `ExpiredSchema` caused, before the
   * batch is resent. When it throws, the write fails with that error and is not resent.
   */
  onRefresh?: (resource: StoredResource<ResourceOf<K>>) => void | Promise<void>;
  /** Refreshes per write before the `ExpiredSchema` is thrown (default 3). */
  refreshesMax?: number;
}

/** Options of one pinned write. */
export interface PinnedWriteOptions {
  /** De-duplication id of the batch, sent with every attempt (default: a fresh random id per call). */
  batchId?: string;
  /** Request timeout of each attempt in ms (default 30 s). */
  timeoutMs?: number;
}

/** The client calls a pinned writer makes. */
export type PinnedWriterHost = Pick<LockstepClient, 'get' | 'writeMeasure' | 'writeStream'>;

/** Writes to one measure or stream at its pinned schema revision, refreshing on `ExpiredSchema`. */
export class PinnedWriter<K extends PinnedKind = PinnedKind> {
  private pinned: StoredResource<ResourceOf<K>> | undefined;
  private fetching: Promise<StoredResource<ResourceOf<K>>> | undefined;
  private refreshCount = 0;
  private readonly refreshesMax: number;

  /** Use `LockstepClient.pinnedWriter`. Names are checked here so a bad one fails before any I/O. */
  constructor(
    private readonly host: PinnedWriterHost,
    readonly kind: K,
    readonly group: string,
    readonly name: string,
    private readonly opts: PinnedWriterOptions<K> = {},
  ) {
    if (kind !== 'measure' && kind !== 'stream') {
      throw errors.invalidArgument(`a pinned writer writes a measure or a stream, not ${JSON.stringify(kind)}`, {
        field: 'kind',
      });
    }
    checkName(group, 'group');
    checkName(name, kind);
    this.refreshesMax = opts.refreshesMax ?? DEFAULT_PINNED_REFRESHES_MAX;
    if (!Number.isSafeInteger(this.refreshesMax) || this.refreshesMax < 0)
      throw new TypeError('options.refreshesMax must be a non-negative integer');
  }

  /** The pinned revision (the resource's `mod_revision`); undefined before the first fetch. */
  get revision(): number | undefined {
    return this.pinned?.mod_revision;
  }

  /** The pinned resource; undefined before the first fetch. */
  get resource(): StoredResource<ResourceOf<K>> | undefined {
    return this.pinned;
  }

  /** How many times an `ExpiredSchema` made this writer fetch the resource again. */
  get refreshes(): number {
    return this.refreshCount;
  }

  /** Fetches the resource and pins its revision now; `NotFound` when it does not exist. */
  refresh(): Promise<StoredResource<ResourceOf<K>>> {
    return this.fetch(false);
  }

  /**
   * Writes `rows` at the pinned revision (fetched first if none is). On `ExpiredSchema` it refreshes
   * and resends the same batch, at most `refreshesMax` times; any other error is thrown as is.
   */
  async write(rows: readonly RowOf<K>[], opts: PinnedWriteOptions = {}): Promise<WriteReply> {
    const batchId = opts.batchId ?? randomUUID();
    for (let refreshed = 0; ; refreshed++) {
      const revision = (this.pinned ?? (await this.fetch(false))).mod_revision;
      try {
        return await this.send(rows, { schemaRevision: revision, batchId, timeoutMs: opts.timeoutMs });
      } catch (err) {
        if (codeOf(err) !== Code.ExpiredSchema || refreshed >= this.refreshesMax) throw err;
      }
      // A concurrent write may have refreshed already: then resend at its revision, fetching nothing.
      if (this.pinned === undefined || this.pinned.mod_revision <= revision) await this.fetch(true);
    }
  }

  private send(
    rows: readonly RowOf<K>[],
    opts: { schemaRevision: number; batchId: string; timeoutMs: number | undefined },
  ): Promise<WriteReply> {
    return this.kind === 'measure'
      ? this.host.writeMeasure(this.group, this.name, rows as readonly WritePoint[], opts)
      : this.host.writeStream(this.group, this.name, rows as readonly WriteElement[], opts);
  }

  // Concurrent callers share one fetch, so one schema change costs one get and one onRefresh.
  private fetch(expired: boolean): Promise<StoredResource<ResourceOf<K>>> {
    this.fetching ??= this.load(expired).finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private async load(expired: boolean): Promise<StoredResource<ResourceOf<K>>> {
    const stored = (await this.host.get(this.kind, { group: this.group, name: this.name })) as StoredResource<
      ResourceOf<K>
    >;
    this.pinned = stored;
    if (expired) {
      this.refreshCount++;
      await this.opts.onRefresh?.(stored);
    }
    return stored;
  }
}
