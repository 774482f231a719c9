/**
 * Starts a local nats-server with JetStream on an ephemeral loopback port (for `cluster up`, the
 * benchmarks and the tests) and stops it by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running nats-server. */
export interface NatsServer {
  url: string;
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

/** Options of `startNatsServer`. */
export interface NatsServerOptions {
  /** Directory for the store and the ports file; a temp dir (removed at stop) when absent. */
  dir?: string;
  startTimeoutMs?: number;
  /** Extra server flags (e.g. `--user`, `--pass`, `-c FILE`). */
  args?: string[];
  /** Extra environment of the server (the variables a config file names). */
  env?: Record<string, string>;
}

/** True when a nats-server binary is on the PATH. */
export function natsServerAvailable(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Starts a nats-server; rejects with its stderr if it does not report its port in time. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  if (!natsServerAvailable()) {
    throw new Error(
      'nats-server is not installed: run `apt-get install -y nats-server` (Debian) or `npm run ensure-nats`',
    );
  }
  const temp = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'lockstep-nats-'));
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.ports')) rmSync(join(dir, f), { force: true });
  const child: ChildProcess = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', join(dir, 'store'), '--ports_file_dir', dir, ...(opts.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...opts.env } },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => {
    if (stderr.length < 10_000) stderr += String(d);
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  let url: string | undefined;
  while (!url) {
    if (exited) throw new Error(`nats-server exited at start: ${stderr.trim()}`);
    const f = readdirSync(dir).find((n) => n === `nats-server_${child.pid}.ports`);
    if (f) {
      try {
        url = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { nats?: string[] }).nats?.[0];
      } catch {
        // Partially written: read again.
      }
    }
    if (!url) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `nats-server did not report its port within ${opts.startTimeoutMs ?? 10_000} ms: ${stderr.trim()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    url,
    pid: child.pid!,
    dir,
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
      if (temp) rmSync(dir, { recursive: true, force: true });
    },
  };
}
