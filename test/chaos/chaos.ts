/**
 * `npm run chaos -- [--duration 60s] [--seed N] [--report FILE]`: the chaos run of chaos_run.ts.
 * Prints the JSON report; exits 1 when a check failed, naming the seed that replays the schedule.
 */
import { randomInt } from 'node:crypto';
import { Command } from 'commander';
import { duration, integer, opt, parseFlags, path, runBenchScript } from '../bench/bench_cli.js';
import { runChaos } from './chaos_run.js';

interface ChaosArgs {
  durationMs: number;
  seed: number;
  report?: string;
}

function program(): Command {
  return new Command('chaos')
    .description(
      'chaos run: 3 nats-servers, 2 liaisons, 3 data nodes and 2 claimers under write, query and schema load ' +
        'while a seeded schedule SIGKILLs and restarts one process at a time; then checks nothing was lost',
    )
    .addOption(
      opt(
        '--duration <duration>',
        'length of the load and the faults',
        duration('--duration', false, { ms: 3_600_000, text: '1h' }),
        60_000,
        '60s',
      ),
    )
    .addOption(
      opt(
        '--seed <n>',
        'seed of the fault schedule (default: a fresh one, printed)',
        integer('--seed', 0, 2 ** 32 - 1),
      ),
    )
    .addOption(opt('--report <file>', 'also write the JSON report to this file', path('--report')));
}

await runBenchScript<ChaosArgs>(
  'chaos',
  (argv) => {
    const a = parseFlags<{ duration: number; seed?: number; report?: string }>(program(), argv);
    return { durationMs: a.duration, seed: a.seed ?? randomInt(0, 2 ** 32), report: a.report };
  },
  async (args) => {
    process.stderr.write(`chaos: seed ${args.seed} (replay with --seed ${args.seed})\n`);
    const report = await runChaos({
      seed: args.seed,
      durationMs: args.durationMs,
      log: (l) => process.stderr.write(`chaos: ${l}\n`),
    });
    if (!report.ok) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      throw new Error(`a check failed (seed ${args.seed}): ${JSON.stringify(report.checks)}`);
    }
    return report;
  },
);
