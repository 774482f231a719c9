/**
 * readWalLag: the published sequence comes from the consumer's info when nothing is pending, from
 * the subject's last message only while something is; the lag never goes negative.
 */
import assert from 'node:assert/strict';
import { readWalLag, type WalLagSource } from '../../actors/data_shard/wal_lag.js';
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

describe('wal lag', () => {
  it('wal lag - nothing pending: the last delivered message is the last published, no message read', async () => {
    const src = source({ pending: 0, deliveredSeq: 40 }, 99, 31);
    assert.deepEqual(await readWalLag(src), { published: 40, applied: 31, lag: 9 });
    assert.equal(src.lastReads, 0);
  });

  it("wal lag - messages pending: the subject's last message gives the published sequence", async () => {
    const src = source({ pending: 3, deliveredSeq: 40 }, 57, 31);
    assert.deepEqual(await readWalLag(src), { published: 57, applied: 31, lag: 26 });
    assert.equal(src.lastReads, 1);
  });

  it('wal lag - an owner ahead of the reading (or a fresh consumer) reports 0, never negative', async () => {
    assert.deepEqual(await readWalLag(source({ pending: 0, deliveredSeq: 0 }, 0, 12)), {
      published: 12,
      applied: 12,
      lag: 0,
    });
  });
});
