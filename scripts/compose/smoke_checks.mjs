#!/usr/bin/env node
// The checks of the compose smoke (scripts/compose_smoke.sh brings the stack up and down around
// them). Invariants: every node gets ready; the health checks of the compose file pass in their
// containers; restart policy, limits and log rotation are applied; no password is in any
// container's environment or command line; the WAL and the registry have three replicas; every
// point a write acknowledged is read back exactly once: before and after a data node container is
// killed (`podman kill`) and while it is down, and after another data node's process crashes and
// the restart policy restarts it; a fourth data node joins (the scale-out example); Prometheus
// loaded the alert rules and scrapes every node; the nodes export traces; no container is near its
// memory limit. Every wait has a deadline.
//
// usage: smoke_checks.mjs   (env: SMOKE_PROJECT, SMOKE_COMPOSE_FILE, SMOKE_PORTS, SMOKE_SECRETS)
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`smoke_checks: ${name} is not set`);
  return v;
};
const project = env('SMOKE_PROJECT');
const composeFile = env('SMOKE_COMPOSE_FILE');
const ports = JSON.parse(readFileSync(env('SMOKE_PORTS'), 'utf8'));
const secrets = env('SMOKE_SECRETS');

/** Services started with the stack; data-4 joins later (the scale-out example). */
const LATE = ['data-4'];
const nodeServices = Object.keys(ports).filter((s) => ports[s]['9464'] !== undefined);
const natsServices = Object.keys(ports).filter((s) => ports[s]['8222'] !== undefined);
const natsUrl = natsServices.map((s) => `nats://127.0.0.1:${ports[s]['4222']}`).join(',');
const url = (service, port, path) => `http://127.0.0.1:${ports[service][port]}${path}`;
/** The container compose 1.x names for the service's first (only) replica. */
const container = (service) => `${project}_${service}_1`;

const t0 = Date.now();
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command; throws with its output on a non-zero exit or after `timeoutMs`. */
function run(cmd, args, { input, timeoutMs = 60_000, extraEnv = {} } = {}) {
  const r = spawnSync(cmd, args, {
    input,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, ...extraEnv },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return r.stdout;
}

/** Polls `probe` (truthy = done) every 250 ms; throws naming `what` and the last failure after `ms`. */
async function waitFor(what, ms, probe) {
  const deadline = Date.now() + ms;
  let last = 'no answer yet';
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds(ms)} waiting for ${what} (${last})`);
    await sleep(250);
  }
}

async function get(u) {
  const r = await fetch(u, { signal: AbortSignal.timeout(3000) });
  if (!r.ok) throw new Error(`${u}: HTTP ${r.status}`);
  return r;
}

/** The `lockstep` CLI of this checkout, from the host, logged in as `user` with its password file. */
function cli(user, args, input) {
  const out = run(
    process.execPath,
    [
      join(REPO, 'bin', 'lockstep.js'),
      '--user',
      user,
      '--password-file',
      join(secrets, `${user}_nats_password`),
      ...args,
    ],
    { input, timeoutMs: 90_000, extraEnv: { LOCKSTEP_NATS_URL: natsUrl } },
  );
  return out;
}

function podman(...args) {
  return run('podman', args, { timeoutMs: 60_000 });
}

function compose(...args) {
  return run('docker-compose', ['-p', project, '-f', composeFile, ...args], { timeoutMs: 180_000 });
}

async function step(name, fn) {
  const start = Date.now();
  const note = await fn();
  process.stdout.write(`  ok  ${name} (${seconds(Date.now() - start)})${note ? `: ${note}` : ''}\n`);
}

/** Every node's /readyz, every NATS server's /healthz, Prometheus' /-/ready and the span sink. */
async function waitReady(services, ms) {
  await Promise.all(
    services.map((s) => {
      if (ports[s]['9464']) return waitFor(`${s} /readyz`, ms, () => get(url(s, '9464', '/readyz')));
      if (ports[s]['8222']) return waitFor(`${s} /healthz`, ms, () => get(url(s, '8222', '/healthz')));
      if (ports[s]['9090']) return waitFor(`${s} /-/ready`, ms, () => get(url(s, '9090', '/-/ready')));
      if (ports[s]['4318']) return waitFor(`${s} (span sink)`, ms, () => get(url(s, '4318', '/stats')));
      return undefined;
    }),
  );
}

// The data set: HOSTS series, a point per second each, in two writes of `perWrite` seconds.
const HOSTS = 20;
const perWrite = 30;
const baseTs = Math.floor(Date.now() / 1000) * 1000 - 10 * 60_000;
/** Points of write `w` (0 or 1): JSON lines, and the expected `host@ts` → value. */
function points(w) {
  const lines = [];
  const expected = new Map();
  for (let i = 0; i < perWrite; i++) {
    const ts = baseTs + (w * perWrite + i) * 1000;
    for (let h = 0; h < HOSTS; h++) {
      const host = `h${String(h).padStart(2, '0')}`;
      const value = w * 1e6 + i * 100 + h + 0.5;
      lines.push(JSON.stringify({ ts, tags: { host }, fields: { value } }));
      expected.set(`${host}@${ts}`, value);
    }
  }
  return { jsonl: lines.join('\n') + '\n', expected };
}

/** The merged read-your-writes token of several `write --json` replies (latest sequence per shard). */
function mergeTokens(replies) {
  const shards = {};
  for (const r of replies)
    for (const [s, seq] of Object.entries(r.write_token.shards)) shards[s] = Math.max(shards[s] ?? 0, seq);
  return { ...replies.at(-1).write_token, shards };
}

/** Queries the whole data set as `reader` with the token; checks every expected point once and nothing else. */
function checkAll(expected, token) {
  const reply = JSON.parse(
    cli('reader', [
      '--json',
      'query',
      'measure',
      'smoke/cpu',
      '--from',
      String(baseTs),
      '--to',
      String(baseTs + 2 * perWrite * 1000),
      '--limit',
      '100000',
      '--timeout',
      '30s',
      '--token',
      JSON.stringify(token),
    ]),
  );
  if (reply.missing_shards?.length) throw new Error(`shards missing: ${JSON.stringify(reply.missing_shards)}`);
  const seen = new Map();
  for (const row of reply.rows ?? []) {
    const key = `${row.tags.host}@${row.ts}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (!expected.has(key)) throw new Error(`unexpected row ${JSON.stringify(row)}`);
    if (row.fields.value !== expected.get(key)) throw new Error(`wrong value in ${JSON.stringify(row)}`);
  }
  const missing = [...expected.keys()].filter((k) => !seen.has(k));
  const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  if (missing.length || twice.length)
    throw new Error(
      `${missing.length} acknowledged points missing (${missing.slice(0, 5).join(', ')}), ` +
        `${twice.length} present more than once (${twice.slice(0, 5).join(', ')})`,
    );
  return `${expected.size} points, each exactly once`;
}

function inspect(service) {
  return JSON.parse(podman('inspect', container(service)))[0];
}

const started = Object.keys(ports).filter((s) => !LATE.includes(s));
const passwords = readdirSync(secrets).map((f) => readFileSync(join(secrets, f), 'utf8').trim());

await step(`every service ready (${started.length}: ${started.join(', ')})`, async () => {
  await waitReady(started, 180_000);
  return `ready ${seconds(Date.now() - t0)} after the checks started`;
});

await step('compose health checks pass in their containers (podman healthcheck run)', () => {
  // Podman runs health checks from systemd timers, which this machine lacks: run each once.
  const checked = [];
  for (const s of started) {
    const hc = inspect(s).Config.Healthcheck;
    if (!hc?.Test?.length) continue;
    run('podman', ['healthcheck', 'run', container(s)], { timeoutMs: 30_000 });
    checked.push(s);
  }
  const nodesWithout = nodeServices.filter((s) => started.includes(s) && !checked.includes(s));
  if (nodesWithout.length) throw new Error(`nodes without a health check: ${nodesWithout.join(', ')}`);
  return `${checked.length} services healthy`;
});

await step('restart policy, CPU and memory limits, log rotation applied to every container', () => {
  for (const s of started) {
    const h = inspect(s).HostConfig;
    const problems = [];
    if (h.RestartPolicy?.Name !== 'unless-stopped') problems.push(`restart ${h.RestartPolicy?.Name}`);
    if (!(h.Memory > 0)) problems.push('no memory limit');
    if (!(h.NanoCpus > 0 || h.CpuQuota > 0)) problems.push('no CPU limit');
    if (h.LogConfig?.Type !== 'json-file' && h.LogConfig?.Type !== 'k8s-file')
      problems.push(`log ${h.LogConfig?.Type}`);
    if (problems.length) throw new Error(`${s}: ${problems.join(', ')}`);
  }
});

await step('no NATS password in any container environment or command line', () => {
  for (const s of started) {
    const c = inspect(s);
    const exposed = JSON.stringify([c.Config.Env, c.Config.Cmd, c.Config.Entrypoint, c.Args]);
    if (passwords.some((p) => exposed.includes(p))) throw new Error(`${s}: a password is in its config`);
  }
  // The servers got them from the secret files: the cluster accepts each user (checked below).
});

await step('the WAL and the registry buckets have 3 replicas on the NATS cluster', async () => {
  const streams = await waitFor('the Lockstep streams on nats-1', 60_000, async () => {
    const jsz = await (await get(url(natsServices[0], '8222', '/jsz?accounts=true&streams=true&config=true'))).json();
    const all = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    return all.some((s) => s.name === 'lockstep_wal') ? all : undefined;
  });
  const lockstep = streams.filter((s) => /lockstep/.test(s.name));
  const wrong = lockstep.filter((s) => s.config.num_replicas !== 3);
  if (wrong.length)
    throw new Error(`not 3 replicas: ${wrong.map((s) => `${s.name}=${s.config.num_replicas}`).join(', ')}`);
  return lockstep.map((s) => `${s.name} R3 (leader ${s.cluster?.leader})`).join(', ');
});

await step('schema: group smoke (3 shards, 2 replicas per shard) and measure smoke/cpu, applied everywhere', () => {
  cli('admin', [
    'schema',
    'create',
    'group',
    'smoke',
    '--catalog',
    'measure',
    '--shards',
    '3',
    '--segment-interval',
    '1d',
    '--ttl',
    '7d',
    '--replicas',
    '2',
  ]);
  cli('admin', [
    'schema',
    'create',
    'measure',
    'smoke/cpu',
    '--entity',
    'host',
    '--tags',
    'host:string',
    '--fields',
    'value:float',
  ]);
  cli('admin', ['barrier', 'applied', '--key', 'measure:smoke/cpu', '--timeout', '30s']);
});

const first = points(0);
const second = points(1);
const expected = new Map([...first.expected]);
const replies = [];

await step(`write ${first.expected.size} points (writer) and read them back (reader)`, () => {
  replies.push(JSON.parse(cli('writer', ['--json', 'write', 'measure', 'smoke/cpu'], first.jsonl)));
  if (replies[0].points !== first.expected.size) throw new Error(`acknowledged ${replies[0].points} points`);
  return checkAll(expected, mergeTokens(replies));
});

const killed = 'data-3';
await step(`podman kill ${killed}, write ${second.expected.size} more, read all back from the other replicas`, () => {
  podman('kill', '--signal', 'KILL', container(killed));
  replies.push(JSON.parse(cli('writer', ['--json', 'write', 'measure', 'smoke/cpu'], second.jsonl)));
  if (replies[1].points !== second.expected.size) throw new Error(`acknowledged ${replies[1].points} points`);
  for (const [k, v] of second.expected) expected.set(k, v);
  const state = inspect(killed).State;
  return `${checkAll(expected, mergeTokens(replies))} (${killed} ${state.Running ? 'running again' : state.Status} during the query)`;
});

await step(`${killed} started again, ready, and every point still exactly once`, async () => {
  // A `podman kill` (like `docker kill`) is a stop by the user: the restart policy leaves it be.
  if (!inspect(killed).State.Running) podman('start', container(killed));
  await waitFor(`${killed} /readyz`, 120_000, () => get(url(killed, '9464', '/readyz')));
  // Queries go to one live owner per shard, chosen by NATS: ask a few times so data-3 answers some.
  let result = '';
  for (let i = 0; i < 3; i++) result = checkAll(expected, mergeTokens(replies));
  return result;
});

const crashed = 'data-2';
await step(`${crashed} crashes (SIGKILL to its node process): the restart policy brings it back`, async () => {
  const before = inspect(crashed);
  // PID 1 of the container is the init (`init: true`); the node process is its child.
  const init = before.State.Pid;
  const children = readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  if (children.length !== 1) throw new Error(`expected one child of the init (pid ${init}), found ${children.length}`);
  process.kill(Number(children[0]), 'SIGKILL');
  await waitFor(`${crashed} restarted by its restart policy`, 30_000, () => {
    const c = inspect(crashed);
    return c.State.Running && c.RestartCount > before.RestartCount;
  });
  await waitFor(`${crashed} /readyz`, 120_000, () => get(url(crashed, '9464', '/readyz')));
  let result = '';
  for (let i = 0; i < 3; i++) result = checkAll(expected, mergeTokens(replies));
  return `restart count ${before.RestartCount} → ${inspect(crashed).RestartCount}; ${result}`;
});

await step('scale-out: data-4 from docker-compose.scale-out.yml joins the cluster', async () => {
  compose('up', '-d', '--no-build', 'data-4');
  await waitFor('data-4 /readyz', 120_000, () => get(url('data-4', '9464', '/readyz')));
  run('podman', ['healthcheck', 'run', container('data-4')], { timeoutMs: 30_000 });
  const members = await waitFor('data-4 among the members', 30_000, () => {
    const m = cli('admin', ['cluster', 'members']);
    return /^data-4\s+data\s+active/m.test(m) ? m : undefined;
  });
  return `${members.trim().split('\n').length - 1} members`;
});

const prometheus = Object.keys(ports).find((s) => ports[s]['9090']);
if (prometheus) {
  await step('Prometheus loaded the alert rules of deploy/prometheus/alerts.yml and scrapes every node', async () => {
    const rules = await (await get(url(prometheus, '9090', '/api/v1/rules'))).json();
    const groups = rules.data.groups.filter((g) => g.file.endsWith('alerts.yml'));
    const count = groups.reduce((n, g) => n + g.rules.length, 0);
    if (count === 0) throw new Error('no rule of alerts.yml is loaded');
    await waitFor('every lockstep target up', 90_000, async () => {
      const t = await (await get(url(prometheus, '9090', '/api/v1/targets?state=active'))).json();
      const mine = t.data.activeTargets.filter((x) => x.labels.job === 'lockstep');
      const down = mine.filter((x) => x.health !== 'up').map((x) => `${x.labels.instance} ${x.health}`);
      if (mine.length === 0 || down.length) throw new Error(`not up: ${down.join(', ') || 'no targets'}`);
      return true;
    });
    return `${count} rules in ${groups.map((g) => g.name).join(', ')}; the lockstep job's targets are up`;
  });
}

await step('the nodes export traces over OTLP/HTTP to the jaeger service', async () => {
  const stats = await waitFor('spans at the sink', 60_000, async () => {
    const s = await (await get(url('jaeger', '4318', '/stats'))).json();
    return s.spans > 0 ? s : undefined;
  });
  return `${stats.spans} spans from ${Object.keys(stats.nodes).sort().join(', ')}`;
});

await step('memory in use against each container limit (podman stats)', () => {
  const all = [...started, ...LATE].map(container);
  const stats = JSON.parse(run('podman', ['stats', '--no-stream', '--format', 'json', ...all], { timeoutMs: 60_000 }));
  const high = stats.filter((x) => parseFloat(x.mem_percent) > 80);
  if (high.length) throw new Error(`near the memory limit: ${high.map((x) => `${x.name} ${x.mem_usage}`).join(', ')}`);
  return stats
    .map((x) => `${x.name.replace(`${project}_`, '').replace(/_1$/, '')} ${x.mem_usage.split(' / ')[0]}`)
    .join(', ');
});

process.stdout.write(`  checks passed in ${seconds(Date.now() - t0)}\n`);
