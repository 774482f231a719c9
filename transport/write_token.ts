/**
 * The read-your-writes token a write reply gives (DESIGN §7): for each shard the write reached, the
 * WAL sequence of its record. A query carrying it waits until the shards it reads applied those
 * sequences.
 *
 * Shards are keyed by layout generation (transport/layout_types.ts). `shards` holds the generation
 * `generation` (1 when absent: what every token was before generations existed); a write accepted
 * during a rewrite migration went to two generations in one step, and `generations` holds all of
 * them, so a token taken before a cutover still holds the sequences of the generation that serves
 * reads after it.
 */

/** A read-your-writes token, as a write reply gives it. */
export interface WriteToken {
  group: string;
  /** WAL sequence per shard of generation `generation`. */
  shards: Record<string, number>;
  /** The generation `shards` belongs to; 1 when absent. */
  generation?: number;
  /** Every generation the write went to: generation → shard → WAL sequence (dual writes only). */
  generations?: Record<string, Record<string, number>>;
}

const SHARD_KEY = /^(0|[1-9][0-9]{0,2})$/;
const GENERATION_KEY = /^[1-9][0-9]{0,8}$/;

/** The sequences a token holds for one generation of its group ({} when it holds none). */
export function tokenSequences(t: WriteToken, generation: number): Record<string, number> {
  const all = t.generations?.[String(generation)];
  if (all) return all;
  return (t.generation ?? 1) === generation ? t.shards : {};
}

/** Every (generation, shard sequences) a token holds. */
function entries(t: WriteToken): [number, Record<string, number>][] {
  const out = new Map<number, Record<string, number>>([[t.generation ?? 1, t.shards]]);
  for (const [g, s] of Object.entries(t.generations ?? {})) out.set(Number(g), s);
  return [...out];
}

/**
 * One token covering every write of `tokens` (all of `group`): the latest sequence per
 * (generation, shard). Its `shards` are those of the newest generation any of them names.
 */
export function mergeTokens(group: string, tokens: readonly WriteToken[]): WriteToken {
  const by = new Map<number, Record<string, number>>();
  for (const t of tokens) {
    for (const [g, shards] of entries(t)) {
      const m = by.get(g) ?? {};
      for (const [s, seq] of Object.entries(shards)) m[s] = Math.max(m[s] ?? 0, seq);
      by.set(g, m);
    }
  }
  const sorted = (m: Record<string, number>) =>
    Object.fromEntries(
      Object.keys(m)
        .sort((a, b) => Number(a) - Number(b))
        .map((s) => [s, m[s]!]),
    );
  const gens = [...by.keys()].sort((a, b) => a - b);
  if (gens.length === 0) return { group, shards: {} };
  const newest = gens[gens.length - 1]!;
  const token: WriteToken = { group, shards: sorted(by.get(newest)!) };
  if (newest !== 1) token.generation = newest;
  if (gens.length > 1) token.generations = Object.fromEntries(gens.map((g) => [String(g), sorted(by.get(g)!)]));
  return token;
}

/**
 * Checks a token from the wire or a command line: the token, or the problem as `{path, message}`
 * (the path is relative to the token, such as `shards.3`).
 */
export function checkWriteToken(v: unknown): WriteToken | { path: string; message: string } {
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isObj(v)) return { path: '', message: 'must be an object' };
  if (typeof v.group !== 'string') return { path: 'group', message: 'must be a group name' };
  const checkShards = (m: unknown, path: string): { path: string; message: string } | null => {
    if (!isObj(m)) return { path, message: 'must map shard numbers to WAL sequences' };
    for (const [k, s] of Object.entries(m)) {
      if (!SHARD_KEY.test(k)) return { path: `${path}.${k}`, message: 'is not a shard number' };
      if (!Number.isSafeInteger(s) || (s as number) < 0)
        return { path: `${path}.${k}`, message: 'must be a non-negative integer WAL sequence' };
    }
    return null;
  };
  const problem = checkShards(v.shards, 'shards');
  if (problem) return problem;
  const token: WriteToken = { group: v.group, shards: v.shards as Record<string, number> };
  if (v.generation !== undefined) {
    if (!Number.isSafeInteger(v.generation) || (v.generation as number) < 1)
      return { path: 'generation', message: 'must be a positive integer' };
    token.generation = v.generation as number;
  }
  if (v.generations !== undefined) {
    if (!isObj(v.generations)) return { path: 'generations', message: 'must map generations to shard sequences' };
    for (const [g, m] of Object.entries(v.generations)) {
      if (!GENERATION_KEY.test(g)) return { path: `generations.${g}`, message: 'is not a generation number' };
      const p = checkShards(m, `generations.${g}`);
      if (p) return p;
    }
    token.generations = v.generations as Record<string, Record<string, number>>;
  }
  return token;
}
