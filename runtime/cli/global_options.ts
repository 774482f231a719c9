/** Options every `lockstep` command takes (declared on the root program). */
import type { Command } from 'commander';

/** Global options, resolved. */
export interface GlobalOptions {
  natsUrl: string;
  json: boolean;
}

/** Default NATS URL when neither `--nats-url` nor `LOCKSTEP_NATS_URL` is given. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** Reads the global options of the command being run. */
export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { natsUrl?: string; json?: boolean };
  return { natsUrl: o.natsUrl ?? process.env.LOCKSTEP_NATS_URL ?? DEFAULT_NATS_URL, json: !!o.json };
}
