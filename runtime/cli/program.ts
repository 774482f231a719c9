/**
 * The `lockstep` command tree: every command, with usage errors exiting 2, the global options in
 * every `--help`, and an example under each (runtime/cli/examples.ts).
 */
import { Command, type Option } from 'commander';
import { registerAdminCommands, membersCommand } from './admin_cmd.js';
import { registerBackupCommands } from './backup_cmd.js';
import { registerBarrierCommands } from './barrier_cmd.js';
import { clusterCommand } from './cluster_cmd.js';
import { examplesHelp } from './examples.js';
import { DEFAULT_NATS_URL, LOCAL_CLUSTER_DIR } from './global_options.js';
import { registerMigrateCommands } from './migrate_cmd.js';
import { nodeCommand } from './node_cmd.js';
import { registerQueryCommands } from './query_cmd.js';
import { registerSchemaCommands } from './schema_cmd.js';
import { registerWriteCommands } from './write_cmd.js';

/** The path of a command below the root, e.g. `schema create group` (empty for the root). */
export function commandPath(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** Every command of the tree, the root first. */
export function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => allCommands(c))];
}

// The root's options are the global ones (`--nats-url`, `--json`). `node`'s own flags configure a
// node to run, so they are not listed as global under `node status` and the other admin commands.
function globalOptionsOf(cmd: Command): Option[] {
  let root = cmd;
  while (root.parent) root = root.parent;
  if (root === cmd) return [];
  return root.options.filter((o) => !o.hidden && o.long !== '--version');
}

/** Builds the program; `version` is what `--version` prints. */
export function buildProgram(version: string): Command {
  const program = new Command('lockstep')
    .description('Lockstep: a sharded time-series database whose schema changes land in lockstep across the cluster')
    .version(version, '-V, --version', 'print the version of lockstep')
    .option(
      '--nats-url <url>',
      `NATS server URL (env LOCKSTEP_NATS_URL; else the running cluster in ./${LOCAL_CLUSTER_DIR}/cluster.json; else ${DEFAULT_NATS_URL})`,
    )
    .option(
      '--user <name>',
      'NATS user (env LOCKSTEP_NATS_USER); deploy/nats.conf has admin, writer, reader and one per node role',
    )
    .option(
      '--password-file <file>',
      "file holding the NATS user's password (else env LOCKSTEP_NATS_PASSWORD; never on the command line)",
    )
    .option(
      '--creds <file>',
      'NATS credentials file (a user JWT and nkey seed, from nsc) instead of --user (env LOCKSTEP_NATS_CREDS)',
    )
    .option(
      '--inbox-prefix <prefix>',
      'prefix of reply subjects (env LOCKSTEP_NATS_INBOX_PREFIX; default _INBOX.<user>, the only inbox deploy/nats.conf grants that user)',
    )
    .option('--json', 'machine-readable output: one JSON document on stdout, no progress')
    .showHelpAfterError();

  const node = nodeCommand();
  program.addCommand(node);
  registerAdminCommands(node, program);
  const cluster = clusterCommand();
  cluster.addCommand(membersCommand());
  program.addCommand(cluster);
  registerSchemaCommands(program);
  registerBarrierCommands(program);
  registerWriteCommands(program);
  registerQueryCommands(program);
  registerMigrateCommands(program);
  registerBackupCommands(program);

  for (const c of allCommands(program)) {
    // Usage errors must exit 2 from every subcommand, not only the root.
    c.exitOverride();
    c.showHelpAfterError();
    c.configureHelp({ ...c.configureHelp(), showGlobalOptions: true, visibleGlobalOptions: globalOptionsOf });
    const examples = examplesHelp(commandPath(c));
    if (examples !== undefined) c.addHelpText('after', examples);
  }
  return program;
}
