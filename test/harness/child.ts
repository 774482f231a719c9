/** Child processes of tests: a script run to completion with a hard bound, and a liveness check. */
import { spawn } from 'node:child_process';

/** How a child ended, with everything it printed. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript script under tsx to its end; SIGKILLed (and so reported) past `timeoutMs`. */
export function runScript(script: string, args: string[], timeoutMs: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
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

/** True while a process with this pid exists (one we may not signal counts as alive). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const REPO = new URL('../..', import.meta.url);

/**
 * Runs the `lockstep` CLI (bin/lockstep.js) against `natsUrl` to its end, feeding `input` on stdin
 * when given; SIGKILLed (and so reported) past `timeoutMs`. Asynchronous, so a test process that
 * serves the API itself keeps serving meanwhile.
 */
export function runCli(
  natsUrl: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/lockstep.js', ...args], {
      cwd: REPO,
      env: { ...process.env, LOCKSTEP_NATS_URL: natsUrl, OTEL_EXPORTER_OTLP_ENDPOINT: '' },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += String(d)));
    child.stderr!.on('data', (d) => (stderr += String(d)));
    // The CLI may stop reading early (a malformed line): a broken pipe is expected then.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
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
