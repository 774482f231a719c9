/**
 * Admin of running nodes: `lockstep node pause-watch|resume-watch|actors|status NAME`, and the
 * `members` command that the caller attaches under `cluster`.
 */
import { Command } from 'commander';
import { checkNodeName } from '../../transport/client.js';
import { runCommand, table } from './output.js';

/** Adds the admin subcommands to `node`. `program` is the root (nothing is added to it). */
export function registerAdminCommands(nodeCommand: Command, _program: Command): void {
  nodeCommand
    .command('pause-watch')
    .description("pause a node's schema watcher: schema events queue until resume-watch")
    .argument('<name>', 'node name')
    .action((name: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const r = await (await client()).pauseWatch(checkNodeName(name));
        out.result(r, () => `paused the schema watch of ${r.node} at revision ${r.revision}`);
      }),
    );

  nodeCommand
    .command('resume-watch')
    .description("resume a node's schema watcher; queued events are applied in order")
    .argument('<name>', 'node name')
    .action((name: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const r = await (await client()).resumeWatch(checkNodeName(name));
        out.result(r, () => `resumed the schema watch of ${r.node} at revision ${r.revision}`);
      }),
    );

  nodeCommand
    .command('actors')
    .description("list a node's actors with their lifecycle, thread and restarts")
    .argument('<name>', 'node name')
    .action((name: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const r = await (await client()).actors(checkNodeName(name));
        out.result(r, () => [
          `node ${r.node} (pid ${r.pid}, metrics ${r.metrics_port === null ? 'off' : `http://127.0.0.1:${r.metrics_port}/metrics`})`,
          ...table(
            ['ID', 'KIND', 'LIFECYCLE', 'THREAD', 'RESTARTS'],
            r.actors.map((a) => [
              a.id,
              a.kind,
              a.restarting ? `${a.lifecycle} (restarting)` : a.lifecycle,
              a.threadId === undefined ? '-' : String(a.threadId),
              String(a.restarts),
            ]),
          ),
        ]);
      }),
    );

  nodeCommand
    .command('status')
    .description("show a node's applied schema revision")
    .argument('<name>', 'node name')
    .action((name: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const r = await (await client()).maxRevision(checkNodeName(name));
        out.result(r, () => `node ${r.node} applied revision ${r.revision}`);
      }),
    );
}

/** The `members` command: the cluster's members as a liaison sees them (attach under `cluster`). */
export function membersCommand(): Command {
  return new Command('members')
    .description('list cluster members with their roles and state')
    .action((_o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const r = await (await client()).members();
        out.result(r, () =>
          r.members.length === 0
            ? 'no members'
            : table(
                ['NAME', 'ROLES', 'STATE'],
                r.members.map((m) => [m.name, m.roles.join(','), m.state]),
              ),
        );
      }),
    );
}
