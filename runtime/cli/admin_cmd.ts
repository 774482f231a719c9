/**
 * Admin of running nodes: `lockstep node pause-watch|resume-watch|actors|status NAME`, and the
 * `members` command that the caller attaches under `cluster`.
 */
import { Command } from 'commander';
import { checkNodeName, type LockstepClient } from '../../transport/client.js';
import { errors, isNoResponders, type LockstepError } from '../../transport/errors.js';
import { runCommand, table } from './output.js';

/** The error for a node name nothing answers to, naming the members a liaison knows. */
async function unknownNode(lc: LockstepClient, node: string): Promise<LockstepError> {
  let members: string;
  try {
    const names = (await lc.members()).members.map((m) => m.name).sort();
    members = names.length > 0 ? `members: ${names.join(', ')}` : 'the cluster has no members';
  } catch {
    members = 'members unknown: no liaison answers';
  }
  return errors.notFound(`no node named ${node} answers (${members})`, { node });
}

/**
 * Calls a node's own service. Nobody serving its subject means no node by that name runs:
 * reported as `NotFound` naming the members, not as NATS's `no responders`.
 */
async function onNode<T>(lc: LockstepClient, node: string, call: (node: string) => Promise<T>): Promise<T> {
  try {
    return await call(node);
  } catch (err) {
    if (isNoResponders(err)) throw await unknownNode(lc, node);
    throw err;
  }
}

/** Adds the admin subcommands to `node`. `program` is the root (nothing is added to it). */
export function registerAdminCommands(nodeCommand: Command, _program: Command): void {
  nodeCommand
    .command('pause-watch')
    .description("pause a node's schema watcher: schema events queue until resume-watch")
    .argument('<name>', 'node name')
    .action((name: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const node = checkNodeName(name); // before connecting: a bad name sends nothing
        const lc = await client();
        const r = await onNode(lc, node, (n) => lc.pauseWatch(n));
        out.result(r, () => `paused the schema watch of ${r.node} at revision ${r.revision}`);
      }),
    );

  nodeCommand
    .command('resume-watch')
    .description("resume a node's schema watcher; queued events are applied in order")
    .argument('<name>', 'node name')
    .action((name: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const node = checkNodeName(name); // before connecting: a bad name sends nothing
        const lc = await client();
        const r = await onNode(lc, node, (n) => lc.resumeWatch(n));
        out.result(r, () => `resumed the schema watch of ${r.node} at revision ${r.revision}`);
      }),
    );

  nodeCommand
    .command('actors')
    .description("list a node's actors with their lifecycle, thread and restarts")
    .argument('<name>', 'node name')
    .action((name: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const node = checkNodeName(name); // before connecting: a bad name sends nothing
        const lc = await client();
        const r = await onNode(lc, node, (n) => lc.actors(n));
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
        const node = checkNodeName(name); // before connecting: a bad name sends nothing
        const lc = await client();
        const r = await onNode(lc, node, (n) => lc.maxRevision(n));
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
