/**
 * The query API (DESIGN §6–§7) on `P.api.query.<measure|stream>`: the gate (one wait budget for
 * the query), validation into a plan, fan-out to one live owner per shard over
 * `P.shard.<group>.<shard>.query`, and the merge. A shard with no live owner fails the query with
 * `Unavailable` naming it and its owners, unless the query asked `allow_partial` (then the reply
 * lists it in `missing_shards`).
 */
import { Histogram } from 'prom-client';
import type { Subscription } from '../../transport/bus.js';
import { Code, errors, isNoResponders, LockstepError, toLockstepError } from '../../transport/errors.js';
import type { QueryReply } from '../../transport/query_types.js';
import { call, serve, type RpcRequest } from '../../transport/rpc.js';
import type { Group, Measure, Stream } from '../../transport/schema_types.js';
import { LIAISON_QUEUE } from '../../transport/subjects.js';
import { ownersOf, placementSpecOf } from '../../storage/placement.js';
import { mergeShardResults } from '../../storage/query/merge.js';
import { planQuery, queryTarget, type ShardQueryRequest } from '../../storage/query/plan.js';
import type { ShardResult } from '../../storage/query/shard_exec.js';
import { timed } from './request_timing.js';
import type { WriteServiceDeps } from './write_service.js';

/** Dependencies of the query service: those of the write service. */
export type QueryServiceDeps = WriteServiceDeps;

/** Time kept back from a shard's budget for its reply to travel. */
const REPLY_MARGIN_MS = 50;

/** Serves `P.api.query.measure` and `P.api.query.stream`. */
export function serveQueries(deps: QueryServiceDeps): Subscription[] {
  const duration = new Histogram({
    name: 'lockstep_query_duration_seconds',
    help: 'Query requests from receipt to reply',
    labelNames: ['kind', 'result'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [deps.metrics],
  });
  return (['measure', 'stream'] as const).map((kind) =>
    serve(
      deps.bus,
      deps.subjects.api.query(kind),
      timed(duration, deps.clock, kind, (req: RpcRequest) => query(deps, kind, req)),
      { queue: LIAISON_QUEUE, spanName: `query.${kind}` },
    ),
  );
}

async function query(deps: QueryServiceDeps, kind: 'measure' | 'stream', req: RpcRequest): Promise<QueryReply> {
  const started = deps.clock.monotonic();
  const { group, name, schemaRevision, timeoutMs } = queryTarget(kind, req.body);
  const deadline = started + timeoutMs;
  const stored = await deps.gate.check(
    'query',
    { kind, group, name },
    schemaRevision,
    Math.min(deadline, started + deps.schemaWaitMs),
  );
  const g = deps.cache.get({ kind: 'group', group, name: '' });
  if (!g) throw errors.notFound(`group ${group} does not exist`);
  const grp = g.resource as Group;
  const planned = planQuery(kind, req.body, stored.resource as Measure | Stream);
  const missing: number[] = [];
  const results = await Promise.all(
    Array.from({ length: grp.shards }, async (_, shard): Promise<ShardResult | null> => {
      const left = deadline - deps.clock.monotonic();
      const body: ShardQueryRequest = {
        plan: planned.plan,
        revision: stored.mod_revision,
        min_applied: planned.writeToken?.shards[String(shard)] ?? null,
        timeout_ms: Math.max(0, left - REPLY_MARGIN_MS),
      };
      try {
        return await call<ShardResult>(deps.bus, deps.subjects.shardQuery(group, shard), body, {
          timeoutMs: Math.max(1, left),
          ctx: req.ctx,
        });
      } catch (err) {
        const le = toLockstepError(err);
        const placement = placementSpecOf(grp);
        const owners = placement ? ownersOf(placement, shard) : [];
        if (isNoResponders(le)) {
          if (planned.allowPartial) {
            missing.push(shard);
            return null;
          }
          throw new LockstepError(
            Code.Unavailable,
            `shard ${group}/${shard} has no live owner (owners: ${owners.join(', ') || 'none placed'}); retry later or ask allow_partial`,
            {
              details: { group, shard, owners },
            },
          );
        }
        if (le.code === Code.DeadlineExceeded && !le.details) {
          throw errors.deadlineExceeded(
            `shard ${group}/${shard} (owners: ${owners.join(', ')}) did not answer within the query's ${timeoutMs} ms`,
            err,
          );
        }
        throw le;
      }
    }),
  );
  const merged = mergeShardResults(
    planned.plan,
    results.filter((r): r is ShardResult => r !== null),
  );
  return { ...merged, missing_shards: missing.sort((a, b) => a - b), schema_revision: stored.mod_revision };
}
