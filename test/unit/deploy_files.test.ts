/**
 * Static checks of deploy/ without a container engine: the compose file's Lockstep services parse
 * as valid `lockstep node` command lines, each logging in as its role's user with its password from
 * a secret file; the users file takes every password from a variable. (The rendered compose file and
 * `nats-server -t` on every NATS config: test/integration/compose_config.test.ts; the stack itself:
 * `npm run compose:smoke`.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { nodeCommand, nodeConfigFromFlags } from '../../runtime/cli/node_cmd.js';
import { ROLES } from '../../runtime/roles.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const deploy = (f: string) => `${root}deploy/${f}`;

interface Service {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  restart?: string;
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** The users of deploy/nats-users.conf, and the variable holding each one's password. */
const USERS = ['liaison', 'data', 'claimer', 'admin', 'writer', 'reader'] as const;
const passwordVar = (u: string) => `${u.toUpperCase()}_NATS_PASSWORD`;
// Test-only values for the compose variables; never real credentials.
const TEST_ENV: Record<string, string> = Object.fromEntries(USERS.map((u) => [passwordVar(u), `ptest${u}password`]));

/** Compose interpolation for `${VAR}`, `${VAR:?message}` and `${VAR:-default}` (enough for this file). */
function interpolate(s: string, env: Record<string, string>): string {
  return s.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:\?|:-)([^}]*))?\}/g,
    (_m, name: string, op?: string, arg?: string) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (op === ':-') return arg ?? '';
      throw new Error(`compose variable ${name} is unset${op === ':?' ? `: ${arg}` : ''}`);
    },
  );
}

function loadCompose(): Compose {
  // Merge keys (`<<: *lockstep-node`) are YAML 1.1; docker compose supports them.
  return parse(readFileSync(deploy('docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
}

/** The services run from the Lockstep image (built from deploy/Dockerfile). */
function lockstepServices(c: Compose): [string, Service][] {
  return Object.entries(c.services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile');
}

/** Parses a service's command as the `lockstep` CLI would, without running the node. */
function parseNodeCommand(args: string[]): Record<string, unknown> {
  assert.equal(args[0], 'node', `the command must start with the \`node\` subcommand: ${JSON.stringify(args)}`);
  const cmd = nodeCommand()
    .option('--nats-url <url>', 'root option of `lockstep`')
    .option('--password-file <file>', 'root option of `lockstep`')
    .action(() => undefined)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  cmd.parse(args.slice(1), { from: 'user' });
  const flags = cmd.opts();
  assert.equal(flags.natsUrl, undefined, `the NATS URL and login come from the environment: ${JSON.stringify(args)}`);
  return flags;
}

describe('deploy files', () => {
  it('docker-compose.yml: every Lockstep service runs `lockstep node` with a valid role and a unique name', () => {
    const compose = loadCompose();
    const services = lockstepServices(compose);
    assert.ok(services.length >= 3, 'expected the Lockstep node services');
    const names = new Set<string>();
    const roles = new Set<string>();
    for (const [svc, s] of services) {
      assert.equal(s.build?.context, '..', `${svc}: build context must be the repository root`);
      assert.ok(Array.isArray(s.command), `${svc}: command must be a list`);
      const flags = parseNodeCommand(s.command!.map((a) => interpolate(String(a), TEST_ENV)));
      const env = s.environment ?? {};
      const cfg = nodeConfigFromFlags(flags, env.LOCKSTEP_NATS_URL!); // throws InvalidArgument on a bad name/role/port
      for (const r of cfg.roles) {
        assert.ok((ROLES as readonly string[]).includes(r), `${svc}: unknown role ${r}`);
        roles.add(r);
      }
      assert.ok(!names.has(cfg.name), `${svc}: node name ${cfg.name} is used twice`);
      names.add(cfg.name);
      assert.equal(cfg.name, svc, `${svc}: node name should match the service name`);
      assert.equal(cfg.metricsPort, 9464, `${svc}: --metrics-port 9464`);
      assert.equal(cfg.metricsHost, '0.0.0.0', `${svc}: --metrics-host 0.0.0.0`);
      assert.equal(cfg.dataDir, '/data', `${svc}: --data-dir /data`);
      assert.equal(s.restart, 'unless-stopped', `${svc}: restart: unless-stopped`);
      // Each node logs in as its role's user, the password read from its secret file (never in its
      // environment or on its command line, which `ps` shows), to all three NATS servers.
      assert.equal(
        env.LOCKSTEP_NATS_URL,
        'nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222',
        `${svc}: LOCKSTEP_NATS_URL lists the three servers, without credentials`,
      );
      assert.equal(cfg.roles.length, 1, `${svc}: one role per node, so one role user`);
      assert.equal(env.LOCKSTEP_NATS_USER, cfg.roles[0], `${svc}: LOCKSTEP_NATS_USER is the role`);
      assert.equal(env.LOCKSTEP_NATS_PASSWORD, undefined, `${svc}: no password in the environment`);
      assert.equal(flags.passwordFile, `/run/secrets/${cfg.roles[0]}_nats_password`, `${svc}: --password-file`);
      assert.ok(!JSON.stringify(s).toLowerCase().includes('ptest'), `${svc}: no password value anywhere`);
      if (cfg.roles.includes('data')) {
        const dataVolume = (s.volumes ?? []).find((v) => v.endsWith(':/data'));
        assert.ok(dataVolume, `${svc}: a data node needs a volume on /data`);
        assert.ok(
          compose.volumes && dataVolume.split(':')[0]! in compose.volumes,
          `${svc}: named volume ${dataVolume} is declared`,
        );
      }
    }
    for (const r of ['liaison', 'data', 'claimer']) assert.ok(roles.has(r), `no service holds role ${r}`);
  });

  it('docker-compose.yml: every Lockstep node exports traces to Jaeger over OTLP HTTP', () => {
    const compose = loadCompose();
    assert.ok(compose.services.jaeger, 'a jaeger service');
    for (const [svc, s] of lockstepServices(compose)) {
      assert.equal(
        s.environment?.OTEL_EXPORTER_OTLP_ENDPOINT,
        'http://jaeger:4318',
        `${svc}: OTEL_EXPORTER_OTLP_ENDPOINT`,
      );
    }
  });

  it('Dockerfile: the runtime image runs the compiled CLI as a non-root user', () => {
    const df = readFileSync(deploy('Dockerfile'), 'utf8');
    const runtime = df.slice(df.lastIndexOf('\nFROM '));
    assert.match(runtime, /^COPY --from=build \/app\/dist\/ dist\/$/m, 'the runtime stage holds the compiled build');
    assert.match(runtime, /^ENTRYPOINT \["node", "bin\/lockstep\.js"\]$/m);
    const user = /^USER (\S+)$/m.exec(runtime);
    assert.ok(user && user[1] !== 'root' && user[1] !== '0', 'runs as a non-root user');
  });

  it('nats-users.conf: the six users, each password a variable (never a literal)', () => {
    const text = readFileSync(deploy('nats-users.conf'), 'utf8');
    const passwords = [...text.matchAll(/^\s*password:\s*(\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(
      passwords,
      USERS.map((u) => `$${passwordVar(u)}`),
    );
    const users = [...text.matchAll(/^\s*user:\s*(\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(users, [...USERS]);
  });
});
