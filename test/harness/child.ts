/** Child processes of tests: a script run to completion with a hard bound, and a liveness check. */
import { existsSync, readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How a child ended, with everything it printed. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawns `file` with `argv` and collects everything it prints until it ends; SIGKILLed (and so
 * reported) past `timeoutMs`. With `input` defined it is fed on stdin, else stdin is closed.
 */
function collect(
  file: string,
  argv: string[],
  opts: { timeoutMs: number; input?: string; cwd?: string | URL; env?: NodeJS.ProcessEnv },
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += String(d)));
    child.stderr!.on('data', (d) => (stderr += String(d)));
    // The child may stop reading early (a CLI on a malformed line): a broken pipe is expected then.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs a TypeScript script under tsx to its end; SIGKILLed (and so reported) past `timeoutMs`. */
export function runScript(script: string, args: string[], timeoutMs: number): Promise<ChildResult> {
  return collect(process.execPath, ['--import', 'tsx', script, ...args], { timeoutMs });
}

/** True while a process with this pid exists (one we may not signal counts as alive). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * SIGKILLs every process a `cluster up` recorded in `clusterJson` (itself, its nats-server, its
 * nodes): the fallback when it did not stop on SIGINT, so nothing it started outlives the test.
 */
export function killCluster(clusterJson: string): void {
  if (!existsSync(clusterJson)) return;
  const doc = JSON.parse(readFileSync(clusterJson, 'utf8')) as {
    pid?: number;
    natsPid?: number;
    nodes?: { pid: number }[];
  };
  for (const pid of [doc.pid, doc.natsPid, ...(doc.nodes ?? []).map((n) => n.pid)]) {
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

const REPO = new URL('../..', import.meta.url);
/** The `lockstep` command of this checkout (runs the compiled dist/). */
export const LOCKSTEP_BIN = fileURLToPath(new URL('bin/lockstep.js', REPO));

/** Options of `runCli`. */
export interface RunCliOptions {
  /** Fed on stdin (else stdin is closed). */
  input?: string;
  /** SIGKILL past this (reported as signal SIGKILL, code null). Default 60 s. */
  timeoutMs?: number;
  /** Working directory (default: the checkout). */
  cwd?: string | URL;
  /** Extra environment. */
  env?: Record<string, string>;
}

/**
 * Runs the `lockstep` CLI (bin/lockstep.js) against `natsUrl` to its end, feeding `input` on stdin
 * when given; SIGKILLed (and so reported) past `timeoutMs`. Asynchronous, so a test process that
 * serves the API itself keeps serving meanwhile. With `natsUrl` undefined, LOCKSTEP_NATS_URL is
 * unset, so the CLI finds its URL itself (flag, ./.lockstep/cluster.json, default).
 */
export function runCli(natsUrl: string | undefined, args: string[], opts: RunCliOptions = {}): Promise<ChildResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', ...opts.env };
  if (natsUrl === undefined) delete env.LOCKSTEP_NATS_URL;
  else env.LOCKSTEP_NATS_URL = natsUrl;
  const { input, timeoutMs = 60_000, cwd = REPO } = opts;
  return collect(process.execPath, [LOCKSTEP_BIN, ...args], { timeoutMs, input, cwd, env });
}

/** True when util-linux `script` is there to give a child a pseudo-terminal. */
export function ptyAvailable(): boolean {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
}

const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The command that runs `argv` on a pseudo-terminal (util-linux `script`), keeping its exit code. */
export function inPty(argv: string[]): [string, string[]] {
  return ['script', ['--quiet', '--flush', '--return', '--command', argv.map(shellQuote).join(' '), '/dev/null']];
}

/** The environment a pseudo-terminal child needs besides the caller's: a POSIX shell and a real TERM. */
export const PTY_ENV = { SHELL: '/bin/sh', TERM: 'xterm' };

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), so stdout and stderr are a TTY as in an
 * interactive shell; `stdout` holds everything the terminal showed (both streams, escape codes
 * included). The exit code is the CLI's. SIGKILLed past `timeoutMs`.
 */
export function runCliInPty(
  natsUrl: string,
  args: string[],
  opts: { timeoutMs?: number; cwd?: string; env?: Record<string, string> } = {},
): Promise<ChildResult> {
  const [file, argv] = inPty([process.execPath, LOCKSTEP_BIN, ...args]);
  return collect(file, argv, {
    timeoutMs: opts.timeoutMs ?? 60_000,
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, LOCKSTEP_NATS_URL: natsUrl, OTEL_EXPORTER_OTLP_ENDPOINT: '', ...PTY_ENV, ...opts.env },
  });
}
