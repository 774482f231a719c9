/**
 * The duration histogram of a data API handler (writes, queries): every request is observed with
 * `result` = `ok`, `forwarded` (passed on to a shard that answers the client) or its error code, on
 * every path.
 */
import type { Histogram } from 'prom-client';
import type { Clock } from '../../runtime/clock.js';
import { ForwardedReply } from '../../transport/rpc.js';

/** `handle` wrapped so each call is observed in `duration` under `{kind, result}`. */
export function timed<T, A extends unknown[]>(
  duration: Histogram<'kind' | 'result'>,
  clock: Clock,
  kind: string,
  handle: (...args: A) => Promise<T>,
): (...args: A) => Promise<T> {
  return async (...args) => {
    const started = clock.monotonic();
    let result = 'error';
    try {
      const reply = await handle(...args);
      // A forwarded request is answered elsewhere: this measures the liaison's part only.
      result = reply instanceof ForwardedReply ? 'forwarded' : 'ok';
      return reply;
    } catch (err) {
      result = (err as { code?: string }).code ?? 'Internal';
      throw err;
    } finally {
      duration.observe({ kind, result }, (clock.monotonic() - started) / 1000);
    }
  };
}
