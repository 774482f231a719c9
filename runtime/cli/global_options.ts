/** Options every `lockstep` command takes (declared on the root program), and where the NATS URL comes from. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { redactUrl } from '../../transport/nats_bus.js';
import { liveClusterProcesses, readClusterFile, type ClusterFile } from '../local_cluster.js';

/** Default NATS URL when neither `--nats-url`, `LOCKSTEP_NATS_URL` nor a running local cluster gives one. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** The directory of the local cluster the CLI looks for, relative to the working directory. */
export const LOCAL_CLUSTER_DIR = '.lockstep';

/** Where the NATS URL came from. */
export type NatsUrlSource = 'flag' | 'env' | 'cluster_file' | 'default';

/** Global options, resolved. */
export interface GlobalOptions {
  natsUrl: string;
  natsUrlSource: NatsUrlSource;
  /** `./.lockstep/cluster.json` was there but its cluster no longer runs (so it was not used). */
  staleClusterFile?: boolean;
  json: boolean;
}

/** What decides the NATS URL: the flag, the environment, and the local cluster file if any. */
export interface NatsUrlInputs {
  flag?: string;
  env?: string;
  clusterFile?: ClusterFile;
  /** Whether the cluster file's cluster still runs (any of its processes is alive). */
  clusterRunning?: boolean;
}

/**
 * The NATS URL, first found of: `--nats-url`, `LOCKSTEP_NATS_URL`, the URL of the running cluster
 * in `./.lockstep/cluster.json`, the default. A cluster file whose processes are all gone is stale
 * and skipped.
 */
export function resolveNatsUrl(
  i: NatsUrlInputs,
): Pick<GlobalOptions, 'natsUrl' | 'natsUrlSource' | 'staleClusterFile'> {
  if (i.flag !== undefined) return { natsUrl: i.flag, natsUrlSource: 'flag' };
  if (i.env !== undefined && i.env !== '') return { natsUrl: i.env, natsUrlSource: 'env' };
  if (i.clusterFile && i.clusterRunning) return { natsUrl: i.clusterFile.natsUrl, natsUrlSource: 'cluster_file' };
  return { natsUrl: DEFAULT_NATS_URL, natsUrlSource: 'default', ...(i.clusterFile ? { staleClusterFile: true } : {}) };
}

const CLUSTER_FILE_SHOWN = `./${LOCAL_CLUSTER_DIR}/cluster.json`;

/** Says where the URL came from, e.g. `URL from --nats-url`. */
export function urlSource(g: Pick<GlobalOptions, 'natsUrlSource' | 'staleClusterFile'>): string {
  switch (g.natsUrlSource) {
    case 'flag':
      return 'URL from --nats-url';
    case 'env':
      return 'URL from LOCKSTEP_NATS_URL';
    case 'cluster_file':
      return `URL from ${CLUSTER_FILE_SHOWN}`;
    case 'default':
      return g.staleClusterFile
        ? `the default URL: ${CLUSTER_FILE_SHOWN} is from a cluster that is no longer running`
        : `the default URL: no --nats-url, LOCKSTEP_NATS_URL or ${CLUSTER_FILE_SHOWN}`;
  }
}

/** The URL (never with its password) and where it came from, for messages. */
export function describeNatsUrl(g: Pick<GlobalOptions, 'natsUrl' | 'natsUrlSource' | 'staleClusterFile'>): string {
  return `${redactUrl(g.natsUrl)} (${urlSource(g)})`;
}

/** How to get a cluster to talk to, for messages that found none. */
export const START_HINT =
  'start a local cluster with `npm start` in a Lockstep checkout or `lockstep cluster up` ' +
  '(then run lockstep in the same directory), or give --nats-url';

/** Reads the global options of the command being run. */
export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { natsUrl?: string; json?: boolean };
  const env = process.env.LOCKSTEP_NATS_URL;
  const needFile = o.natsUrl === undefined && (env === undefined || env === '');
  const clusterFile = needFile ? readClusterFile(join(process.cwd(), LOCAL_CLUSTER_DIR)) : undefined;
  const clusterRunning = clusterFile ? liveClusterProcesses(clusterFile).length > 0 : false;
  return { ...resolveNatsUrl({ flag: o.natsUrl, env, clusterFile, clusterRunning }), json: !!o.json };
}
