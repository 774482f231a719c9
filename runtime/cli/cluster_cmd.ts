/** `lockstep cluster up`: a local cluster in one command. */
import { Command } from 'commander';
import { LocalCluster } from '../local_cluster.js';

function count(what: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${what} must be an integer ≥ ${min} (got ${JSON.stringify(v)})`);
    return n;
  };
}

/** The `cluster` command with `up` (further subcommands are attached by the caller). */
export function clusterCommand(): Command {
  const cluster = new Command('cluster').description('local clusters and membership');
  cluster
    .command('up')
    .description(
      'start a local cluster: its own nats-server (unless --nats-url) and the node processes; Ctrl-C stops it',
    )
    .option('--dir <dir>', 'directory for cluster.json, logs, data and the NATS store', './.lockstep')
    .option('--liaisons <n>', 'liaison nodes', count('--liaisons', 1), 1)
    .option('--data-nodes <n>', 'data nodes', count('--data-nodes', 0), 2)
    .option('--claimers <n>', 'claimer nodes', count('--claimers', 0), 1)
    .action(async (opts: { dir: string; liaisons: number; dataNodes: number; claimers: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as { natsUrl?: string; json?: boolean };
      // Only an explicit URL means "use that server"; otherwise the cluster starts its own.
      const natsUrl = g.natsUrl ?? process.env.LOCKSTEP_NATS_URL;
      // Signals during start stop what was started (nodes can take seconds to come up).
      const interrupted = new AbortController();
      const onEarlySignal = () => interrupted.abort();
      process.once('SIGINT', onEarlySignal);
      process.once('SIGTERM', onEarlySignal);
      let lc: LocalCluster;
      try {
        lc = await LocalCluster.start({
          dir: opts.dir,
          liaisons: opts.liaisons,
          dataNodes: opts.dataNodes,
          claimers: opts.claimers,
          natsUrl,
          signal: interrupted.signal,
        });
      } catch (err) {
        process.stderr.write(`lockstep cluster up: ${(err as Error).message}\n`);
        process.exit(interrupted.signal.aborted ? 0 : 1);
      }
      process.off('SIGINT', onEarlySignal);
      process.off('SIGTERM', onEarlySignal);
      const nodes = [...lc.nodes.values()].map((n) => ({ name: n.name, roles: n.roles, pid: n.pid }));
      if (g.json) process.stdout.write(`${JSON.stringify({ natsUrl: lc.natsUrl, dir: lc.opts.dir, nodes })}\n`);
      else {
        process.stdout.write(`NATS: ${lc.natsUrl}\n`);
        for (const n of nodes) process.stdout.write(`node ${n.name} (${n.roles.join(',')}) pid ${n.pid}\n`);
        process.stdout.write(
          `cluster.json and logs in ${lc.opts.dir}; export LOCKSTEP_NATS_URL=${lc.natsUrl}; Ctrl-C stops the cluster\n`,
        );
      }
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
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
  return cluster;
}
