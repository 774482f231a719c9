/**
 * The "applied up to" answer of one shard owner (transport/backfill_types.ts, CaughtUpRequest),
 * served on a subject naming this node, so the claimer can ask every owner of a shard, not just
 * one: a query may go to any of them once reads switch generations.
 */
import type { CaughtUpReply, CaughtUpRequest } from '../../transport/backfill_types.js';
import type { Bus, Subscription } from '../../transport/bus.js';
import { errors } from '../../transport/errors.js';
import { serve } from '../../transport/rpc.js';
import type { Subjects } from '../../transport/subjects.js';
import type { ShardActor } from './shard_actor.js';

/** Longest wait one request may ask for (ms); the claimer asks again. */
const MAX_WAIT_MS = 60_000;

/** Serves the caught-up question for one owned (group, generation, shard). */
export function serveCaughtUp(
  actor: ShardActor,
  where: { bus: Bus; subjects: Subjects; node: string; group: string; generation: number; shard: number },
): Subscription {
  return serve(
    where.bus,
    where.subjects.shardCaughtUp(where.group, where.shard, where.generation, where.node),
    async (req): Promise<CaughtUpReply> => {
      const r = req.body as CaughtUpRequest;
      const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
      if (!r || typeof r !== 'object' || !int(r.seq) || !int(r.timeout_ms)) {
        throw errors.invalidArgument('not a caught-up request: {seq, timeout_ms} (transport/backfill_types.ts)');
      }
      if (r.flush !== undefined && typeof r.flush !== 'boolean')
        throw errors.invalidArgument('flush must be a boolean');
      if (r.settle_ms !== undefined && !int(r.settle_ms))
        throw errors.invalidArgument('settle_ms must be a whole number of milliseconds');
      const caughtUp = await actor.waitApplied(r.seq, Math.min(r.timeout_ms, MAX_WAIT_MS));
      if (caughtUp && r.flush) await actor.flushNow();
      const reply: CaughtUpReply = { node: where.node, applied: actor.appliedSequence, caught_up: caughtUp };
      if (r.settle_ms !== undefined)
        reply.settled = caughtUp && (await actor.mergesIdle(Math.min(r.settle_ms, MAX_WAIT_MS)));
      return reply;
    },
    { spanName: 'shard.caught_up', attributes: { 'lockstep.group': where.group, 'lockstep.shard': where.shard } },
  );
}
