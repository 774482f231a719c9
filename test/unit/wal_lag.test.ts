/**
 * readWalLag: the consumer's delivered sequence is only an upper bound of the subject's last one
 * (the WAL stream holds every shard of every group). A shard is caught up when it applied that
 * far; an unchanged delivered sequence reuses the previous reading; otherwise, and while something
 * is pending, the subject's last message gives the published sequence. The lag never goes negative.
 */
import assert from 'node:assert/strict';
import { readWalLag, type WalLagReading, type WalLagSource } from '../../actors/data_shard/wal_lag.js';
import type { Bus, DurableConsumer } from '../../transport/bus.js';

function source(
  info: { pending: number; deliveredSeq: number },
  lastOnSubject: number,
  applied: number,
): WalLagSource & { lastReads: number } {
  const src = {
    lastReads: 0,
    bus: { lastSequence: async () => (src.lastReads++, lastOnSubject) } as unknown as Bus,
    consumer: { info: async () => info } as unknown as DurableConsumer,
    stream: 'lockstep_wal',
    subject: 'lockstep.wal.g.0',
    applied: () => applied,
  };
  return src;
}

/** A reading without the bookkeeping field, for comparisons. */
async function lagOf(src: WalLagSource, previous?: WalLagReading): Promise<Omit<WalLagReading, 'deliveredSeq'>> {
  const { published, applied, lag } = await readWalLag(src, previous);
  return { published, applied, lag };
}

describe('wal lag', () => {
  it('wal lag - a subject never written reads 0 while other subjects of the stream are written', async () => {
    // The server moved the idle consumer's delivered sequence to the end of the stream (80).
    const src = source({ pending: 0, deliveredSeq: 80 }, 0, 0);
    assert.deepEqual(await lagOf(src), { published: 0, applied: 0, lag: 0 });
    assert.equal(src.lastReads, 1);
  });

  it('wal lag - a caught-up shard reads 0 when a later write went to another subject', async () => {
    const src = source({ pending: 0, deliveredSeq: 80 }, 79, 79);
    assert.deepEqual(await lagOf(src), { published: 79, applied: 79, lag: 0 });
  });

  it('wal lag - records delivered but held (nothing pending) give the subject last sequence', async () => {
    const src = source({ pending: 0, deliveredSeq: 40 }, 35, 31);
    assert.deepEqual(await lagOf(src), { published: 35, applied: 31, lag: 4 });
    assert.equal(src.lastReads, 1);
  });

  it('wal lag - applied up to the delivered sequence: caught up, no message read', async () => {
    const src = source({ pending: 0, deliveredSeq: 40 }, 40, 40);
    assert.deepEqual(await lagOf(src), { published: 40, applied: 40, lag: 0 });
    assert.equal(src.lastReads, 0);
  });

  it('wal lag - an unchanged delivered sequence reuses the previous reading, no message read', async () => {
    const first = await readWalLag(source({ pending: 0, deliveredSeq: 80 }, 12, 12));
    const src = source({ pending: 0, deliveredSeq: 80 }, 99, 12);
    assert.deepEqual(await readWalLag(src, first), { published: 12, applied: 12, lag: 0, deliveredSeq: 80 });
    assert.equal(src.lastReads, 0);
    // The stream moved on: read again.
    const moved = source({ pending: 0, deliveredSeq: 81 }, 81, 12);
    assert.deepEqual(await readWalLag(moved, first), { published: 81, applied: 12, lag: 69, deliveredSeq: 81 });
    assert.equal(moved.lastReads, 1);
  });

  it("wal lag - messages pending: the subject's last message gives the published sequence", async () => {
    const src = source({ pending: 3, deliveredSeq: 40 }, 57, 31);
    assert.deepEqual(await lagOf(src), { published: 57, applied: 31, lag: 26 });
    assert.equal(src.lastReads, 1);
  });

  it('wal lag - an owner ahead of the reading (or a fresh consumer) reports 0, never negative', async () => {
    assert.deepEqual(await lagOf(source({ pending: 0, deliveredSeq: 0 }, 0, 12)), {
      published: 12,
      applied: 12,
      lag: 0,
    });
  });
});
