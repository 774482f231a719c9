/**
 * The query API (DESIGN §6–§7) on `P.api.query.<measure|stream>`: the gate (one wait budget for
 * the query), validation into a plan, fan-out to one live owner per shard over
 * `P.shard.<group>.<shard>.query` (only the shards of the series a query names by its whole
 * entity), and the merge; the page of a query that asks one shard comes straight from its owner to
 * the client once its owners answered pages lately (forward_gate.ts). Shards with no live owner
 * fail the query with `Unavailable` naming each of them and its owners, unless the query asked
 * `allow_partial` (then the reply lists them in `missing_shards`).
 */
import { Histogram } from 'prom-client';
import type { Subscription } from '../../transport/bus.js';
import { Code, errors, isNoResponders, LockstepError, toLockstepError } from '../../transport/errors.js';
import {
  callUndecoded,
  EncodedReply,
  forward,
  ForwardedReply,
  serve,
  unwrapReply,
  type RpcRequest,
} from '../../transport/rpc.js';
import { headerOf } from '../../transport/bus.js';
import type { Measure, Stream } from '../../transport/schema_types.js';
import { groupAtGeneration, resourceInGeneration } from '../../transport/layout_types.js';
import { tokenSequences } from '../../transport/write_token.js';
import { groupLayout } from '../../runtime/schema_cache.js';
import { LIAISON_QUEUE } from '../../transport/subjects.js';
import { ownersOf, placementSpecOf } from '../../storage/placement.js';
import { sameEntity, shardsOfSeries } from '../../storage/routing.js';
import { entitySeriesKeys } from '../../storage/query/criteria.js';
import { mergeShardResults } from '../../storage/query/merge.js';
import { replyPage, SHARD_PAGE_HEADER } from '../../storage/query/page.js';
import { planQuery, queryTarget } from '../../storage/query/plan.js';
import type { ShardProbe, ShardQueryRequest } from '../../storage/query/shard_request.js';
import { encode } from '../../transport/codec.js';
import type { ShardResult } from '../../storage/query/shard_exec.js';
import { timed } from './request_timing.js';
import { ForwardGate } from './forward_gate.js';
import type { WriteServiceDeps } from './write_service.js';

/** Dependencies of the query service: those of the write service. */
export type QueryServiceDeps = WriteServiceDeps;

/**
 * One shard's answer: its result, the client's reply page (asked of the only shard), an error, or
 * none of them when it has no live owner.
 */
interface ShardOutcome {
  result?: ShardResult;
  page?: Uint8Array;
  error?: LockstepError;
}

/** The probe sent beside a forwarded query, encoded once. */
const PROBE = encode({ probe: true } satisfies ShardProbe);

/** The longest a liaison waits on the probe beside a forwarded query (it only looks for "nobody listens"). */
const PROBE_MS = 5000;

/** Time kept back from a shard's budget for its reply to travel. */
const REPLY_MARGIN_MS = 50;

/** How long a shard's owners, seen answering a page, may be forwarded queries (forward_gate.ts). */
export const FORWARD_TTL_MS = 1000;

/** Serves `P.api.query.measure` and `P.api.query.stream`. */
export function serveQueries(deps: QueryServiceDeps): Subscription[] {
  const forwarding = new ForwardGate(FORWARD_TTL_MS);
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
      timed(duration, deps.clock, kind, (req: RpcRequest) => query(deps, forwarding, kind, req)),
      { queue: LIAISON_QUEUE, spanName: `query.${kind}` },
    ),
  );
}

async function query(
  deps: QueryServiceDeps,
  forwarding: ForwardGate,
  kind: 'measure' | 'stream',
  req: RpcRequest,
): Promise<EncodedReply | ForwardedReply> {
  const started = deps.clock.monotonic();
  const { group, name, schemaRevision, timeoutMs } = queryTarget(kind, req.body);
  const deadline = started + timeoutMs;
  const stored = await deps.gate.check(
    'query',
    { kind, group, name },
    schemaRevision,
    Math.min(deadline, started + deps.schemaWaitMs),
  );
  const gl = groupLayout(deps.cache, group);
  if (!gl) throw errors.notFound(`group ${group} does not exist`);
  // Reads go to the layout's current generation only; `next` is still being built.
  const gen = gl.layout.current;
  const grp = groupAtGeneration(gl.group, gen);
  const planned = planQuery(kind, req.body, stored.resource as Measure | Stream);
  const tokenSeqs = planned.writeToken ? tokenSequences(planned.writeToken, gen.generation) : {};
  const placement = placementSpecOf(grp);
  const ownersOfShard = (shard: number) => (placement ? ownersOf(placement, shard) : []);
  // A query pinned to some series (every entity tag equal to given values) asks only their shards,
  // routed as the generation stores them (a reshape may give it another entity: then ask all).
  const stores = resourceInGeneration(gen, kind, name, stored.resource as Measure | Stream).entity;
  const pinned = sameEntity(stores, planned.plan.entity)
    ? entitySeriesKeys(planned.plan.criteria, planned.plan.entity, planned.plan.tag_types)
    : null;
  // Every shard asked is awaited, so that an `Unavailable` names every shard without a live
  // owner, not just the first to answer (no-responders answers come at once).
  const missing: number[] = [];
  const shards = shardsOfSeries(planned.plan.name, pinned, grp.shards);
  // The only shard asked builds the reply page itself: the answer is encoded once, and the
  // liaison passes it on (a shard of an older version answers its result; merged here then).
  const pageAsked =
    shards.length === 1
      ? {
          schema_revision: stored.mod_revision,
          fingerprint: planned.fingerprint,
          limit: deps.bus.maxPayload(),
          encoding: req.encoding,
          columns: planned.columns,
        }
      : undefined;
  const bodyFor = (shard: number, left: number): ShardQueryRequest => ({
    plan: planned.plan,
    revision: stored.mod_revision,
    min_applied: tokenSeqs[String(shard)] ?? null,
    timeout_ms: Math.max(0, left - REPLY_MARGIN_MS),
    ...(pageAsked ? { page: pageAsked } : {}),
  });
  // The only shard's page goes from its owner to the client, when its owners answered pages lately
  // (forward_gate.ts); a JSON request or one that allows a partial answer always comes back here.
  const only = pageAsked ? deps.subjects.shardQuery(group, shards[0]!, gen.generation) : '';
  if (
    pageAsked &&
    req.reply &&
    req.encoding === 'msgpack' &&
    !planned.allowPartial &&
    forwarding.mayForward(only, deps.clock.monotonic())
  ) {
    const left = deadline - deps.clock.monotonic();
    // Beside the query, a probe: if nobody listens any more, the client gets the Unavailable from here.
    const unanswered = deps.bus.request(only, PROBE, { timeoutMs: Math.max(1, Math.min(left, PROBE_MS)) }).then(
      () => undefined,
      (err: unknown) => {
        if (!isNoResponders(err)) return undefined;
        forwarding.unconfirmed(only);
        return noLiveOwner(group, [shards[0]!], ownersOfShard);
      },
    );
    return forward(deps.bus, only, bodyFor(shards[0]!, left), req, unanswered);
  }
  const outcomes = await Promise.all(
    shards.map(async (shard): Promise<ShardOutcome> => {
      const left = deadline - deps.clock.monotonic();
      const subject = deps.subjects.shardQuery(group, shard, gen.generation);
      try {
        const reply = await callUndecoded(deps.bus, subject, bodyFor(shard, left), {
          timeoutMs: Math.max(1, left),
          ctx: req.ctx,
        });
        if (pageAsked && headerOf(reply.headers, SHARD_PAGE_HEADER)) {
          forwarding.answeredPage(subject, deps.clock.monotonic());
          return { page: reply.data };
        }
        forwarding.unconfirmed(subject);
        return { result: unwrapReply(reply, 'msgpack') as ShardResult };
      } catch (err) {
        const le = toLockstepError(err);
        if (isNoResponders(le)) {
          forwarding.unconfirmed(subject);
          missing.push(shard);
          return {};
        }
        if (le.code === Code.DeadlineExceeded && !le.details) {
          const owners = ownersOfShard(shard).join(', ');
          return {
            error: errors.deadlineExceeded(
              `shard ${group}/${shard} (owners: ${owners}) did not answer within the query's ${timeoutMs} ms`,
              err,
            ),
          };
        }
        return { error: le };
      }
    }),
  );
  missing.sort((a, b) => a - b);
  if (missing.length > 0 && !planned.allowPartial) throw noLiveOwner(group, missing, ownersOfShard);
  const failed = outcomes.find((o) => o.error);
  if (failed) throw failed.error;
  const paged = outcomes.find((o) => o.page);
  if (paged?.page) return new EncodedReply(paged.page);
  const results = outcomes.flatMap((o) => (o.result ? [o.result] : []));
  const merged = mergeShardResults(planned.plan, results);
  // A reply never exceeds one message: a page cut to fit says so (has_more) and how to go on.
  const page = replyPage(
    merged,
    { missing_shards: missing, schema_revision: stored.mod_revision },
    planned.fingerprint,
    deps.bus.maxPayload(),
    req.encoding,
    planned.columns,
  );
  return new EncodedReply(page.bytes);
}

/** `Unavailable` naming every shard without a live owner (ascending) and the owners each has. */
function noLiveOwner(group: string, shards: number[], ownersOfShard: (shard: number) => string[]): LockstepError {
  const owners = Object.fromEntries(shards.map((s) => [String(s), ownersOfShard(s)]));
  // Shards with the same owners are named together: a dead node usually takes several.
  const byOwners = new Map<string, number[]>();
  for (const s of shards) {
    const k = owners[String(s)]!.join(', ') || 'none placed';
    byOwners.set(k, [...(byOwners.get(k) ?? []), s]);
  }
  const named = [...byOwners].map(([o, ss]) => `${ss.map((s) => `${group}/${s}`).join(', ')} (owners: ${o})`);
  const [noun, verb] = shards.length === 1 ? ['shard', 'has'] : ['shards', 'have'];
  return new LockstepError(
    Code.Unavailable,
    `${noun} ${named.join(' and ')} ${verb} no live owner; retry later or ask allow_partial`,
    { details: { group, shards, owners } },
  );
}
