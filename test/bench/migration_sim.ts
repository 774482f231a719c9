/**
 * More seeds of the migration claimers' simulation than the suite runs (it runs 500):
 * `npm run sim:migrations -- [--runs 20000] [--seed N]`. Prints a JSON report; exits 1 when a seed
 * broke an invariant, naming it with the command that replays it.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { simulate } from '../harness/migration_sim.js';

const USAGE = 'usage: npm run sim:migrations -- [--runs N ≥ 1 (default 20000)] [--seed N ≥ 0 (default random)]\n';
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20000' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const runs = Number(values.runs);
const base = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed);
if (!Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(base) || base < 0) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const t0 = performance.now();
const failures: { seed: number; violation: string; replay: string }[] = [];
const ended: Record<string, number> = {};
for (let i = 0; i < runs; i++) {
  const seed = (base + i) >>> 0;
  const r = await simulate(seed);
  ended[r.final] = (ended[r.final] ?? 0) + 1;
  if (!r.ok) {
    failures.push({
      seed,
      violation: r.violation ?? '',
      replay: `LOCKSTEP_SIM_SEED=${seed} LOCKSTEP_SIM_RUNS=1 npx mocha test/unit/migration_simulation.test.ts`,
    });
  }
}
const seconds = (performance.now() - t0) / 1000;
const report = {
  runs,
  first_seed: base,
  failures,
  ended,
  seconds,
  ms_per_run: (seconds * 1000) / runs,
  cores: availableParallelism(),
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exit(failures.length > 0 ? 1 : 0);
