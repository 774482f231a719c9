/**
 * Placement of shards on data nodes by rendezvous (highest random weight) hashing (DESIGN §7).
 *
 * Every (group, shard, node) triple gets a pseudo-random 64-bit weight; the owners of a shard are
 * the `replicas` nodes with the highest weights, best first (the first is the preferred owner).
 * Because a node's weight for a shard does not depend on the other nodes, adding a node only takes
 * the shards where it now ranks in the top `replicas`, and removing one only re-homes the shards it
 * owned: every other shard keeps its owners. Weights are uniform, so load is balanced in
 * expectation. Ties (two nodes with the same 64-bit weight) are broken by node name, so the result
 * is a pure function of its arguments and every process computes the same placement.
 */
import { hash64Init, hash64Update, type Hash64 } from './series_id.js';

/** The weight of `node` for (group, shard): FNV-1a 64 of the triple, then a mixing finalizer. */
function weight(h: Hash64, prefixHi: number, prefixLo: number, node: string): void {
  h.hi = prefixHi;
  h.lo = prefixLo;
  hash64Update(h, node);
  // FNV's low bits mix poorly for keys that differ only at the end (node names like n1, n2): a
  // murmur3-style finalizer on both halves, each folded with the other, spreads every input bit.
  const a = fmix32((h.lo ^ Math.imul(h.hi, 0x9e3779b1)) >>> 0);
  const b = fmix32((h.hi ^ a) >>> 0);
  h.hi = a;
  h.lo = b;
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

function checkArgs(group: string, shard: number, replicas: number): void {
  if (typeof group !== 'string' || group === '') throw new RangeError('group must be a non-empty string');
  if (!Number.isSafeInteger(shard) || shard < 0)
    throw new RangeError(`shard must be a non-negative integer, got ${shard}`);
  if (!Number.isSafeInteger(replicas) || replicas < 1)
    throw new RangeError(`replicas must be a positive integer, got ${replicas}`);
}

interface Ranked {
  node: string;
  hi: number;
  lo: number;
}

/** True when `a` ranks before `b`: higher weight first, then the smaller name. */
function before(a: Ranked, b: Ranked): boolean {
  if (a.hi !== b.hi) return a.hi > b.hi;
  if (a.lo !== b.lo) return a.lo > b.lo;
  return a.node < b.node;
}

/**
 * The owners of (group, shard) among `dataNodes`: `replicas` distinct nodes (all of them when
 * fewer), best first. Duplicate names in `dataNodes` count once; the order of `dataNodes` does not
 * matter. No nodes → no owners.
 */
export function ownersOf(group: string, shard: number, dataNodes: readonly string[], replicas: number): string[] {
  checkArgs(group, shard, replicas);
  const h = hash64Init();
  hash64Update(h, group);
  hash64Update(h, `\u0000${shard}\u0000`);
  const prefixHi = h.hi;
  const prefixLo = h.lo;
  // Keep the best `replicas` by insertion into a short sorted list: replicas is 1–3, nodes few.
  const top: Ranked[] = [];
  const seen = new Set<string>();
  for (const node of dataNodes) {
    if (seen.has(node)) continue;
    seen.add(node);
    weight(h, prefixHi, prefixLo, node);
    const r: Ranked = { node, hi: h.hi, lo: h.lo };
    if (top.length === replicas && !before(r, top[top.length - 1]!)) continue;
    let i = top.length;
    while (i > 0 && before(r, top[i - 1]!)) i--;
    top.splice(i, 0, r);
    if (top.length > replicas) top.pop();
  }
  return top.map((r) => r.node);
}

/** The shards (0 ≤ shard < `shards`) of `group` that `node` owns, ascending. */
export function shardsOwnedBy(
  node: string,
  group: string,
  shards: number,
  dataNodes: readonly string[],
  replicas: number,
): number[] {
  if (!Number.isSafeInteger(shards) || shards < 0)
    throw new RangeError(`shards must be a non-negative integer, got ${shards}`);
  const out: number[] = [];
  if (!dataNodes.includes(node)) return out;
  for (let s = 0; s < shards; s++) if (ownersOf(group, s, dataNodes, replicas).includes(node)) out.push(s);
  return out;
}
