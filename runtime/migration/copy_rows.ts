/**
 * What a rewrite's copy will read, asked over the bus alike by the liaison's `plan` (the rows it
 * shows) and the claimer's layout drive (the copy's `rows_total`): where each shard's WAL of a
 * generation ends now, and how many rows one owner of a shard holds once it applied its WAL up to
 * a sequence (transport/backfill_types.ts `BackfillCountRequest`).
 */
import type { BackfillCountRequest, BackfillReply } from '../../transport/backfill_types.js';
import type { Bus } from '../../transport/bus.js';
import type { LayoutGeneration } from '../../transport/layout_types.js';
import { call } from '../../transport/rpc.js';
import type { Subjects } from '../../transport/subjects.js';

/** Time kept for a count's reply to travel, past the owner's own budget. */
const REPLY_MARGIN_MS = 1000;

/** The last WAL sequence of every shard of `gen` of `group`, in shard order. */
export function walEnds(
  bus: Bus,
  subjects: Subjects,
  group: string,
  gen: Pick<LayoutGeneration, 'generation' | 'shards'>,
): Promise<number[]> {
  return Promise.all(
    Array.from({ length: gen.shards }, (_, s) =>
      bus.lastSequence(subjects.walStream, subjects.wal(group, s, gen.generation)),
    ),
  );
}

/** The rows one owner of `shard` (of generation `generation`) holds once it applied its WAL up to `untilSeq`. */
export async function shardRows(
  bus: Bus,
  subjects: Subjects,
  group: string,
  generation: number,
  shard: number,
  untilSeq: number,
  timeoutMs: number,
): Promise<number> {
  const body: BackfillCountRequest = { count_only: true, until_seq: untilSeq, timeout_ms: timeoutMs };
  const r = await call<BackfillReply>(bus, subjects.shardBackfill(group, shard, generation), body, {
    timeoutMs: timeoutMs + REPLY_MARGIN_MS,
  });
  return r.rows;
}
