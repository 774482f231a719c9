/**
 * The compose stack of deploy/ as Compose and nats-server see it, without a container engine
 * (`npm run compose:smoke` runs it for real): `docker-compose config` (Debian's 1.29) accepts
 * docker-compose.yml, alone and with the scale-out example, given a directory of dummy password
 * files; what an operator relies on is in the rendered file (three clustered NATS servers, every
 * node's health check on /readyz, restart policies, limits, log rotation, passwords as secret files
 * only); and nats-server accepts every NATS config in deploy/, fed by nats-entrypoint.sh from the
 * secret files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const USERS = ['liaison', 'data', 'claimer', 'admin', 'writer', 'reader'] as const;
/** Dummy passwords, for this test only: never real secrets. */
const DUMMY = Object.fromEntries(USERS.map((u) => [u, `pdummy${u}0test`])) as Record<string, string>;

interface Service {
  image?: string;
  build?: { dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  secrets?: { source: string }[];
  restart?: string;
  cpus?: number | string;
  mem_limit?: number | string;
  logging?: { driver?: string; options?: Record<string, string> };
  healthcheck?: { test?: string[] };
}
interface Rendered {
  services: Record<string, Service>;
  secrets?: Record<string, { file: string }>;
  volumes?: Record<string, unknown>;
}

function composeConfig(files: string[], env: Record<string, string>): { code: number | null; out: string } {
  const args = files.flatMap((f) => ['-f', join(DEPLOY, f)]);
  const r = spawnSync('docker-compose', [...args, 'config'], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env },
  });
  if (r.error)
    throw new Error(`docker-compose did not run (npm run ensure-test-tools installs it): ${r.error.message}`);
  return { code: r.status, out: r.status === 0 ? r.stdout : `${r.stdout}${r.stderr}` };
}

/** The value after `flag` in a command, or undefined. */
function flag(command: string[], name: string): string | undefined {
  const i = command.indexOf(name);
  return i >= 0 ? command[i + 1] : undefined;
}

/** True when the service mounts `source` on `target` (compose renders named volumes with `:rw`). */
function mounts(s: Service, source: string, target: string, mode?: 'ro'): boolean {
  return (s.volumes ?? []).some(
    (v) => v === `${source}:${target}:${mode ?? 'rw'}` || (!mode && v === `${source}:${target}`),
  );
}

const isNode = (s: Service) => s.build?.dockerfile === 'deploy/Dockerfile';
const isNats = (s: Service) => /^nats:/.test(s.image ?? '');

describe('deploy: the compose stack (docker-compose config, nats-server -t)', function () {
  this.timeout(60_000);
  let dir: string;
  let secretsDir: string;
  let rendered: Rendered;
  let scaled: Rendered;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-compose-'));
    secretsDir = join(dir, 'secrets');
    mkdirSync(secretsDir);
    for (const u of USERS) writeFileSync(join(secretsDir, `${u}_nats_password`), `${DUMMY[u]}\n`, { mode: 0o400 });
    const base = composeConfig(['docker-compose.yml'], { LOCKSTEP_SECRETS_DIR: secretsDir });
    assert.equal(base.code, 0, base.out);
    rendered = parse(base.out) as Rendered;
    const both = composeConfig(['docker-compose.yml', 'docker-compose.scale-out.yml'], {
      LOCKSTEP_SECRETS_DIR: secretsDir,
    });
    assert.equal(both.code, 0, both.out);
    scaled = parse(both.out) as Rendered;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('compose - refuses to render without LOCKSTEP_SECRETS_DIR, naming it', () => {
    const r = composeConfig(['docker-compose.yml'], {});
    assert.notEqual(r.code, 0);
    assert.match(r.out, /LOCKSTEP_SECRETS_DIR/);
  });

  it('compose - three NATS servers (2.10.23 or later) form one cluster, each with its own name and store', () => {
    const nats = Object.entries(rendered.services).filter(([, s]) => isNats(s));
    assert.deepEqual(nats.map(([n]) => n).sort(), ['nats-1', 'nats-2', 'nats-3']);
    for (const [name, s] of nats) {
      const [, minor, patch] = /^nats:2\.(\d+)\.(\d+)/.exec(s.image!)?.map(Number) ?? [];
      assert.ok(minor! > 10 || (minor === 10 && patch! >= 23), `${name}: ${s.image} (2.10.23 or later)`);
      assert.equal(s.environment?.NATS_SERVER_NAME, name, `${name}: NATS_SERVER_NAME`);
      assert.deepEqual(s.entrypoint, ['/bin/sh', '/etc/nats/nats-entrypoint.sh'], `${name}: entrypoint`);
      assert.deepEqual(s.command, ['-c', '/etc/nats/nats.conf']);
      for (const f of ['nats.conf', 'nats-users.conf', 'nats-entrypoint.sh'])
        assert.ok(mounts(s, join(DEPLOY, f), `/etc/nats/${f}`, 'ro'), `${name}: mounts ${f}`);
      assert.ok(mounts(s, name, '/data'), `${name}: its own volume on /data (store_dir)`);
      assert.deepEqual(
        (s.secrets ?? []).map((x) => x.source).sort(),
        USERS.map((u) => `${u}_nats_password`).sort(),
        `${name}: every user's password file`,
      );
    }
    const conf = readFileSync(join(DEPLOY, 'nats.conf'), 'utf8');
    for (const [name] of nats) assert.match(conf, new RegExp(`nats-route://${name}:6222`), `route to ${name}`);
    assert.match(conf, /^server_name: \$NATS_SERVER_NAME$/m);
    assert.match(
      conf,
      /^jetstream \{[^}]*^\s+sync_interval: always$/ms,
      'sync_interval: always in the jetstream block',
    );
  });

  it('compose - every Lockstep node: role user, password file, the three servers, 3 replicas, /readyz health check', () => {
    const names = new Set<string>();
    for (const [svc, s] of Object.entries(scaled.services).filter(([, x]) => isNode(x))) {
      const cmd = s.command ?? [];
      assert.equal(cmd[0], 'node', `${svc}: runs \`lockstep node\``);
      const role = flag(cmd, '--role')!;
      assert.ok(['liaison', 'data', 'claimer'].includes(role), `${svc}: role ${role}`);
      assert.equal(flag(cmd, '--name'), svc, `${svc}: node name = service name`);
      assert.ok(!names.has(svc));
      names.add(svc);
      assert.equal(flag(cmd, '--stream-replicas'), '3', `${svc}: --stream-replicas 3`);
      assert.equal(flag(cmd, '--metrics-port'), '9464');
      assert.equal(flag(cmd, '--metrics-host'), '0.0.0.0');
      assert.equal(s.environment?.LOCKSTEP_NATS_USER, role, `${svc}: logs in as its role's user`);
      assert.equal(flag(cmd, '--password-file'), `/run/secrets/${role}_nats_password`, `${svc}: --password-file`);
      assert.deepEqual(
        (s.secrets ?? []).map((x) => x.source),
        [`${role}_nats_password`],
        `${svc}: its role's secret only`,
      );
      assert.equal(s.environment?.LOCKSTEP_NATS_PASSWORD, undefined, `${svc}: no password in the environment`);
      assert.equal(
        s.environment?.LOCKSTEP_NATS_URL,
        'nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222',
        `${svc}: every NATS server`,
      );
      assert.equal(s.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://jaeger:4318', `${svc}: traces to Jaeger`);
      const test = (s.healthcheck?.test ?? []).join(' ');
      assert.match(test, /http:\/\/127\.0\.0\.1:9464\/readyz/, `${svc}: health check on /readyz`);
      // Podman's Docker API splits health check arguments on spaces: keep the script in one word.
      assert.ok(!(s.healthcheck?.test ?? []).some((a) => / /.test(a)), `${svc}: no spaces in health check arguments`);
      if (role === 'data') assert.ok(mounts(s, svc, '/data'), `${svc}: its own volume on /data`);
    }
    for (const r of ['liaison-1', 'liaison-2', 'data-1', 'data-2', 'data-3', 'claimer-1', 'data-4'])
      assert.ok(names.has(r), `node ${r} (data-4 from the scale-out example)`);
    assert.ok(!('data-4' in rendered.services), 'data-4 only with docker-compose.scale-out.yml');
  });

  it('compose - every service has a restart policy, CPU and memory limits, rotated logs, loopback-only ports', () => {
    for (const [svc, s] of Object.entries(scaled.services)) {
      assert.equal(s.restart, 'unless-stopped', `${svc}: restart`);
      assert.ok(Number(s.cpus) > 0, `${svc}: cpus`);
      assert.ok(s.mem_limit, `${svc}: mem_limit`);
      assert.equal(s.logging?.driver, 'json-file', `${svc}: logging driver`);
      assert.ok(s.logging?.options?.['max-size'] && s.logging.options['max-file'], `${svc}: log rotation`);
      for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:\d+:\d+/, `${svc}: port ${p} on loopback`);
      // Jaeger's image is the only one whose tools for a health check were not checked.
      if (svc !== 'jaeger') assert.ok(s.healthcheck?.test?.length, `${svc}: health check`);
    }
    const hostPorts = Object.values(scaled.services).flatMap((s) => (s.ports ?? []).map((p) => p.split(':')[1]));
    assert.equal(new Set(hostPorts).size, hostPorts.length, `published ports are distinct: ${hostPorts.join(' ')}`);
  });

  it('compose - passwords are secret files only: no dummy password anywhere in the rendered file', () => {
    for (const [out, what] of [
      [JSON.stringify(rendered), 'docker-compose.yml'],
      [JSON.stringify(scaled), 'with the scale-out example'],
    ] as const) {
      for (const u of USERS) assert.ok(!out.includes(DUMMY[u]!), `${what}: ${u}'s password is in the rendered config`);
    }
    assert.deepEqual(
      Object.entries(rendered.secrets ?? {})
        .map(([k, v]) => `${k}=${v.file}`)
        .sort(),
      USERS.map((u) => `${u}_nats_password=${join(secretsDir, `${u}_nats_password`)}`).sort(),
    );
  });

  it('compose - Prometheus mounts the scrape config and the alert rules it names; Jaeger takes OTLP on 4318', () => {
    const prom = rendered.services.prometheus!;
    assert.ok(prom, 'a prometheus service');
    assert.ok(mounts(prom, join(DEPLOY, 'prometheus', 'prometheus.yml'), '/etc/prometheus/prometheus.yml', 'ro'));
    const config = parse(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
    };
    for (const f of config.rule_files)
      assert.ok(
        mounts(prom, join(DEPLOY, 'prometheus', f), `/etc/prometheus/${f}`, 'ro'),
        `rule file ${f} is mounted beside prometheus.yml`,
      );
    assert.ok(prom.command?.includes('--config.file=/etc/prometheus/prometheus.yml'));
    assert.ok(prom.healthcheck?.test?.length, 'prometheus: health check');
    const jaeger = rendered.services.jaeger!;
    assert.ok(jaeger.ports?.some((p) => p.endsWith(':4318') || p.endsWith(':4318/tcp')));
    assert.equal(jaeger.environment?.COLLECTOR_OTLP_ENABLED, 'true');
  });

  it('nats-server -t - every NATS config in deploy/ is valid, passwords exported from the secret files', () => {
    const confs = readdirSync(DEPLOY).filter((f) => /^nats.*\.conf$/.test(f));
    assert.deepEqual(confs.sort(), ['nats-users.conf', 'nats.conf']);
    // Debian's nats-server is 2.9.10, which rejects `sync_interval` (2.10+): configs holding it are
    // tested from a copy without that line (the line itself is checked above).
    const copies = join(dir, 'conf');
    mkdirSync(copies);
    for (const f of confs) {
      const text = readFileSync(join(DEPLOY, f), 'utf8');
      writeFileSync(join(copies, f), text.replace(/^\s*sync_interval:.*\n/m, ''));
    }
    copyFileSync(join(DEPLOY, 'nats-entrypoint.sh'), join(copies, 'nats-entrypoint.sh'));
    const env = { PATH: process.env.PATH ?? '', NATS_SERVER_NAME: 'nats-1', NATS_SECRETS_DIR: secretsDir };
    for (const f of confs) {
      // Through the entrypoint, as in the containers: it exports the six passwords, then runs nats-server.
      const r = spawnSync('sh', [join(copies, 'nats-entrypoint.sh'), '-t', '-c', join(copies, f)], {
        encoding: 'utf8',
        env,
        timeout: 10_000,
      });
      assert.equal(r.status, 0, `${f}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /is valid/);
    }
    // Without a secret file the entrypoint stops, naming it.
    rmSync(join(secretsDir, 'reader_nats_password'));
    try {
      const r = spawnSync('sh', [join(copies, 'nats-entrypoint.sh'), '-t', '-c', join(copies, 'nats.conf')], {
        encoding: 'utf8',
        env,
        timeout: 10_000,
      });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /reader_nats_password/);
    } finally {
      writeFileSync(join(secretsDir, 'reader_nats_password'), `${DUMMY.reader}\n`, { mode: 0o400 });
    }
  });
});
