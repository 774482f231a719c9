#!/usr/bin/env node
// Derives the compose smoke's compose file from deploy/docker-compose.yml as `docker-compose config`
// renders it (merge keys resolved, variables interpolated, paths absolute), so the smoke runs the
// real services with their real commands, environment, secrets, health checks, restart policies,
// limits and logging. Only what cannot work on a machine without a container registry changes:
//
// - Lockstep services: `image` is the image the smoke built from deploy/Dockerfile (no `build:`);
// - NATS (nats:*): the local base image with Debian's nats-server 2.9, and nats.conf replaced by a
//   copy without `sync_interval` (2.9 rejects it; the entrypoint and every other line are as real);
// - Prometheus (prom/prometheus:*): the local base image with Debian's prometheus, same command
//   and mounted files;
// - Jaeger (no image or Debian package reachable): an OTLP/HTTP sink that counts the spans
//   (otlp_sink.mjs) under the same service name and port, so the nodes' endpoint is unchanged;
// - published ports: moved to PORT_BASE, PORT_BASE+1, … on 127.0.0.1 (in the order of service
//   name and container port), so the smoke never collides with a real deployment's 4222 or 9464.
//
// Any other image fails the smoke: it could not be pulled here.
//
// usage: smoke_compose.mjs RENDERED.yml OUT.yml PORTS.json
//   env: SMOKE_PROJECT_IMAGE, SMOKE_BASE_IMAGE, SMOKE_NATS_CONF, SMOKE_OTLP_SINK, SMOKE_PORT_BASE
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

const [renderedPath, outPath, portsPath] = process.argv.slice(2);
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`smoke_compose: ${name} is not set`);
  return v;
};
if (!renderedPath || !outPath || !portsPath) {
  process.stderr.write('usage: smoke_compose.mjs RENDERED.yml OUT.yml PORTS.json\n');
  process.exit(2);
}
const projectImage = env('SMOKE_PROJECT_IMAGE');
const baseImage = env('SMOKE_BASE_IMAGE');
const natsConf = env('SMOKE_NATS_CONF');
const otlpSink = env('SMOKE_OTLP_SINK');
const portBase = Number(env('SMOKE_PORT_BASE'));

const compose = parse(readFileSync(renderedPath, 'utf8'));
const changes = [];

/** Container path of a short-syntax volume (`SRC:DST[:MODE]`) or a long-syntax one. */
const volumeTarget = (v) => (typeof v === 'string' ? v.split(':')[1] : v.target);

for (const [name, s] of Object.entries(compose.services)) {
  if (s.build) {
    delete s.build;
    s.image = projectImage;
    changes.push(`${name}: image ${projectImage} (built from deploy/Dockerfile on the local base)`);
  } else if (/^(docker\.io\/)?(library\/)?nats:/.test(s.image)) {
    changes.push(
      `${name}: image ${baseImage} (Debian's nats-server) instead of ${s.image}, nats.conf without sync_interval`,
    );
    s.image = baseImage;
    const conf = (s.volumes ?? []).findIndex((v) => volumeTarget(v) === '/etc/nats/nats.conf');
    if (conf < 0) throw new Error(`${name}: no volume on /etc/nats/nats.conf to replace`);
    s.volumes[conf] = `${natsConf}:/etc/nats/nats.conf:ro`;
  } else if (/^(docker\.io\/)?prom\/prometheus:/.test(s.image)) {
    changes.push(`${name}: image ${baseImage} (Debian's prometheus) instead of ${s.image}`);
    s.image = baseImage;
    s.entrypoint = ['/usr/bin/prometheus'];
  } else if (/^(docker\.io\/)?jaegertracing\/all-in-one:/.test(s.image)) {
    changes.push(`${name}: an OTLP/HTTP span counter (otlp_sink.mjs) instead of ${s.image}`);
    s.image = baseImage;
    s.entrypoint = ['node', '/sink/otlp_sink.mjs'];
    s.command = [];
    s.environment = {};
    s.volumes = [`${otlpSink}:/sink/otlp_sink.mjs:ro`];
    // The UI is Jaeger's; the sink serves only OTLP (and /stats) on 4318.
    s.ports = (s.ports ?? []).filter((p) => String(p.target ?? p).includes(':4318'));
  } else {
    throw new Error(
      `${name}: image ${s.image} cannot be pulled here; teach scripts/compose/smoke_compose.mjs about it`,
    );
  }
}

// Published ports, moved to PORT_BASE + i on the loopback, in a stable order.
const published = [];
for (const [name, s] of Object.entries(compose.services)) {
  for (const p of s.ports ?? []) {
    let target;
    if (typeof p === 'string') {
      const m = /^(?:(?:[\d.]+):)?(\d+):(\d+)(?:\/tcp)?$/.exec(p);
      if (!m) throw new Error(`${name}: unsupported port syntax ${p}`);
      target = Number(m[2]);
    } else target = Number(p.target);
    published.push({ name, target });
  }
}
published.sort((a, b) => (a.name === b.name ? a.target - b.target : a.name < b.name ? -1 : 1));
const ports = {};
published.forEach(({ name, target }, i) => {
  (ports[name] ??= {})[target] = portBase + i;
});
for (const [name, s] of Object.entries(compose.services)) {
  if (!s.ports) continue;
  s.ports = Object.entries(ports[name] ?? {}).map(([target, host]) => `127.0.0.1:${host}:${target}`);
}

writeFileSync(outPath, stringify(compose));
writeFileSync(portsPath, JSON.stringify(ports, null, 2) + '\n');
for (const c of changes) process.stdout.write(`  ${c}\n`);
process.stdout.write(`  published ports: 127.0.0.1:${portBase}–${portBase + published.length - 1}\n`);
