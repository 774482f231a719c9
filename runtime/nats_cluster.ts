/**
 * Starts a JetStream cluster of nats-servers on loopback (for `cluster up --nats-servers 3`, the
 * benchmarks and the tests): each server with its own name, store and config file naming the
 * others as routes. A server can be killed and started again on the same ports and store, which is
 * how the tests take one down and bring it back.
 */
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { NatsBus } from '../transport/nats_bus.js';
import { startNatsServer, type NatsServer } from './nats_server.js';

/** Name of the JetStream cluster the servers form. */
export const NATS_CLUSTER_NAME = 'lockstep';

/** A running cluster of nats-servers. */
export interface NatsCluster {
  /** Every server's client URL, comma-separated (what nodes and clients take). */
  url: string;
  /** The servers in order; an entry is replaced when that server is started again. */
  servers: NatsServer[];
  /** Starts server `i` again on its ports and store (after it was stopped or killed). */
  restart(i: number): Promise<NatsServer>;
  stop(): Promise<void>;
}

/** Options of `startNatsCluster`. */
export interface NatsClusterOptions {
  /** Directory holding one sub-directory (config, store, ports file) per server. */
  dir: string;
  /** Servers (at least 2; 3 for a quorum that survives one loss). */
  size: number;
  /** How long to wait for the servers to elect a JetStream leader. */
  readyTimeoutMs?: number;
}

/**
 * A TCP port free on 127.0.0.1 right now (the routes must name ports before the servers start).
 * Another process may take it before it is used: for local clusters and tests only.
 */
export async function freeLoopbackPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The config of server `i`: its name, cluster port and routes to every other server. */
function serverConfig(i: number, clusterPorts: number[]): string {
  const routes = clusterPorts
    .filter((_, j) => j !== i)
    .map((p) => `    "nats-route://127.0.0.1:${p}"`)
    .join('\n');
  return [
    `server_name: n${i + 1}`,
    'cluster {',
    `  name: ${NATS_CLUSTER_NAME}`,
    `  listen: 127.0.0.1:${clusterPorts[i]}`,
    '  routes: [',
    routes,
    '  ]',
    '}',
    '',
  ].join('\n');
}

/** Resolves once the cluster answers JetStream API calls (a meta leader was elected), else throws. */
async function awaitJetStream(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const bus = await NatsBus.connect({ url, name: 'nats-cluster-ready' });
  try {
    for (;;) {
      let last = '';
      try {
        const reply = await bus.request('$JS.API.INFO', new Uint8Array(), { timeoutMs: 1000 });
        const body = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { description?: string } };
        if (!body.error) return;
        last = body.error.description ?? 'error';
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`the NATS cluster elected no JetStream leader within ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await bus.close();
  }
}

/** The directory of server i (its config and store). */
const serverDir = (dir: string, i: number): string => join(dir, `n${i + 1}`);

/** Attempts at starting a cluster whose route ports another process took meanwhile. */
const PORT_RACE_ATTEMPTS = 3;

/**
 * Starts `size` servers as one JetStream cluster; resolves once JetStream answers. Route ports are
 * picked free and bound a moment later by the servers: when another process took one in between,
 * the cluster is started again on new ports (a bounded number of times).
 */
export async function startNatsCluster(opts: NatsClusterOptions): Promise<NatsCluster> {
  if (!Number.isInteger(opts.size) || opts.size < 2) throw new Error(`a NATS cluster needs at least 2 servers`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(opts);
    } catch (err) {
      if (attempt >= PORT_RACE_ATTEMPTS || !/address already in use/.test((err as Error).message)) throw err;
      // The failed attempt's servers are stopped; their stores must not carry its cluster state over.
      for (let i = 0; i < opts.size; i++) rmSync(serverDir(opts.dir, i), { recursive: true, force: true });
    }
  }
}

async function startNatsClusterOnce(opts: NatsClusterOptions): Promise<NatsCluster> {
  const clusterPorts: number[] = [];
  for (let i = 0; i < opts.size; i++) clusterPorts.push(await freeLoopbackPort());
  const dirs = clusterPorts.map((_, i) => serverDir(opts.dir, i));
  const configs = dirs.map((d, i) => {
    mkdirSync(d, { recursive: true });
    const file = join(d, 'server.conf');
    writeFileSync(file, serverConfig(i, clusterPorts));
    return file;
  });
  const servers: NatsServer[] = [];
  const clientPorts: number[] = [];
  const stopAll = async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
  };
  try {
    for (let i = 0; i < opts.size; i++) {
      const s = await startNatsServer({ dir: dirs[i], args: ['-c', configs[i]!] });
      servers.push(s);
      clientPorts.push(Number(new URL(s.url).port));
    }
    const url = servers.map((s) => s.url).join(',');
    await awaitJetStream(url, opts.readyTimeoutMs ?? 30_000);
    return {
      url,
      servers,
      async restart(i: number) {
        const s = await startNatsServer({ dir: dirs[i], args: ['-c', configs[i]!, '-p', String(clientPorts[i])] });
        servers[i] = s;
        return s;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
