/** The chaos run's schedule (test/chaos/schedule.ts): seeded, one victim at a time, inside the run. */
import assert from 'node:assert/strict';
import { chaosSchedule, victimName, type ChaosEvent, type ScheduleSpec } from '../chaos/schedule.js';
import { runSeed } from '../harness/random.js';

const SPEC: Omit<ScheduleSpec, 'seed'> = {
  durationMs: 60_000,
  settleMs: 10_000,
  nodes: ['l1', 'l2', 'd1', 'd2', 'd3', 'c1', 'c2'],
  natsServers: 3,
  gapMs: [1000, 3000],
  downMs: [500, 4000],
};

/** Each kill after the previous victim's return plus the least gap, every down time in range, all back before the settle time. */
function assertOneAtATime(spec: Omit<ScheduleSpec, 'seed'>, events: ChaosEvent[], seed: number): void {
  let free = 0;
  for (const e of events) {
    assert.ok(e.atMs >= free + spec.gapMs[0], `seed ${seed}: ${victimName(e.victim)} killed while another is down`);
    assert.ok(e.downMs >= spec.downMs[0] && e.downMs <= spec.downMs[1], `seed ${seed}: down ${e.downMs}`);
    free = e.atMs + e.downMs;
    assert.ok(free <= spec.durationMs - spec.settleMs, `seed ${seed}: a victim still down in the settle time`);
  }
}

describe('chaos schedule', () => {
  const seed = runSeed('CHAOS_SCHEDULE_SEED');

  it('the same seed gives the same schedule; another seed another one', () => {
    assert.deepEqual(chaosSchedule({ ...SPEC, seed }), chaosSchedule({ ...SPEC, seed }));
    assert.notDeepEqual(chaosSchedule({ ...SPEC, seed }), chaosSchedule({ ...SPEC, seed: seed + 1 }));
  });

  it('one victim down at a time, all back before the settle time, every kind of victim drawn over many seeds', () => {
    const seen = new Set<string>();
    for (let s = seed; s < seed + 200; s++) {
      const events = chaosSchedule({ ...SPEC, seed: s });
      assert.ok(events.length > 0, `seed ${s}: no fault`);
      assertOneAtATime(SPEC, events, s);
      for (const e of events) seen.add(victimName(e.victim));
    }
    assert.deepEqual([...seen].sort(), [...SPEC.nodes, 'nats-1', 'nats-2', 'nats-3'].sort());
  });

  it('minFaults: a short run gets at least that many faults on every seed, still one at a time', () => {
    // The short chaos run's window: 9 s of faults, each up to 3 s down with gaps up to 3 s, where
    // unnarrowed draws leave some seeds a single fault.
    const short = { ...SPEC, durationMs: 12_000, settleMs: 3_000, downMs: [500, 3000] as [number, number] };
    const unnarrowed = Array.from({ length: 500 }, (_, i) => chaosSchedule({ ...short, seed: seed + i }).length);
    assert.ok(Math.min(...unnarrowed) < 2, 'the window is tight enough that the floor matters');
    for (let s = seed; s < seed + 500; s++) {
      const events = chaosSchedule({ ...short, seed: s, minFaults: 2 });
      assert.ok(events.length >= 2, `seed ${s}: ${events.length} faults`);
      assertOneAtATime(short, events, s);
    }
    // Six faults fill the 9 s exactly at their shortest; seven cannot fit.
    assert.equal(chaosSchedule({ ...short, seed, minFaults: 6 }).length, 6);
    assert.throws(() => chaosSchedule({ ...short, seed, minFaults: 7 }), RangeError);
  });
});
