/**
 * Eviction of a member that already converged (1 liaison + 2 data nodes, separate processes): the
 * barrier keeps watching every member until the call ends, so a data node that had applied the key
 * and is killed with SIGKILL while the call waits on another is still reported, exactly once.
 */
import assert from 'node:assert/strict';
import type { MembersReply } from '../../transport/api_types.js';
import type { BusMessage } from '../../transport/bus.js';
import { decode } from '../../transport/codec.js';
import type { KeyRevisionsReply } from '../../transport/status_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { TestCluster } from '../harness/cluster.js';
import { exitWithin, waitFor } from '../harness/wait.js';

const S = subjectsFor();

describe('cluster barrier eviction of a converged member (1 liaison + 2 data nodes)', function () {
  this.timeout(120_000);
  let c: TestCluster;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2 });
    await c.createGroup('ge');
  });
  after(async () => {
    await c?.stop();
  });

  it('barrier - a member killed after it converged is reported once as evicted_during_poll', async () => {
    const key = 'measure:ge/cpu';
    const applied = async (node: string) =>
      (await c.status<KeyRevisionsReply>(node, 'key_revisions', { keys: [key] })).keys[0]!.present;
    await c.control('d2', 'pause_watch');
    let resumed = false;
    try {
      const m = await c.createMeasure('ge', 'cpu');
      await waitFor(() => applied('d1'), { what: 'd1 applied the measure' });
      assert.equal(await applied('d2'), false, 'd2 is paused');

      // Sees the call's probe of d1 and d1's answer, so d1 is killed only once the call has it
      // converged (killed earlier, it would be a laggard for another reason). The reply is on the
      // server before d1 dies, so the liaison gets it whatever happens to d1.
      const probeReplies = new Set<string>();
      let converged = false;
      const subs = [
        c.bus.subscribe(S.node.status('d1', 'key_revisions'), (msg) => {
          if (msg.reply) probeReplies.add(msg.reply);
        }),
        c.bus.subscribe('_INBOX.>', (msg: BusMessage) => {
          if (!probeReplies.has(msg.subject)) return;
          const reply = decode(msg.data) as KeyRevisionsReply;
          if (reply.keys?.[0]?.present === true) converged = true;
        }),
      ];
      try {
        await c.bus.flush();
        const pending = c.barrier('applied', { keys: [key], min_revisions: [m.revision] }, 30_000);
        await waitFor(() => converged, { what: "d1's answer to the call: the key is applied" });
        c.lc.kill('d1', 'SIGKILL');
        assert.notEqual(await exitWithin(c.lc.nodes.get('d1')!.exited, 15_000, 'd1'), 0);
        // The liaison sees d1 go silent (Evictable) while the call still waits on d2…
        await waitFor(
          async () =>
            (await c.api<MembersReply>(S.api.members, {})).members.find((x) => x.name === 'd1')?.state !== 'active',
          { what: 'd1 no longer Active on the liaison' },
        );
        // …then d2 applies the key, and the call ends applied.
        await c.control('d2', 'resume_watch');
        resumed = true;
        const r = await pending;
        assert.equal(r.applied, true);
        assert.deepEqual(r.laggards, [{ node: 'data-d1', reason: 'evicted_during_poll' }]);
      } finally {
        for (const s of subs) s.unsubscribe();
      }
    } finally {
      if (!resumed) await c.control('d2', 'resume_watch');
    }
  });
});
