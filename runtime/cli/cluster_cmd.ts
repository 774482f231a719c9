/** `lockstep cluster up`: a local cluster in one command. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { errors, LockstepError } from '../../transport/errors.js';
import { LocalCluster } from '../local_cluster.js';
import { authEnv, redactUrl, type NatsAuth } from '../../transport/nats_auth.js';
import { LOCAL_CLUSTER_DIR, resolveNatsAuth } from './global_options.js';
import { EXIT_ERROR, Output } from './output.js';
import { progressEnabled, StartProgress } from './progress.js';

function count(what: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${what} must be an integer ≥ ${min} (got ${JSON.stringify(v)})`);
    return n;
  };
}

/** The lines `cluster up` prints once the cluster runs: where it is and how other commands reach it. */
export function startedLines(lc: LocalCluster, cwd: string): string[] {
  const url = redactUrl(lc.natsUrl);
  // A password is never printed: the user has it, and cluster.json (mode 0600) holds it.
  const exported = `export LOCKSTEP_NATS_URL=${url}${url === lc.natsUrl ? '' : ' (with the real password)'}`;
  const here = resolve(lc.opts.dir) === resolve(cwd, LOCAL_CLUSTER_DIR);
  return [
    `NATS: ${url}`,
    ...[...lc.nodes.values()].map((n) => `node ${n.name} (${n.roles.join(',')}) pid ${n.pid}`),
    `cluster.json and logs in ${lc.opts.dir}; Ctrl-C stops the cluster`,
    here
      ? `lockstep commands run in ${cwd} use this cluster (through ${LOCAL_CLUSTER_DIR}/cluster.json); elsewhere: ${exported}`
      : `to use it: ${exported}`,
  ];
}

/** The `cluster` command with `up` (further subcommands are attached by the caller). */
export function clusterCommand(): Command {
  const cluster = new Command('cluster').description('local clusters and membership');
  cluster
    .command('up')
    .description(
      'start a local cluster: its own nats-server (unless --nats-url) and the node processes; Ctrl-C stops it. ' +
        "Refused while the directory's cluster.json names a cluster that still runs",
    )
    .option('--dir <dir>', 'directory for cluster.json, logs, data and the NATS store', './.lockstep')
    .option('--liaisons <n>', 'liaison nodes', count('--liaisons', 1), 1)
    .option('--data-nodes <n>', 'data nodes', count('--data-nodes', 0), 2)
    .option('--claimers <n>', 'claimer nodes', count('--claimers', 0), 1)
    .option(
      '--nats-servers <n>',
      'nats-servers to start (not with --nats-url): 3 or more form a JetStream cluster on loopback whose ' +
        'streams get 3 replicas, so it survives the loss of one',
      count('--nats-servers', 1),
      1,
    )
    .action(
      async (
        opts: { dir: string; liaisons: number; dataNodes: number; claimers: number; natsServers: number },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals() as {
          natsUrl?: string;
          json?: boolean;
          user?: string;
          passwordFile?: string;
          inboxPrefix?: string;
          creds?: string;
        };
        const out = new Output(!!g.json);
        // Only an explicit URL means "use that server"; otherwise the cluster starts its own.
        const natsUrl = g.natsUrl ?? (process.env.LOCKSTEP_NATS_URL || undefined);
        let natsAuth: NatsAuth;
        try {
          natsAuth = resolveNatsAuth({ ...g, urlFlag: g.natsUrl, env: process.env });
          if (natsUrl !== undefined && opts.natsServers !== 1)
            throw errors.invalidArgument(
              '--nats-servers starts servers of its own: not with --nats-url or LOCKSTEP_NATS_URL',
            );
        } catch (err) {
          out.error(err);
          return;
        }
        const total = opts.liaisons + opts.dataNodes + opts.claimers;
        const progress = new StartProgress(
          progressEnabled(out.json, process.stderr, process.env.TERM),
          total,
          process.stderr,
        );
        // One signal handler for the whole life of the command, so no signal ever meets the default
        // action (which would end this process and leave the nodes running): during start it aborts
        // the start (which stops what was started), afterwards it stops the cluster.
        const interrupted = new AbortController();
        let onSignal = () => interrupted.abort();
        const handler = () => onSignal();
        process.on('SIGINT', handler);
        process.on('SIGTERM', handler);
        let lc: LocalCluster;
        try {
          lc = await LocalCluster.start({
            dir: opts.dir,
            liaisons: opts.liaisons,
            dataNodes: opts.dataNodes,
            claimers: opts.claimers,
            natsUrl,
            natsServers: opts.natsServers,
            // Every node and the cluster's own connection log in as the given user.
            env: authEnv(natsAuth),
            adminAuth: natsAuth,
            signal: interrupted.signal,
            onProgress: (p) => (p.kind === 'nats' ? progress.natsUp() : progress.nodeReady(p.name, p.ready)),
          });
        } catch (err) {
          progress.stop();
          if (interrupted.signal.aborted) process.exit(0);
          out.error(
            err instanceof LockstepError
              ? err
              : errors.unavailable(`cannot start the cluster: ${(err as Error).message}`, err),
          );
          process.exit(EXIT_ERROR);
        }
        progress.stop();
        const nodes = [...lc.nodes.values()].map((n) => ({ name: n.name, roles: n.roles, pid: n.pid }));
        out.result({ natsUrl: redactUrl(lc.natsUrl), dir: lc.opts.dir, nodes }, () => startedLines(lc, process.cwd()));
        for (const n of lc.nodes.values()) {
          void n.exited.then(({ code, signal }) => {
            if (!stopping)
              process.stderr.write(`node ${n.name} exited (${signal ?? `code ${code}`}); see ${n.logFile}\n`);
          });
        }
        let stopping = false;
        const stop = async () => {
          if (stopping) return;
          stopping = true;
          process.stderr.write('stopping the cluster…\n');
          await lc.stop();
          process.exit(0);
        };
        onSignal = () => void stop();
        // A signal that came as the start finished found nothing left to abort: stop now.
        if (interrupted.signal.aborted) void stop();
      },
    );
  return cluster;
}
