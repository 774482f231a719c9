/** JSON-lines logs with level, node and actor (pino, written synchronously to stderr). */
import { pino, type Logger } from 'pino';

export type { Logger };

/** A logger for one node (and optionally one actor). Level from `LOCKSTEP_LOG_LEVEL` via config. */
export function createLogger(opts: { node: string; actor?: string; level?: string }): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { node: opts.node, ...(opts.actor ? { actor: opts.actor } : {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
