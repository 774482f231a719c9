/**
 * The chaos run's short version (test/chaos/chaos_run.ts; `npm run chaos` runs longer ones): 3
 * nats-servers, 2 liaisons, 3 data nodes and 2 claimers under load while a seeded schedule
 * SIGKILLs and restarts one process at a time. Every check of the run must hold; a failure names
 * the seed (`CHAOS_SEED=<n>` replays its schedule).
 */
import assert from 'node:assert/strict';
import { runChaos } from '../chaos/chaos_run.js';
import { runSeed } from '../harness/random.js';

describe('chaos run, short (3 nats-servers, 2 liaisons, 3 data nodes, 2 claimers)', function () {
  this.timeout(180_000);
  const seed = runSeed('CHAOS_SEED');

  it(`chaos - processes SIGKILLed one at a time under load: nothing lost, nothing refused stored, all converge (seed ${seed})`, async () => {
    const report = await runChaos({ seed, durationMs: 12_000, minFaults: 2 });
    assert.ok(report.faults.length >= 2, `at least two faults: ${JSON.stringify(report.faults)}`);
    assert.ok(report.writes.acked_points > 0 && report.refused.batches > 0, JSON.stringify(report.writes));
    assert.deepEqual(
      report.checks,
      {
        acked_points_once: true,
        refused_absent: true,
        barrier_converged: true,
        every_node_answers: true,
        wal_bounded: true,
      },
      `seed ${seed}: ${JSON.stringify(report)}`,
    );
    assert.equal(report.writes.given_up, 0, `seed ${seed}: ${JSON.stringify(report.writes)}`);
  });
});
