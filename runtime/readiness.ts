/**
 * Whether a node is ready to serve (`/readyz`), as a pure function of what its supervisor sees:
 * connected to NATS, and every actor running — the schema watcher past its first full read of the
 * registry, the data shards' actor past opening its data directory and owned shards — none failed
 * or restarting. `/healthz` says only that the process answers.
 */
import type { Lifecycle } from './actor.js';

/** What readiness is judged on. */
export interface ReadinessInput {
  natsConnected: boolean;
  actors: readonly { id: string; lifecycle: Lifecycle; restarting: boolean }[];
}

/** The verdict: ready, or why not (one line per reason). */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** Judges readiness. */
export function readiness(i: ReadinessInput): Readiness {
  const reasons: string[] = [];
  if (!i.natsConnected) reasons.push('not connected to NATS');
  for (const a of i.actors) {
    if (a.restarting) reasons.push(`actor ${a.id} is restarting`);
    else if (a.lifecycle !== 'running') reasons.push(`actor ${a.id} is ${a.lifecycle}`);
  }
  if (i.actors.length === 0) reasons.push('no actor started');
  return { ready: reasons.length === 0, reasons };
}
