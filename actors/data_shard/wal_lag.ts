/**
 * WAL lag of one shard owner: the last sequence published on the shard's WAL subject minus the
 * sequence this owner applied. Both are stream sequences (shared by every subject of the WAL
 * stream), so the lag is a distance in the stream, not a count of this shard's records: 0 means
 * caught up, and it shrinks to 0 as the owner applies.
 *
 * Read by polling, never per message: first the owner's consumer info (one small API call, no
 * bodies). When the server has nothing left to deliver, the last message on the subject is the
 * last one delivered; only while messages are pending is the subject's last message read from the
 * stream (one message, and only while lagging).
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

/** Reads the shard's WAL lag once. */
export async function readWalLag(src: WalLagSource): Promise<WalLagReading> {
  const info = await src.consumer.info();
  const lastOnSubject = info.pending > 0 ? await src.bus.lastSequence(src.stream, src.subject) : info.deliveredSeq;
  // Read after the server's answer: an owner that applied everything since reports 0, not < 0.
  const applied = src.applied();
  const published = Math.max(lastOnSubject, applied);
  return { published, applied, lag: published - applied };
}
