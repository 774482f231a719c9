/**
 * Who a connection is to NATS (deploy/nats.conf, README "Users and permissions"): a user, its
 * password, and the prefix of its reply subjects.
 *
 * Every user of the deployment config may subscribe only below its own inbox prefix,
 * `_INBOX.<user>`, so nobody receives another party's replies. nats.js creates every reply subject
 * (requests, JetStream API calls, pull fetches, KV watches) under the connection's `inboxPrefix`,
 * so the prefix must match the user's grant; `inboxPrefixFor` is the one place that says which.
 */
import { readFileSync } from 'node:fs';
import { errors } from './errors.js';

/** Credentials and reply prefix of one NATS connection; all optional (an open server needs none). */
export interface NatsAuth {
  user?: string;
  /** Never logged, never put in a URL shown to anyone. */
  pass?: string;
  /** Prefix of this connection's reply subjects (nats.js `inboxPrefix`); default `inboxPrefixFor(user)`. */
  inboxPrefix?: string;
  /**
   * A NATS credentials file (`.creds`: a user JWT and its nkey seed, made by `nsc` for a server in
   * operator mode), instead of a user and password. Read when connecting; never logged.
   */
  credsFile?: string;
}

/** The nats.js default, used by connections without a user. */
export const DEFAULT_INBOX_PREFIX = '_INBOX';

/** A user name that can be a subject token (the deployment config's users all are). */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** The inbox prefix a user's grant allows: `_INBOX.<user>`; the default for no user or a user that is not a token. */
export function inboxPrefixFor(user: string | undefined): string {
  return user !== undefined && TOKEN.test(user) ? `${DEFAULT_INBOX_PREFIX}.${user}` : DEFAULT_INBOX_PREFIX;
}

/** A prefix nats.js accepts: subject tokens without wildcards or spaces. */
export function checkInboxPrefix(prefix: string, source: string): string {
  if (!/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(prefix))
    throw errors.invalidArgument(
      `${source} must be dot-separated subject tokens without wildcards, e.g. _INBOX.writer (got ${JSON.stringify(prefix)})`,
    );
  return prefix;
}

/** Moves `user:pass@` out of NATS URLs (nats.js ignores URL credentials). */
export function splitCredentials(url: string): { servers: string[]; user?: string; pass?: string } {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(s);
      if (!m) return s;
      const [u, p] = m[2]!.split(':');
      user ??= decodeURIComponent(u ?? '');
      pass ??= p === undefined ? undefined : decodeURIComponent(p);
      return m[1]! + m[3]!;
    });
  return { servers, user, pass };
}

/** A URL with its password replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:@/]*:)[^@/]*@/g, '$1***@');
}

/** The environment variables a NATS login is read from (nodes, the CLI, `cluster up`'s children). */
export const NATS_AUTH_ENV = {
  user: 'LOCKSTEP_NATS_USER',
  pass: 'LOCKSTEP_NATS_PASSWORD',
  inboxPrefix: 'LOCKSTEP_NATS_INBOX_PREFIX',
  credsFile: 'LOCKSTEP_NATS_CREDS',
} as const;

/** The environment that hands `auth` to a child process (never its arguments, which `ps` shows). */
export function authEnv(auth: NatsAuth): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['user', 'pass', 'inboxPrefix', 'credsFile'] as const)
    if (auth[k] !== undefined) env[NATS_AUTH_ENV[k]] = auth[k];
  return env;
}

/** The markers of a NATS credentials file: a user JWT, then the user's nkey seed. */
const CREDS_MARKERS = [/-----BEGIN NATS USER JWT-----/, /-----BEGIN USER NKEY SEED-----/];

/** `InvalidArgument` unless `text` (the content of `file`) is a NATS credentials file; the content is never shown. */
export function checkCredsText(text: string, file: string): string {
  if (!CREDS_MARKERS.every((m) => m.test(text)))
    throw errors.invalidArgument(
      `${file} is not a NATS credentials file: it needs a "BEGIN NATS USER JWT" and a "BEGIN USER NKEY SEED" block (nsc generate creds)`,
    );
  return text;
}

/**
 * The text of a NATS credentials file, checked; `InvalidArgument` saying `<label> <file>` cannot be
 * read or is not one (the content is never shown).
 */
export function readCredsFile(
  file: string,
  label: string,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): string {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw errors.invalidArgument(
      `${label} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return checkCredsText(text, `${label} ${file}`);
}

/** True when a NATS URL (or a comma-separated list) carries a password. */
export function urlHasPassword(url: string): boolean {
  return /\/\/[^:@/]*:[^@/]*@/.test(url);
}
