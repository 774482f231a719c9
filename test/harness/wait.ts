/** Polling with a deadline: the only way tests wait for something to become true. */

/** Options of `waitFor`. */
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  what?: string;
}

/** Calls `probe` until it returns a value other than undefined/false, or throws at the deadline. */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
      if (err instanceof Error && err.message.startsWith('nats-server exited')) throw err;
    }
    if (Date.now() > deadline) {
      const why = lastErr ? `: last error ${(lastErr as Error).message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}

/** Resolves with a process's exit code once it exited, or rejects after `ms` naming `what`. */
export function exitWithin(
  exited: Promise<{ code: number | null }>,
  ms: number,
  what = 'the process',
): Promise<number | null> {
  let t: NodeJS.Timeout;
  return Promise.race([
    exited.then((e) => e.code),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not exit within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
