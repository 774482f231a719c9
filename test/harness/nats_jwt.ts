/**
 * NATS decentralized auth for tests (what `nsc` makes for an operator-mode server): an operator,
 * a system account and an application account with JetStream, users, their `.creds` files, and
 * the server configuration that trusts them (memory resolver). JWTs are built here from
 * @nats-io/nkeys (already a dependency of the NATS client): header and claims as JSON, signed by
 * the issuer's key, base64url.
 */
import { randomBytes } from 'node:crypto';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function jwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = {
    jti: randomBytes(20).toString('hex').toUpperCase(),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  const body = `${header}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(issuer.sign(new TextEncoder().encode(body)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

/** An operator with a system account and one application account. */
export interface Operator {
  /** The server configuration lines (operator, system account, resolver with both accounts preloaded). */
  serverConf: string;
  /** A `.creds` file's text for a new user of the application account (no permission limits). */
  userCreds(name: string): string;
  /** A `.creds` file's text for a user of an account the server does not know. */
  strangerCreds(name: string): string;
}

function creds(userJwt: string, user: KeyPair): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    userJwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    text(user.getSeed()),
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

function userOf(account: KeyPair, name: string): string {
  const user = createUser();
  return creds(
    jwt(account, user.getPublicKey(), name, { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 }),
    user,
  );
}

/** A new operator, its accounts, and how to configure a server and users for it. */
export function newOperator(): Operator {
  const op = createOperator();
  const sys = createAccount();
  const app = createAccount();
  const opJwt = jwt(op, op.getPublicKey(), 'lockstep-test', { type: 'operator' });
  const sysJwt = jwt(op, sys.getPublicKey(), 'SYS', { type: 'account', limits: UNLIMITED });
  const appJwt = jwt(op, app.getPublicKey(), 'APP', { type: 'account', limits: { ...UNLIMITED, ...JETSTREAM } });
  const serverConf = [
    `operator: ${opJwt}`,
    `system_account: ${sys.getPublicKey()}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${sys.getPublicKey()}: ${sysJwt}`,
    `  ${app.getPublicKey()}: ${appJwt}`,
    '}',
    '',
  ].join('\n');
  return {
    serverConf,
    userCreds: (name) => userOf(app, name),
    strangerCreds: (name) => userOf(createAccount(), name),
  };
}
