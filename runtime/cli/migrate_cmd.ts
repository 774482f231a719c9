/**
 * `lockstep migrate …`: plan, start and follow migrations — one schema change run over an ordered
 * list of groups (DESIGN §9) — and ask for their cutover, stop, resume, cancel or release. The
 * spec file and the ids are checked before connecting; the server validates the rest.
 */
import type { Command } from 'commander';
import { Code, LockstepError, toLockstepError } from '../../transport/errors.js';
import { checkMigrationId, type MigrationClient } from '../../transport/migration_client.js';
import type { MigrationSpec, MigrationStatus } from '../../transport/migration_types.js';
import { checkName } from '../../transport/schema_types.js';
import { averageRate, intentLine, listLines, planLines, statusLines } from './migrate_format.js';
import { readMigrationSpec } from './migrate_spec.js';
import { EXIT_NOT_COMPLETED, watchMigration } from './migrate_watch.js';
import { runCommand } from './output.js';
import { progressEnabled } from './progress.js';

type Opts = { file?: string; watch?: boolean; target?: string };

const FILE_FLAG = '-f, --file <file>';
const FILE_DESC = 'the migration spec (YAML): targets, policy, on_failure, defer_cutover, change';

/** Sends a spec read from `file`; the server's `InvalidArgument` names the file it came from. */
async function withSpec<T>(file: string, send: (spec: MigrationSpec) => Promise<T>): Promise<T> {
  const spec = readMigrationSpec(file);
  return send(spec).catch((err: unknown) => {
    const le = toLockstepError(err);
    if (le.code !== Code.InvalidArgument) throw le;
    throw new LockstepError(le.code, `${file}: ${le.message}`, { details: le.details });
  });
}

type IntentVerb = 'stop' | 'resume' | 'cancel' | 'release';

const INTENTS: Record<
  IntentVerb,
  { desc: string; send: (m: MigrationClient, id: string) => Promise<MigrationStatus> }
> = {
  stop: { desc: 'stop a migration where it is (resume takes it up again)', send: (m, id) => m.stop(id) },
  resume: { desc: 'resume a stopped migration', send: (m, id) => m.resume(id) },
  cancel: {
    desc: 'cancel a migration: targets not yet cut over drop their new layout; no automatic rollback of those cut over',
    send: (m, id) => m.cancel(id),
  },
  release: {
    desc: 'under on_failure: pause, let the targets after a failed one go on',
    send: (m, id) => m.release(id),
  },
};

/** Adds `migrate` and its subcommands to the program. */
export function registerMigrateCommands(program: Command): void {
  const migrate = program
    .command('migrate')
    .description('run one schema change over an ordered list of groups, with ordered cutover');

  migrate
    .command('plan')
    .description('show what a spec would do per target (instant or rewrite, why, rows to copy); starts nothing')
    .requiredOption(FILE_FLAG, FILE_DESC)
    .action((o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const file = String(o.file);
        const r = await withSpec(file, async (spec) => (await client()).migrations.plan(spec));
        out.result(r, () => planLines(r));
      }),
    );

  migrate
    .command('start')
    .description('start a migration from a spec; prints its id alone (--json: its status)')
    .requiredOption(FILE_FLAG, FILE_DESC)
    .action((o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const file = String(o.file);
        const s = await withSpec(file, async (spec) => (await client()).migrations.start(spec));
        out.result(s, () => s.id);
      }),
    );

  migrate
    .command('status')
    .description(
      `show a migration per target: state, progress, rate, ETA, lease owner; --watch follows it until it ends ` +
        `(exit 0 completed, ${EXIT_NOT_COMPLETED} failed, cancelled or stopped, 2 error)`,
    )
    .argument('<id>', 'the migration id')
    .option('-w, --watch', 'follow the migration until it ends; with --json, one event per line')
    .action((id: string, o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        checkMigrationId(id);
        const migrations = (await client()).migrations;
        if (o.watch) {
          return watchMigration(migrations, id, {
            mode: out.json ? 'json' : progressEnabled(false, process.stdout, process.env.TERM) ? 'live' : 'plain',
            stream: process.stdout,
            warn: (line) => process.stderr.write(`${line}\n`),
            now: () => Date.now(),
          });
        }
        const s = await migrations.status(id);
        out.result(s, () => statusLines(s, averageRate(Date.now())));
      }),
    );

  migrate
    .command('list')
    .description('list migrations, newest first')
    .action((_o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const migrations = await (await client()).migrations.list();
        out.result({ migrations }, () => listLines(migrations));
      }),
    );

  migrate
    .command('cutover')
    .description('cut over the next target of a migration started with defer_cutover: true')
    .argument('<id>', 'the migration id')
    .option('--target <group>', 'only if this group is the one whose turn it is')
    .action((id: string, o: Opts, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        checkMigrationId(id);
        if (o.target !== undefined) checkName(o.target, 'target');
        const s = await (await client()).migrations.cutover(id, o.target);
        out.result(s, () => intentLine('cutover', s, o.target));
      }),
    );

  for (const verb of Object.keys(INTENTS) as IntentVerb[]) {
    migrate
      .command(verb)
      .description(INTENTS[verb].desc)
      .argument('<id>', 'the migration id')
      .action((id: string, _o: Opts, cmd: Command) =>
        runCommand(cmd, async ({ out, client }) => {
          checkMigrationId(id);
          const s = await INTENTS[verb].send((await client()).migrations, id);
          out.result(s, () => intentLine(verb, s));
        }),
      );
  }
}
