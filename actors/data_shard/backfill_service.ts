/**
 * The backfill of one owned shard into a new layout generation (transport/backfill_types.ts),
 * served on `P.shard.<group>[.g<gen>].<shard>.backfill` in the `shard_owners` queue group.
 *
 * The owner waits until it applied the WAL up to where dual writes began, flushes (through its
 * mailbox, so the rows are in parts), then reads one segment per request with the store's merged
 * scan — beside the mailbox, like a query: applies go on meanwhile — and appends its rows to the
 * new generation's WAL subjects, routed by the new shard count, in records of up to
 * `ROWS_PER_RECORD` rows, each row with its version. Appends are de-duplicated by an id naming the
 * migration, segment and chunk, and versions make a repeated copy harmless either way.
 */
import type { Bus, Subscription } from '../../transport/bus.js';
import type { BackfillCountRequest, BackfillReply, BackfillRequest } from '../../transport/backfill_types.js';
import { Code, errors, LockstepError } from '../../transport/errors.js';
import { serve } from '../../transport/rpc.js';
import { segmentIntervalMs, type Group, type Measure, type Stream } from '../../transport/schema_types.js';
import { SHARD_OWNERS_QUEUE, type Subjects } from '../../transport/subjects.js';
import { encodeWalRecord, missingTagValue, type WalColumns, type WalRecord } from '../../transport/wal_record.js';
import type { Clock } from '../../runtime/clock.js';
import type { FaultInjector } from '../../runtime/actor.js';
import type { Logger } from '../../runtime/log.js';
import type { SchemaCache } from '../../runtime/schema_cache.js';
import type { BlockRows } from '../../storage/block.js';
import { elementIdColumn } from '../../storage/element_id.js';
import { NO_VERSION, VERSION_COLUMN } from '../../storage/point_version.js';
import { sameEntity, shardOfSeries, storedEntityKeyer } from '../../storage/routing.js';
import { shapeInGeneration, type ShardActor } from './shard_actor.js';

/** Rows per appended record: large enough to copy fast, small enough for the server's message limit. */
const ROWS_PER_RECORD = 4000;
/** Appends awaiting their acknowledgement at once. */
const APPENDS_IN_FLIGHT = 16;

/** What serving a backfill needs. */
export interface BackfillDeps {
  bus: Bus;
  subjects: Subjects;
  cache: SchemaCache;
  clock: Clock;
  node: string;
  log: Logger;
  /** The group as the shard's own generation lays it out (segment interval, catalog). */
  group: Group;
  generation: number;
  /** Injected faults (tests and drills). */
  faults?: FaultInjector;
}

/** Serves backfill requests of one owned (group, generation, shard). */
export function serveBackfill(actor: ShardActor, shard: number, deps: BackfillDeps): Subscription {
  const g = deps.group.name;
  return serve(
    deps.bus,
    deps.subjects.shardBackfill(g, shard, deps.generation),
    async (req): Promise<BackfillReply> => {
      const r = checkRequest(req.body);
      const deadline = deps.clock.monotonic() + r.timeout_ms;
      if (actor.appliedSequence < r.until_seq) {
        const ok = await actor.waitApplied(r.until_seq, deadline - deps.clock.monotonic());
        if (!ok) {
          throw new LockstepError(
            Code.DeadlineExceeded,
            `shard ${g}/${shard} on ${deps.node} applied WAL sequence ${actor.appliedSequence}; the copy starts at ${r.until_seq} and it did not catch up in time`,
          );
        }
      }
      if ('count_only' in r) return { rows: storedRows(actor), segment: null };
      await actor.flushNow();
      const parts = actor.store.listParts();
      // An injected fault fails a segment's copy, or holds its rows between reading and appending them.
      const late = deps.faults?.check('backfill', g) ?? 0;
      const starts = [...new Set(parts.map((p) => p.segmentStartMs))].filter(
        (s) => r.after_segment === null || s > r.after_segment,
      );
      if (starts.length === 0) return { rows: 0, segment: null };
      const segment = Math.min(...starts);
      const end = segment + segmentIntervalMs(deps.group);
      const names = [...new Set(parts.filter((p) => p.segmentStartMs === segment).map((p) => p.name))].sort();
      const kind = deps.group.catalog;
      const out = new Appender(deps, r, shard, segment);
      let rows = 0;
      for (const name of names) {
        const resource = deps.cache.get({ kind, group: g, name });
        if (!resource) continue; // deleted: nothing to carry over
        const res = resource.resource as Measure | Stream;
        // The rows go into the new generation in its shape of the resource (a reshaped measure's).
        const shape = shapeInGeneration(deps.cache, g, r.to.generation, kind, name) ?? res;
        const keyTag = kind === 'stream' ? elementIdColumn(res as Stream) : undefined;
        const scanned = await actor.store.scanMerged({
          minTs: segment,
          maxTs: end - 1,
          schemaName: name,
          ...(keyTag ? { keyTag } : {}),
        });
        rows += await out.copy(kind, res, shape, resource.mod_revision, scanned, keyTag);
      }
      if (late > 0) {
        deps.log.warn({ group: g, shard, segment, rows, delay_ms: late }, 'injected backfill delay: segment read');
        await deps.clock.sleep(late);
      }
      await out.done();
      return { rows, segment };
    },
    {
      queue: SHARD_OWNERS_QUEUE,
      spanName: 'shard.backfill',
      attributes: { 'lockstep.group': g, 'lockstep.shard': shard, 'lockstep.node': deps.node },
    },
  );
}

/** The rows a copy of the shard would read: its parts' and its memtable's (see BackfillCountRequest). */
function storedRows(actor: ShardActor): number {
  return actor.store.listParts().reduce((n, p) => n + p.part.metadata.row_count, actor.memtable.distinctRowCount());
}

function checkRequest(v: unknown): BackfillRequest | BackfillCountRequest {
  const int = (x: unknown, min: number) => Number.isSafeInteger(x) && (x as number) >= min;
  if (v && typeof v === 'object' && (v as BackfillCountRequest).count_only === true) {
    const c = v as BackfillCountRequest;
    if (!int(c.until_seq, 0) || !int(c.timeout_ms, 1)) {
      throw errors.invalidArgument('not a backfill count request (transport/backfill_types.ts)');
    }
    return c;
  }
  const r = v as BackfillRequest;
  if (
    !r ||
    typeof r !== 'object' ||
    typeof r.migration !== 'string' ||
    !int(r.index, 0) ||
    !r.to ||
    !int(r.to.generation, 1) ||
    !int(r.to.shards, 1) ||
    !int(r.until_seq, 0) ||
    !(r.after_segment === null || Number.isFinite(r.after_segment)) ||
    !int(r.timeout_ms, 1)
  ) {
    throw errors.invalidArgument('not a backfill request (transport/backfill_types.ts)');
  }
  return r;
}

/** One destination shard's rows not yet appended. */
interface Pending {
  ts: number[];
  eid: string[];
  fields: Map<string, number[]>;
  tags: Map<string, unknown[]>;
}

/** Routes rows into the new generation and appends them in records, a bounded number in flight. */
class Appender {
  private readonly inFlight = new Set<Promise<void>>();
  private chunk = 0;
  private failure: unknown = null;

  constructor(
    private readonly deps: BackfillDeps,
    private readonly r: BackfillRequest,
    private readonly shard: number,
    private readonly segment: number,
  ) {}

  /**
   * Appends every row of `scanned` (one resource's series, stored as `res`) in the shape `shape`
   * (the same resource, or a reshaped measure: its entity routes each row, an int field takes each
   * value rounded); resolves with the rows taken.
   */
  async copy(
    kind: 'measure' | 'stream',
    res: Measure | Stream,
    shape: Measure | Stream,
    revision: number,
    scanned: Map<string, BlockRows>,
    keyTag: string | undefined,
  ): Promise<number> {
    const fields = kind === 'measure' ? (shape as Measure).fields : [];
    const isInt = fields.map((f) => f.type !== 'float');
    const tags = shape.tag_families
      .flatMap((f) => f.tags)
      .filter((t, i, all) => all.findIndex((x) => x.name === t.name) === i);
    const rekeyed = !sameEntity(shape.entity, res.entity);
    const keyOf = storedEntityKeyer(shape);
    const keyAt = (br: BlockRows, i: number) => keyOf((t) => tagValue(br, t, i));
    const byShard = new Map<number, Pending>();
    const fresh = (): Pending => ({
      ts: [],
      eid: [],
      fields: new Map([...fields.map((f) => [f.name, []] as [string, number[]]), [VERSION_COLUMN, []]]),
      tags: new Map(tags.map((t) => [t.name, []])),
    });
    let rows = 0;
    for (const br of scanned.values()) {
      const n = br.timestamps.length;
      if (n === 0) continue;
      // One series of the old shape is one destination, unless the entity changed: then each row routes.
      const seriesDst = shardOfSeries(res.name, keyAt(br, 0), this.r.to.shards);
      for (let i = 0; i < n; i++) {
        const dst = rekeyed ? shardOfSeries(res.name, keyAt(br, i), this.r.to.shards) : seriesDst;
        let p = byShard.get(dst);
        if (!p) byShard.set(dst, (p = fresh()));
        p.ts.push(br.timestamps[i]!);
        if (keyTag) p.eid.push(String(tagValue(br, keyTag, i) ?? ''));
        for (let j = 0; j < fields.length; j++) {
          const v = br.fields[fields[j]!.name]?.[i];
          p.fields.get(fields[j]!.name)!.push(isInt[j] ? (Number.isFinite(v) ? Math.round(v!) : 0) : (v ?? NaN));
        }
        p.fields.get(VERSION_COLUMN)!.push(br.fields[VERSION_COLUMN]?.[i] ?? NO_VERSION);
        for (const t of tags) p.tags.get(t.name)!.push(tagValue(br, t.name, i) ?? missingTagValue(t.type));
        if (p.ts.length >= ROWS_PER_RECORD) {
          await this.send(kind, res.name, revision, dst, p, keyTag !== undefined);
          byShard.set(dst, fresh());
        }
      }
      rows += n;
    }
    for (const [dst, p] of byShard)
      if (p.ts.length > 0) await this.send(kind, res.name, revision, dst, p, keyTag !== undefined);
    return rows;
  }

  /** Waits for every append; rethrows the first failure. */
  async done(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async send(
    kind: 'measure' | 'stream',
    name: string,
    revision: number,
    dst: number,
    p: Pending,
    stream: boolean,
  ): Promise<void> {
    const cols: WalColumns = {
      ts: Float64Array.from(p.ts),
      fields: Object.fromEntries([...p.fields].map(([k, v]) => [k, Float64Array.from(v)])),
      tags: Object.fromEntries(p.tags),
      ...(stream ? { eid: p.eid } : {}),
    };
    const group = this.deps.group.name;
    const record: WalRecord = { kind, group, name, revision, batch_id: `backfill-${this.r.migration}`, cols };
    const data = encodeWalRecord(record);
    if (data.length > this.deps.bus.maxPayload()) {
      throw new LockstepError(
        Code.ResourceExhausted,
        `a backfill record of ${p.ts.length} rows is ${data.length} bytes, over the server's message limit`,
      );
    }
    const msgId = `bf.${this.r.migration}.${this.r.index}.${name}.${this.deps.generation}.${this.shard}.${this.segment}.${this.chunk++}.${dst}`;
    while (this.inFlight.size >= APPENDS_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const append: Promise<void> = this.deps.bus
      .streamPublish(this.deps.subjects.wal(group, dst, this.r.to.generation), data, { msgId })
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => this.inFlight.delete(append));
    this.inFlight.add(append);
  }
}

function tagValue(br: BlockRows, tag: string, i: number): unknown {
  const col = br.tags[tag] as ArrayLike<unknown> | undefined;
  return col?.[i];
}
