/**
 * Placement of a group's shards on its data nodes (DESIGN §7): a pure, deterministic function of
 * (group, shards, replicas, data nodes, strategy) that every process computes identically. The
 * strategy is part of the group's placement record, fixed at creation like the nodes themselves:
 *
 * - `balanced` (groups created from now on): rendezvous hashing with bounded load. Each shard takes
 *   the nodes that rank highest for it, except that no node takes more than its quota: every node
 *   owns ⌊shards × replicas ÷ nodes⌋ or ⌈…⌉ shard replicas. Most shards still get their rendezvous
 *   owners, so a changed node set (a migration) moves far fewer shards than a re-deal would.
 * - `rendezvous` (a record without a strategy: groups created before `balanced` existed): plain
 *   highest-random-weight hashing, balanced only in expectation (three shards on three nodes land
 *   on one node one time in nine). Kept so stored groups keep their owners: a new owner would
 *   rebuild a shard from the WAL, which holds only its last days, and the data flushed before that
 *   would stay on the old owner's disk, unread.
 *
 * Weights are 64-bit hashes of (group, shard, node); ties are broken by node name. The order of
 * the data nodes and duplicates in it do not matter.
 */
import { assert } from '../runtime/assert.js';
import type { Group, PlacementStrategy } from '../transport/schema_types.js';
import { hash64Init, hash64Update, type Hash64 } from './series_id.js';

/** What placement depends on; `strategy` absent means `rendezvous` (see above). */
export interface PlacementSpec {
  group: string;
  shards: number;
  replicas: number;
  dataNodes: readonly string[];
  strategy?: PlacementStrategy;
}

/** The placement spec of a stored group, or null when it has no placement record. */
export function placementSpecOf(g: Group): PlacementSpec | null {
  if (!g.placement) return null;
  const spec: PlacementSpec = {
    group: g.name,
    shards: g.shards,
    replicas: g.replicas,
    dataNodes: g.placement.data_nodes,
  };
  if (g.placement.strategy !== undefined) spec.strategy = g.placement.strategy;
  return spec;
}

/** Murmur3's 32-bit finalizer. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

interface Ranked {
  node: string;
  hi: number;
  lo: number;
}

/** The weight of `node` after a key prefix: FNV-1a 64 of prefix and node, then a mixing finalizer. */
function weigh(h: Hash64, prefix: Hash64, node: string): Ranked {
  h.hi = prefix.hi;
  h.lo = prefix.lo;
  hash64Update(h, node);
  // FNV's low bits mix poorly for keys that differ only at the end (node names like n1, n2): a
  // murmur3-style finalizer on both halves, each folded with the other, spreads every input bit.
  const a = fmix32((h.lo ^ Math.imul(h.hi, 0x9e3779b1)) >>> 0);
  return { node, hi: a, lo: fmix32((h.hi ^ a) >>> 0) };
}

/** True when `a` ranks before `b`: higher weight first, then the smaller name. */
function before(a: Ranked, b: Ranked): boolean {
  if (a.hi !== b.hi) return a.hi > b.hi;
  if (a.lo !== b.lo) return a.lo > b.lo;
  return a.node < b.node;
}

/** `nodes` ranked for the key `parts`, best first. */
function ranking(parts: readonly string[], nodes: readonly string[]): string[] {
  const prefix = hash64Init();
  for (const p of parts) hash64Update(prefix, p);
  const h = hash64Init();
  return nodes
    .map((n) => weigh(h, prefix, n))
    .sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0))
    .map((r) => r.node);
}

function shardKey(group: string, shard: number): string[] {
  return [group, `\u0000${shard}\u0000`];
}

function checkSpec(p: PlacementSpec): void {
  assert(typeof p.group === 'string' && p.group !== '', 'a placement names its group');
  assert(
    Number.isSafeInteger(p.shards) && p.shards >= 0,
    `a placement's shard count is a whole number, got ${p.shards}`,
  );
  assert(Number.isSafeInteger(p.replicas) && p.replicas >= 1, `a placement's replicas are positive, got ${p.replicas}`);
}

/**
 * Bounded-load rendezvous. Shards are dealt in order; each takes its best-ranked nodes that have
 * quota left. Quotas sum to exactly shards × r, so a node whose quota left equals the shards left
 * must take every one of them: such a node is taken first, which keeps the deal completable (the
 * sum of min(quota left, shards left) never falls below shards left × r).
 */
function balanced(group: string, shards: number, nodes: readonly string[], r: number): string[][] {
  const total = shards * r;
  const left = new Map<string, number>();
  // The nodes that rank first for the group itself get the quotas rounded up.
  ranking([group, '\u0000quota\u0000'], nodes).forEach((n, i) =>
    left.set(n, Math.floor(total / nodes.length) + (i < total % nodes.length ? 1 : 0)),
  );
  const owners: string[][] = [];
  for (let s = 0; s < shards; s++) {
    const shardsLeft = shards - s;
    const ranked = ranking(shardKey(group, s), nodes);
    let forced = ranked.filter((n) => left.get(n)! >= shardsLeft).length;
    const picked: string[] = [];
    for (const n of ranked) {
      if (picked.length === r) break;
      const q = left.get(n)!;
      if (q === 0) continue;
      if (q >= shardsLeft) forced--;
      else if (r - picked.length <= forced) continue; // the slots left belong to forced nodes
      picked.push(n);
    }
    for (const n of picked) left.set(n, left.get(n)! - 1);
    owners.push(picked);
  }
  return owners;
}

// Tables computed lately, so per-shard lookups (query fan-out errors, shard opening) cost one
// computation per group, not one per shard.
const CACHE_MAX = 64;
const cache = new Map<string, string[][]>();

/**
 * The owners of every shard: `owners[shard]` holds min(replicas, nodes) distinct data nodes, the
 * preferred owner first. No nodes → no owners.
 */
export function placeShards(p: PlacementSpec): string[][] {
  checkSpec(p);
  const nodes = [...new Set(p.dataNodes)].sort();
  const strategy = p.strategy ?? 'rendezvous';
  const key = `${strategy}\u0000${p.group}\u0000${p.shards}\u0000${p.replicas}\u0000${nodes.join('\u0000')}`;
  let table = cache.get(key);
  if (!table) {
    const r = Math.min(p.replicas, nodes.length);
    table =
      r === 0
        ? Array.from({ length: p.shards }, () => [])
        : strategy === 'balanced'
          ? balanced(p.group, p.shards, nodes, r)
          : Array.from({ length: p.shards }, (_, s) => ranking(shardKey(p.group, s), nodes).slice(0, r));
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, table);
  }
  return table.map((o) => [...o]);
}

/** The owners of one shard, the preferred owner first. */
export function ownersOf(p: PlacementSpec, shard: number): string[] {
  assert(
    Number.isSafeInteger(shard) && shard >= 0 && shard < p.shards,
    `a shard of ${p.group} is an integer from 0 to ${p.shards - 1}, got ${shard}`,
  );
  return placeShards(p)[shard]!;
}

/** The shards that `node` owns, ascending. */
export function shardsOwnedBy(p: PlacementSpec, node: string): number[] {
  const out: number[] = [];
  placeShards(p).forEach((owners, s) => {
    if (owners.includes(node)) out.push(s);
  });
  return out;
}
