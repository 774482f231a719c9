/**
 * A local cluster of real node processes on one machine, for `lockstep cluster up`, the benchmarks
 * and the integration tests: its own nats-server (unless given a URL), N liaisons, data nodes and
 * claimers, each a `lockstep node` process logging to `<dir>/logs/<name>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NatsBus } from '../transport/nats_bus.js';
import { call } from '../transport/rpc.js';
import { subjectsFor } from '../transport/subjects.js';
import { startNatsServer, type NatsServer } from './nats_server.js';

/** The `lockstep` command of this checkout or package, seen from runtime/ in the sources or dist/runtime/ in the build. */
const BIN = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../bin/lockstep.js' : '../../bin/lockstep.js', import.meta.url),
);

/** Options of a local cluster. */
export interface LocalClusterOptions {
  dir: string;
  liaisons?: number;
  dataNodes?: number;
  claimers?: number;
  /** Use this NATS server instead of starting one. */
  natsUrl?: string;
  /** Extra flags for every node (timings, fault injection, …). */
  nodeArgs?: string[];
  /** Extra environment for every node. */
  env?: Record<string, string>;
  /** How long to wait for every node to answer (ms). */
  readyTimeoutMs?: number;
  /** Aborting it during start stops what was started and rejects. */
  signal?: AbortSignal;
}

/** One node process. */
export interface LocalNode {
  name: string;
  roles: string[];
  pid: number;
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode?: number | null;
  logFile: string;
}

/** A running local cluster. */
export class LocalCluster {
  readonly nodes = new Map<string, LocalNode>();
  private bus?: Promise<NatsBus>;

  private constructor(
    readonly opts: LocalClusterOptions,
    readonly natsUrl: string,
    private readonly nats?: NatsServer,
  ) {}

  /** Starts NATS (unless given) and every node, waits until each answers, writes cluster.json. */
  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const dir = resolve(opts.dir);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const nats = opts.natsUrl ? undefined : await startNatsServer({ dir: join(dir, 'nats') });
    const cluster = new LocalCluster({ ...opts, dir }, opts.natsUrl ?? nats!.url, nats);
    try {
      const specs: [string, string][] = [];
      for (let i = 1; i <= (opts.liaisons ?? 1); i++) specs.push([`l${i}`, 'liaison']);
      for (let i = 1; i <= (opts.dataNodes ?? 2); i++) specs.push([`d${i}`, 'data']);
      for (let i = 1; i <= (opts.claimers ?? 1); i++) specs.push([`c${i}`, 'claimer']);
      for (const [name, role] of specs) cluster.spawnNode(name, [role]);
      await Promise.all(specs.map(([name]) => cluster.waitReady(name)));
      cluster.writeClusterFile();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Starts one more node process (not waiting for it), with `env` added to the cluster's environment. */
  spawnNode(name: string, roles: string[], extraArgs: string[] = [], env: Record<string, string> = {}): LocalNode {
    const logFile = join(this.opts.dir, 'logs', `${name}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const args = [
      BIN,
      'node',
      '--name',
      name,
      '--role',
      roles.join(','),
      '--nats-url',
      this.natsUrl,
      '--data-dir',
      join(this.opts.dir, 'data'),
      '--metrics-port',
      '0',
      ...(this.opts.nodeArgs ?? []),
      ...extraArgs,
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.opts.env, ...env },
    });
    // Both streams feed one log: neither may end it; it ends once the process and its pipes closed,
    // and `exited` resolves only when the log holds everything the node wrote.
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const node: LocalNode = {
      name,
      roles,
      pid: child.pid!,
      process: child,
      logFile,
      exited: new Promise((r) => child.once('close', (code, signal) => log.end(() => r({ code, signal })))),
    };
    child.once('exit', (code) => {
      // Known as exited at once (waitReady checks it), even before the log is complete.
      node.exitCode ??= code;
    });
    this.nodes.set(name, node);
    return node;
  }

  /** A bus connection of the cluster's own (for admin calls). */
  adminBus(): Promise<NatsBus> {
    // Cache the promise, not the bus: concurrent callers must share one connection.
    this.bus ??= NatsBus.connect({ url: this.natsUrl, name: 'local-cluster' });
    return this.bus;
  }

  /** Waits until a node answers its control service (it is then started and a member). */
  async waitReady(name: string): Promise<void> {
    const node = this.nodes.get(name)!;
    const bus = await this.adminBus();
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 60_000);
    const subject = subjectsFor().node.control(name, 'actors');
    for (;;) {
      if (this.opts.signal?.aborted) throw new Error('start interrupted');
      if (node.exitCode !== undefined)
        throw new Error(`node ${name} exited with code ${node.exitCode} at start (log: ${node.logFile})`);
      try {
        await call(bus, subject, {}, { timeoutMs: 1000 });
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`node ${name} did not become ready in time (log: ${node.logFile})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Writes `<dir>/cluster.json`: the NATS URL and each node's name, roles and pid. */
  writeClusterFile(): void {
    const doc = {
      natsUrl: this.natsUrl,
      ...(this.nats ? { natsPid: this.nats.pid } : {}),
      nodes: [...this.nodes.values()]
        .filter((n) => n.exitCode === undefined)
        .map((n) => ({ name: n.name, roles: n.roles, pid: n.pid })),
    };
    writeFileSync(join(this.opts.dir, 'cluster.json'), `${JSON.stringify(doc, null, 2)}\n`);
  }

  /** Sends a signal to a node. */
  kill(name: string, signal: NodeJS.Signals = 'SIGTERM'): void {
    const n = this.nodes.get(name);
    if (n && n.exitCode === undefined) n.process.kill(signal);
  }

  /** Stops every node (SIGTERM, then SIGKILL after 10 s) and the NATS server it started. */
  async stop(): Promise<void> {
    const alive = [...this.nodes.values()].filter((n) => n.exitCode === undefined);
    for (const n of alive) n.process.kill('SIGTERM');
    await Promise.all(
      alive.map(async (n) => {
        const t = setTimeout(() => n.process.kill('SIGKILL'), 10_000);
        await n.exited;
        clearTimeout(t);
      }),
    );
    if (this.bus) await (await this.bus.catch(() => undefined))?.close().catch(() => undefined);
    await this.nats?.stop();
  }
}
