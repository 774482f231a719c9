/**
 * The shard-level query subject `P.shard.<group>.<shard>.query` (DESIGN §2, §7), served by every
 * owner of the shard in one queue group, so NATS hands each query to one live owner and a shard
 * with none answers "no responders" at once (the liaison's `Unavailable`).
 *
 * Before running, a query passes the shard-side gate (this node applied the revision the liaison
 * planned against, within the query's budget, else `SchemaNotApplied`) and, with a write token,
 * waits until this owner applied its sequence (else `DeadlineExceeded`).
 */
import type { Bus, Subscription } from '../../transport/bus.js';
import { Code, errors, LockstepError } from '../../transport/errors.js';
import { EncodedReply, serve } from '../../transport/rpc.js';
import { encode } from '../../transport/codec.js';
import { formatKey } from '../../transport/schema_types.js';
import { SHARD_OWNERS_QUEUE, type Subjects } from '../../transport/subjects.js';
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import type { SchemaCache } from '../../runtime/schema_cache.js';
import { CorruptDataError } from '../../storage/errors.js';
import type { QueryPool } from '../../storage/query/query_pool.js';
import { fitShardRows, SHARD_PAGE_HEADER, singleShardPage } from '../../storage/query/page.js';
import { shardScanQueries, storeQueryAfter, type ShardResult } from '../../storage/query/shard_exec.js';
import { executeOnShard, runOnShard, shardSource } from '../../storage/query/shard_run.js';
import type { ScanPlan } from '../../storage/scan_plan.js';
import type { BlockRows } from '../../storage/block.js';
import type { QueryPlan } from '../../storage/query/plan.js';
import { isPageRequest, isShardProbe, type ShardQueryRequest } from '../../storage/query/shard_request.js';
import type { ShardActor } from './shard_actor.js';

/** What serving a shard needs. */
export interface ShardQueryDeps {
  bus: Bus;
  subjects: Subjects;
  cache: SchemaCache;
  clock: Clock;
  node: string;
  log: Logger;
  /** Runs the scans off this thread; inline without. */
  pool?: QueryPool;
  /** The layout generation of the shard (transport/layout_types.ts). */
  generation: number;
  /** Rows one query holds at once (storage/query/shard_run.ts). */
  budgetRows: number;
}

/** At most this many memtable rows (and block summaries) are queried on the shard thread when no block is read. */
const INLINE_ROWS = 2000;

/** Blocks a plan reads, and block summaries it aggregates. */
const blocksOf = (scan: ScanPlan | null) => (scan ? scan.parts.reduce((n, p) => n + p.entries.length, 0) : 0);
const summariesOf = (scan: ScanPlan | null) => {
  let n = 0;
  for (const s of scan?.summaries?.values() ?? []) n += s.length;
  return n;
};
const rowsOf = (mem: ReadonlyMap<string, BlockRows>) => {
  let n = 0;
  for (const r of mem.values()) n += r.timestamps.length;
  return n;
};

/** Serves queries of one owned (group, shard). */
export function serveShardQueries(actor: ShardActor, group: string, shard: number, deps: ShardQueryDeps): Subscription {
  return serve(
    deps.bus,
    deps.subjects.shardQuery(group, shard, deps.generation),
    async (req) => {
      if (isShardProbe(req.body)) return {};
      const r = req.body as ShardQueryRequest;
      if (!r || typeof r !== 'object' || !r.plan || r.plan.group !== group)
        throw errors.invalidArgument(`not a shard query for ${group}/${shard}`);
      if (r.page !== undefined && !isPageRequest(r.page))
        throw errors.invalidArgument(`shard query for ${group}/${shard}: malformed page request`);
      const deadline = deps.clock.monotonic() + Math.max(0, r.timeout_ms);
      await gate(deps, r.plan, r.revision, deadline);
      if (r.min_applied !== null && r.min_applied > 0) {
        const ok = await actor.waitApplied(r.min_applied, deadline - deps.clock.monotonic());
        if (!ok) {
          throw new LockstepError(
            Code.DeadlineExceeded,
            `shard ${group}/${shard} on ${deps.node} applied WAL sequence ${actor.appliedSequence}; the write token needs ${r.min_applied} and it did not catch up in time`,
            { details: { group, shard, node: deps.node, applied: actor.appliedSequence, needed: r.min_applied } },
          );
        }
      }
      // The only shard asked answers with the client's page, marked so (the liaison passes it on).
      const pageReply = (bytes: Uint8Array) => new EncodedReply(bytes, { [SHARD_PAGE_HEADER]: '1' });
      // Rows beyond one message are left for the next page (page.ts): the reply says it cut them.
      // A reply that fits goes out as measured, not encoded again.
      const fitted = (result: ShardResult): ShardResult | EncodedReply => {
        if (r.page) return pageReply(singleShardPage(r.plan, result, r.page));
        if (!result.rows) return result;
        const bytes = encode(result, req.encoding);
        if (bytes.length <= deps.bus.maxPayload()) return new EncodedReply(bytes);
        return { ...result, rows: fitShardRows(result.rows, deps.bus.maxPayload()) };
      };
      try {
        if (!deps.pool) {
          const src = shardSource((q) => actor.memtable.scan(q), actor.store);
          return fitted(await executeOnShard(r.plan, src, deps.budgetRows));
        }
        // The memtable is read here (it lives on this thread), before the store's parts are chosen:
        // a batch flushed meanwhile is then in a chosen part. The rest runs on a pool thread, while
        // the store keeps the chosen parts' files.
        const q = shardScanQueries(r.plan);
        const mem = q.memtable ? actor.memtable.scan(q.memtable) : new Map();
        const planned = q.store ? actor.store.planRead(storeQueryAfter(q.store, mem)) : null;
        const scan = planned?.plan ?? null;
        // Nothing to read from disk and few rows in memory (an empty range, a series just
        // created): answered here, without the trip to a pool thread and back.
        if (blocksOf(scan) === 0 && rowsOf(mem) + summariesOf(scan) <= INLINE_ROWS)
          return fitted(await runOnShard(r.plan, mem, scan, planned?.read ?? (async () => []), deps.budgetRows));
        const task = { plan: r.plan, mem: [...mem], scan, budgetRows: deps.budgetRows, page: r.page };
        const answer = await actor.store.trackScan(deps.pool.run(task));
        return answer instanceof Uint8Array ? pageReply(answer) : fitted(answer);
      } catch (err) {
        // Damage on disk fails the query (naming the file) and is logged where an operator looks.
        if (err instanceof CorruptDataError)
          deps.log.error({ group, shard, path: err.path, cause: err.message }, 'query met corrupt data');
        throw err;
      }
    },
    {
      queue: SHARD_OWNERS_QUEUE,
      spanName: 'shard.query',
      attributes: {
        'lockstep.group': group,
        'lockstep.generation': deps.generation,
        'lockstep.shard': shard,
        'lockstep.node': deps.node,
      },
    },
  );
}

/** The shard-side gate: this node applied at least the planned revision of the resource. */
async function gate(deps: ShardQueryDeps, plan: QueryPlan, revision: number, deadline: number): Promise<void> {
  const key = { kind: plan.kind, group: plan.group, name: plan.name };
  for (;;) {
    const stored = deps.cache.get(key);
    if (stored && stored.mod_revision >= revision) return;
    if (!stored && deps.cache.appliedRevision >= revision)
      throw errors.notFound(`${formatKey(key)} does not exist on ${deps.node} (it was deleted)`);
    const left = deadline - deps.clock.monotonic();
    if (left <= 0) {
      throw new LockstepError(
        Code.SchemaNotApplied,
        `${formatKey(key)} needs revision ${revision}; ${deps.node} applied ${deps.cache.appliedRevision} and did not catch up in time`,
        {
          details: {
            key: formatKey(key),
            applied_revision: deps.cache.appliedRevision,
            schema_revision: revision,
            node: deps.node,
          },
        },
      );
    }
    await deps.cache.waitForChange(left, deps.clock);
  }
}
