/**
 * WAL lag of one shard owner: the last sequence published on the shard's WAL subject minus the
 * sequence this owner applied. Both are stream sequences (shared by every subject of the WAL
 * stream), so the lag is a distance in the stream, not a count of this shard's records: 0 means
 * caught up, and it shrinks to 0 as the owner applies.
 *
 * Read by polling, never per message: first the owner's consumer info (one small API call, no
 * bodies). The consumer's delivered sequence is NOT the last one on the subject: the WAL stream
 * holds every shard of every group, and once nothing matches its filter the server moves a
 * consumer's delivered sequence on to the end of the stream. With nothing pending it is only an
 * upper bound of the subject's last sequence, which gives three cases:
 * - delivered ≤ applied: everything on the subject is applied, the lag is 0;
 * - delivered unchanged since the previous reading: nothing reached the subject since, so its
 *   published sequence still holds;
 * - otherwise (or while messages are pending) the subject's last message is read from the stream
 *   (one message, and only when the stream moved on).
 */
import type { Bus, DurableConsumer } from '../../transport/bus.js';

/** Default poll interval of the WAL lag (ms). */
export const DEFAULT_WAL_LAG_POLL_MS = 2000;

/** One reading. */
export interface WalLagReading {
  /** The last WAL sequence published on the shard's subject (at least `applied`). */
  published: number;
  /** The sequence this owner applied when the reading was taken. */
  applied: number;
  /** published − applied, never negative. */
  lag: number;
  /** The consumer's delivered stream sequence at this reading (lets the next one skip a read). */
  deliveredSeq: number;
}

/** Where to read a shard's WAL progress. */
export interface WalLagSource {
  bus: Bus;
  consumer: DurableConsumer;
  stream: string;
  subject: string;
  /** The owner's applied sequence, read after the server answered. */
  applied: () => number;
}

/** Reads the shard's WAL lag once; `previous` is the last reading of the same owner, if any. */
export async function readWalLag(src: WalLagSource, previous?: WalLagReading | null): Promise<WalLagReading> {
  const info = await src.consumer.info();
  const delivered = info.deliveredSeq;
  let lastOnSubject: number;
  if (info.pending > 0) lastOnSubject = await src.bus.lastSequence(src.stream, src.subject);
  // Every message on the subject is at or below `delivered`: an owner that applied that far is caught up.
  else if (delivered <= src.applied()) lastOnSubject = 0;
  else if (previous && previous.deliveredSeq === delivered) lastOnSubject = previous.published;
  else lastOnSubject = await src.bus.lastSequence(src.stream, src.subject);
  // Read after the server's answer: an owner that applied everything since reports 0, not < 0.
  const applied = src.applied();
  const published = Math.max(lastOnSubject, applied);
  return { published, applied, lag: published - applied, deliveredSeq: delivered };
}
