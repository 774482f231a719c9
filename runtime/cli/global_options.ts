/** Options every `lockstep` command takes (declared on the root program), and where the NATS URL comes from. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { errors } from '../../transport/errors.js';
import {
  checkInboxPrefix,
  NATS_AUTH_ENV,
  readCredsFile,
  redactUrl,
  splitCredentials,
  urlHasPassword,
  type NatsAuth,
} from '../../transport/nats_auth.js';
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
  /** User, password and inbox prefix from the flags and environment (empty for an open server). */
  natsAuth: NatsAuth;
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

/** What decides the credentials: flags, environment, and a way to read the password file. */
export interface NatsAuthInputs {
  urlFlag?: string;
  user?: string;
  passwordFile?: string;
  inboxPrefix?: string;
  /** `--creds`: a NATS credentials file. */
  creds?: string;
  env: Record<string, string | undefined>;
  readFile?: (path: string) => string;
}

/**
 * The NATS credentials: the user from `--user` or LOCKSTEP_NATS_USER, the password from
 * `--password-file` or LOCKSTEP_NATS_PASSWORD, the inbox prefix from `--inbox-prefix` or
 * LOCKSTEP_NATS_INBOX_PREFIX (else `_INBOX.<user>`); or, instead of a user and password, a NATS
 * credentials file from `--creds` or LOCKSTEP_NATS_CREDS (checked here, read again to connect). A password is never taken from a command
 * line, where every user of the machine can read it (`ps`): `--nats-url` with one is refused.
 * Throws `InvalidArgument` naming the flag or variable, never the password.
 */
export function resolveNatsAuth(i: NatsAuthInputs): NatsAuth {
  if (i.urlFlag !== undefined && urlHasPassword(i.urlFlag))
    throw errors.invalidArgument(
      '--nats-url carries a password, and a command line is readable by every user of the machine: ' +
        'give the user with --user (or in the URL without a password) and the password in ' +
        'LOCKSTEP_NATS_PASSWORD or a file named by --password-file',
    );
  const user = i.user ?? (i.env[NATS_AUTH_ENV.user] || undefined);
  let pass: string | undefined;
  if (i.passwordFile !== undefined) {
    let text: string;
    try {
      text = (i.readFile ?? ((p) => readFileSync(p, 'utf8')))(i.passwordFile);
    } catch (err) {
      throw errors.invalidArgument(
        `--password-file ${i.passwordFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    pass = text.replace(/\r?\n$/, '');
    if (pass === '') throw errors.invalidArgument(`--password-file ${i.passwordFile} is empty`);
  } else {
    pass = i.env[NATS_AUTH_ENV.pass] || undefined;
  }
  const prefix = i.inboxPrefix ?? (i.env[NATS_AUTH_ENV.inboxPrefix] || undefined);
  const creds = i.creds ?? (i.env[NATS_AUTH_ENV.credsFile] || undefined);
  const out: NatsAuth = {};
  if (creds !== undefined) {
    if (user !== undefined || pass !== undefined)
      throw errors.invalidArgument(
        `${i.creds !== undefined ? '--creds' : NATS_AUTH_ENV.credsFile} and a user or password were both given: a NATS login is one or the other`,
      );
    readCredsFile(creds, '--creds', i.readFile);
    out.credsFile = creds;
  }
  if (user !== undefined) out.user = user;
  if (pass !== undefined) out.pass = pass;
  if (prefix !== undefined)
    out.inboxPrefix = checkInboxPrefix(
      prefix,
      i.inboxPrefix !== undefined ? '--inbox-prefix' : 'LOCKSTEP_NATS_INBOX_PREFIX',
    );
  return out;
}

/** Why `auth` with the URL's credentials cannot log in (a password without a user); undefined when it can. */
export function halfCredentials(auth: NatsAuth, url: string): string | undefined {
  const fromUrl = splitCredentials(url);
  const user = auth.user ?? fromUrl.user;
  const pass = auth.pass ?? fromUrl.pass;
  if (pass !== undefined && user === undefined)
    return 'a NATS password was given without a user: give --user or LOCKSTEP_NATS_USER';
  return undefined;
}

/** Reads the global options of the command being run; `InvalidArgument` for bad credentials options. */
export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as {
    natsUrl?: string;
    json?: boolean;
    user?: string;
    passwordFile?: string;
    inboxPrefix?: string;
    creds?: string;
  };
  const env = process.env.LOCKSTEP_NATS_URL;
  const natsAuth = resolveNatsAuth({
    urlFlag: o.natsUrl,
    user: o.user,
    passwordFile: o.passwordFile,
    inboxPrefix: o.inboxPrefix,
    creds: o.creds,
    env: process.env,
  });
  const needFile = o.natsUrl === undefined && (env === undefined || env === '');
  const clusterFile = needFile ? readClusterFile(join(process.cwd(), LOCAL_CLUSTER_DIR)) : undefined;
  const clusterRunning = clusterFile ? liveClusterProcesses(clusterFile).length > 0 : false;
  const url = resolveNatsUrl({ flag: o.natsUrl, env, clusterFile, clusterRunning });
  const half = halfCredentials(natsAuth, url.natsUrl);
  if (half !== undefined) throw errors.invalidArgument(half);
  return { ...url, natsAuth, json: !!o.json };
}
