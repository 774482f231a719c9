/**
 * What the data benchmarks share about stored data: the merged write token of a load, waiting
 * (bounded) until the data nodes flushed it to parts, and the bytes their data directories take.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LockstepClient } from '../../transport/client.js';
import type { WriteToken } from '../../transport/query_types.js';

/** Interval of the bounded flush poll. */
const FLUSH_POLL_MS = 100;

/** Folds a write's token into `into`: per shard, the largest sequence. */
export function mergeToken(into: WriteToken, t: WriteToken): void {
  for (const [s, seq] of Object.entries(t.shards)) into.shards[s] = Math.max(into.shards[s] ?? 0, seq);
}

/**
 * Sum of the sizes of the files under `dir`, and their count. Background merges may remove parts
 * while it walks: what vanished meanwhile is not counted.
 */
export function diskUsage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (gone(err)) return;
      throw err;
    }
    for (const e of entries) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) {
        try {
          bytes += statSync(path).size;
          files++;
        } catch (err) {
          if (!gone(err)) throw err;
        }
      }
    }
  };
  walk(dir);
  return { bytes, files };
}

type ShardsInfo = { shard: string; applied: number; flushed: number }[];

/** Polls the data nodes' actors until, for every shard of `token`, one of them flushed its sequence to parts. */
export async function waitFlushed(
  client: LockstepClient,
  nodes: readonly string[],
  token: WriteToken,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  let last: ShardsInfo = [];
  while (performance.now() < deadline && !signal.aborted) {
    last = [];
    for (const node of nodes) {
      const r = await client.actors(node);
      last.push(...((r.actors.find((a) => a.id === 'data_shard')?.details.shards as ShardsInfo | undefined) ?? []));
    }
    const done = Object.entries(token.shards).every(([s, seq]) =>
      last.some((x) => x.shard === `${token.group}/${s}` && x.flushed >= seq),
    );
    if (done) return;
    await new Promise((r) => setTimeout(r, FLUSH_POLL_MS));
  }
  throw new Error(
    `the shards did not flush the load in time: token ${JSON.stringify(token.shards)}, shards ${JSON.stringify(last)}`,
  );
}
