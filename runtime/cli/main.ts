/** The `lockstep` command line. */
import { Command, CommanderError } from 'commander';
import { registerAdminCommands, membersCommand } from './admin_cmd.js';
import { registerBarrierCommands } from './barrier_cmd.js';
import { clusterCommand } from './cluster_cmd.js';
import { DEFAULT_NATS_URL } from './global_options.js';
import { nodeCommand } from './node_cmd.js';
import { registerQueryCommands } from './query_cmd.js';
import { registerSchemaCommands } from './schema_cmd.js';
import { registerWriteCommands } from './write_cmd.js';

const program = new Command('lockstep')
  .description('Lockstep: a sharded time-series database whose schema changes land in lockstep across the cluster')
  .option('--nats-url <url>', `NATS server URL (env LOCKSTEP_NATS_URL, default ${DEFAULT_NATS_URL})`)
  .option('--json', 'machine-readable output')
  .showHelpAfterError()
  .exitOverride();

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

// Usage errors must exit 2 from every subcommand, not only the root.
const override = (c: Command): void => {
  c.exitOverride();
  c.commands.forEach(override);
};
override(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; usage errors exit 2 (commander already printed the message).
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`lockstep: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
