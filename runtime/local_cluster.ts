/**
 * A local cluster of real node processes on one machine, for `lockstep cluster up`, the benchmarks
 * and the integration tests: its own nats-server (unless given a URL), N liaisons, data nodes and
 * claimers, each a `lockstep node` process logging to `<dir>/logs/<name>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errors } from '../transport/errors.js';
import type { NatsAuth } from '../transport/nats_auth.js';
import { redactUrl } from '../transport/nats_auth.js';
import { NatsBus } from '../transport/nats_bus.js';
import { call } from '../transport/rpc.js';
import { subjectsFor } from '../transport/subjects.js';
import { startNatsCluster, type NatsCluster } from './nats_cluster.js';
import { startNatsServer, type NatsServer } from './nats_server.js';

/** The file in a cluster's directory that says where its NATS is and which processes it runs. */
export const CLUSTER_FILE = 'cluster.json';

/**
 * The content of `<dir>/cluster.json`. It holds the NATS URL as given, credentials included: the
 * CLI run in the cluster's directory connects with it. The file is therefore written with mode
 * 0600, and nothing prints the URL without `redactUrl`.
 */
export interface ClusterFile {
  natsUrl: string;
  /** The nats-server the cluster started (absent when it was given a URL); the first of several. */
  natsPid?: number;
  /** Every nats-server the cluster started, when it started a NATS cluster of several. */
  natsPids?: number[];
  /** The process that started the cluster and stops it (`lockstep cluster up`, a test, a benchmark). */
  pid?: number;
  nodes: { name: string; roles: string[]; pid: number }[];
}

/** Reads `<dir>/cluster.json`; undefined when it is missing or not a cluster file. */
export function readClusterFile(dir: string): ClusterFile | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(join(dir, CLUSTER_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  const d = doc as Partial<ClusterFile> | null;
  if (!d || typeof d.natsUrl !== 'string' || !Array.isArray(d.nodes)) return undefined;
  return { ...d, natsUrl: d.natsUrl, nodes: d.nodes.filter((n) => n && typeof n.pid === 'number') };
}

/**
 * True while `pid` runs a process of a cluster. A pid whose command line (where /proc has one)
 * names neither lockstep nor nats-server was reused by something else after the cluster ended.
 */
export function clusterProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('lockstep') || cmdline.includes('nats-server');
  } catch {
    return true; // no /proc (not Linux): signal 0 is all we know
  }
}

/** The processes of a cluster file that still run, each with what it is. */
export function liveClusterProcesses(doc: ClusterFile): { pid: number; what: string }[] {
  const all = [
    // This process as owner is no other cluster (a test may restart one in the same directory).
    ...(doc.pid === undefined || doc.pid === process.pid ? [] : [{ pid: doc.pid, what: 'owner' }]),
    ...[...new Set([...(doc.natsPid === undefined ? [] : [doc.natsPid]), ...(doc.natsPids ?? [])])].map((pid) => ({
      pid,
      what: 'nats-server',
    })),
    ...doc.nodes.map((n) => ({ pid: n.pid, what: n.name })),
  ];
  return all.filter((p) => Number.isSafeInteger(p.pid) && p.pid > 0 && clusterProcessRunning(p.pid));
}

/** Throws `FailedPrecondition` when `<dir>/cluster.json` describes a cluster that still runs. */
export function refuseRunningCluster(dir: string): void {
  const doc = readClusterFile(dir);
  const live = doc ? liveClusterProcesses(doc) : [];
  if (!doc || live.length === 0) return; // none, or stale: its processes are gone
  const pids = live.map((p) => `${p.pid} (${p.what})`).join(', ');
  throw errors.failedPrecondition(
    `a cluster is already running in ${dir} (NATS ${redactUrl(doc.natsUrl)}; live pids ${pids}): ` +
      `stop it first (Ctrl-C where it runs, or kill ${live[0]!.pid}) or use another --dir`,
    { dir, pids: live.map((p) => p.pid) },
  );
}

/** What `LocalCluster.start` reports while it starts. */
export type ClusterProgress =
  { kind: 'nats'; url: string } | { kind: 'node_ready'; name: string; ready: number; total: number };

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
  /** Use this NATS server (or comma-separated servers) instead of starting one. */
  natsUrl?: string;
  /** Without `natsUrl`: how many nats-servers to start, as one JetStream cluster when 2 or more (default 1). */
  natsServers?: number;
  /** Extra flags for every node (timings, fault injection, …). */
  nodeArgs?: string[];
  /** Extra environment for every node. */
  env?: Record<string, string>;
  /** Extra environment for the nodes of one role (e.g. that role's NATS user), after `env`. */
  roleEnv?: Partial<Record<string, Record<string, string>>>;
  /**
   * Credentials of the cluster's own connection (readiness checks and admin calls to the nodes'
   * control subjects, so a node role's user under deploy/nats.conf).
   */
  adminAuth?: NatsAuth;
  /** How long to wait for every node to answer (ms). */
  readyTimeoutMs?: number;
  /** Aborting it during start stops what was started and rejects. */
  signal?: AbortSignal;
  /** Told when NATS is up and as each node becomes ready. */
  onProgress?: (p: ClusterProgress) => void;
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
    /** The NATS cluster it started, when `natsServers` ≥ 2 (its servers can be killed and restarted). */
    readonly natsCluster?: NatsCluster,
  ) {}

  /**
   * Starts NATS (unless given) and every node, waits until each answers, writes cluster.json.
   * Refuses (`FailedPrecondition`) when the directory's cluster.json names a cluster still running.
   */
  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const dir = resolve(opts.dir);
    refuseRunningCluster(dir);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const several = !opts.natsUrl && (opts.natsServers ?? 1) > 1;
    const natsCluster = several
      ? await startNatsCluster({ dir: join(dir, 'nats'), size: opts.natsServers! })
      : undefined;
    const nats = opts.natsUrl || several ? undefined : await startNatsServer({ dir: join(dir, 'nats') });
    const cluster = new LocalCluster(
      { ...opts, dir },
      opts.natsUrl ?? natsCluster?.url ?? nats!.url,
      nats,
      natsCluster,
    );
    try {
      opts.onProgress?.({ kind: 'nats', url: cluster.natsUrl });
      const specs: [string, string][] = [];
      for (let i = 1; i <= (opts.liaisons ?? 1); i++) specs.push([`l${i}`, 'liaison']);
      for (let i = 1; i <= (opts.dataNodes ?? 2); i++) specs.push([`d${i}`, 'data']);
      for (let i = 1; i <= (opts.claimers ?? 1); i++) specs.push([`c${i}`, 'claimer']);
      for (const [name, role] of specs) cluster.spawnNode(name, [role]);
      // Written at once, so a second start on this directory sees this one while it starts.
      cluster.writeClusterFile();
      let ready = 0;
      await Promise.all(
        specs.map(async ([name]) => {
          await cluster.waitReady(name);
          opts.onProgress?.({ kind: 'node_ready', name, ready: ++ready, total: specs.length });
        }),
      );
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
      '--data-dir',
      join(this.opts.dir, 'data'),
      '--metrics-port',
      '0',
      ...(this.opts.nodeArgs ?? []),
      ...extraArgs,
    ];
    // The URL goes in the environment, not the arguments: `ps` shows arguments to every user.
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...this.opts.env,
        ...(roles.length === 1 ? this.opts.roleEnv?.[roles[0]!] : undefined),
        ...env,
        LOCKSTEP_NATS_URL: this.natsUrl,
      },
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
    this.bus ??= NatsBus.connect({ url: this.natsUrl, auth: this.opts.adminAuth, name: 'local-cluster' });
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

  /**
   * Writes `<dir>/cluster.json` (see ClusterFile): replaced atomically, so a reader never sees half
   * a file, and readable by its owner only, since the URL may carry a password.
   */
  writeClusterFile(): void {
    const doc: ClusterFile = {
      natsUrl: this.natsUrl,
      ...(this.nats ? { natsPid: this.nats.pid } : {}),
      ...(this.natsCluster
        ? { natsPid: this.natsCluster.servers[0]!.pid, natsPids: this.natsCluster.servers.map((s) => s.pid) }
        : {}),
      pid: process.pid,
      nodes: [...this.nodes.values()]
        .filter((n) => n.exitCode === undefined)
        .map((n) => ({ name: n.name, roles: n.roles, pid: n.pid })),
    };
    const file = join(this.opts.dir, CLUSTER_FILE);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, file);
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
    await this.natsCluster?.stop();
  }
}
