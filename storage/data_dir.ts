/**
 * Opening a node's data directory (DESIGN §8):
 *
 * ```
 * <root>/<node>/lock
 * <root>/<node>/<group>/shard-<n>/seg-<start>/metadata              layout generation 1
 * <root>/<node>/<group>/gen-<g>/shard-<n>/seg-<start>/metadata      layout generation g ≥ 2
 * ```
 *
 * Generation 1 keeps the directories shards had before layout generations existed
 * (transport/layout_types.ts). A generation a migration dropped is renamed to `*.dropping` first,
 * then removed, so a crash in between leaves a leftover the next open removes, never half a shard.
 *
 * openDataDir takes the lock first, then checks the storage version of every segment. Any failure
 * after the lock was taken (an unsupported version, unreadable metadata, an I/O error) releases the
 * lock before it is rethrown, so a retry after fixing the data succeeds. On success the caller owns
 * the returned DataDir and releases the lock with `close()`.
 */
import { assert } from '../runtime/assert.js';
import { isValidNodeName, NODE_NAME_PATTERN } from '../transport/subjects.js';
import { join } from 'node:path';
import { systemClock, type Clock } from '../runtime/clock.js';
import { NAME_PATTERN } from '../transport/schema_types.js';
import { CorruptDataError } from './errors.js';
import type { StorageFs } from './fs.js';
import { acquireDataDirLock, LOCK_FILE, type DataDirLock } from './lock.js';
import { DROPPING_SUFFIX, listSegments, removeSegmentLeftovers, type SegmentEntry } from './segment.js';

/** Same grammar as node names in the configuration. */
const SHARD_PATTERN = /^shard-(0|[1-9][0-9]{0,2})$/;
const GENERATION_PATTERN = /^gen-([1-9][0-9]{0,8})$/;

/** Options of openDataDir. */
export interface OpenDataDirOptions {
  /** Stamps the lock's `started_at`; defaults to the system clock. */
  clock?: Clock;
}

/** One segment found on disk, with the group, layout generation and shard it belongs to. */
export interface SegmentInfo extends SegmentEntry {
  group: string;
  generation: number;
  shard: number;
}

/** An open data directory: holds the lock until `close()`. */
export interface DataDir {
  readonly lock: DataDirLock;
  readonly root: string;
  readonly nodeDir: string;
  /** Every segment found at open, by group, shard and start. */
  readonly segments: SegmentInfo[];
  /** Releases the lock; idempotent. */
  close(): Promise<void>;
}

// Only names that can be groups; the lock file (a valid group name itself) and temp files are not.
function isGroupDirName(name: string): boolean {
  return NAME_PATTERN.test(name) && name !== LOCK_FILE;
}

/** The directory holding a generation's shard directories under a node's directory. */
function generationDirOf(nodeDir: string, group: string, generation: number): string {
  return generation === 1 ? join(nodeDir, group) : join(nodeDir, group, `gen-${generation}`);
}

/** The directory of `shard` of `group`'s layout generation `generation` under a node's directory. */
export function shardDirOf(nodeDir: string, group: string, shard: number, generation = 1): string {
  return join(generationDirOf(nodeDir, group, generation), `shard-${shard}`);
}

/**
 * Removes what this node stores of one generation of a group (its shards must be closed): renamed
 * to `*.dropping`, then removed. Returns the shards removed.
 */
export async function dropGeneration(
  fs: StorageFs,
  nodeDir: string,
  group: string,
  generation: number,
): Promise<number[]> {
  const shards = await shardsIn(fs, generationDirOf(nodeDir, group, generation));
  if (generation === 1) {
    for (const shard of shards) {
      const dir = shardDirOf(nodeDir, group, shard, 1);
      await fs.rename(dir, `${dir}${DROPPING_SUFFIX}`);
    }
  } else if (await fs.exists(generationDirOf(nodeDir, group, generation))) {
    const dir = generationDirOf(nodeDir, group, generation);
    await fs.rename(dir, `${dir}${DROPPING_SUFFIX}`);
  }
  await fs.syncDir(join(nodeDir, group));
  await removeDroppedGenerations(fs, nodeDir, group);
  return shards;
}

// Shard directories and generations renamed to `*.dropping` by dropGeneration.
async function removeDroppedGenerations(fs: StorageFs, nodeDir: string, group: string): Promise<void> {
  for (const name of await readDirOrEmpty(fs, join(nodeDir, group))) {
    if (name.endsWith(DROPPING_SUFFIX)) await fs.rm(join(nodeDir, group, name));
  }
}

/** The shard numbers with a directory under `dir`, ascending. */
async function shardsIn(fs: StorageFs, dir: string): Promise<number[]> {
  return (await readDirOrEmpty(fs, dir))
    .map((name) => SHARD_PATTERN.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

async function readDirOrEmpty(fs: StorageFs, path: string): Promise<string[]> {
  try {
    return await fs.readdir(path);
  } catch (err) {
    const code = (err as { code?: unknown })?.code;
    if (code === 'ENOENT') return [];
    // A file where the layout has a directory: the tree is damaged, and no retry will fix it.
    if (code === 'ENOTDIR') throw new CorruptDataError(path, 'expected a directory, found a file', { cause: err });
    throw err;
  }
}

/** The layout generations of `group` this node has shard directories of, ascending. */
export async function generationsOnDisk(fs: StorageFs, nodeDir: string, group: string): Promise<number[]> {
  const names = await readDirOrEmpty(fs, join(nodeDir, group));
  const gens = names
    .map((name) => GENERATION_PATTERN.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((g) => g !== 1);
  if (names.some((n) => SHARD_PATTERN.test(n))) gens.push(1);
  return gens.sort((a, b) => a - b);
}

/**
 * Checks one group's segments in every generation: removes crash leftovers (segments and dropped
 * generations), reads every segment's metadata.
 */
async function scanGroup(fs: StorageFs, nodeDir: string, group: string): Promise<SegmentInfo[]> {
  await removeDroppedGenerations(fs, nodeDir, group);
  const generations = await generationsOnDisk(fs, nodeDir, group);
  const out: SegmentInfo[] = [];
  for (const generation of generations) {
    for (const shard of await shardsIn(fs, generationDirOf(nodeDir, group, generation))) {
      const shardDir = shardDirOf(nodeDir, group, shard, generation);
      // Safe here: no shard of this group is open yet, so no segment is being created or dropped.
      await removeSegmentLeftovers(fs, shardDir);
      for (const seg of await listSegments(fs, shardDir)) out.push({ ...seg, group, generation, shard });
    }
  }
  return out;
}

/**
 * Opens `<root>/<node>`: creates it, takes the lock, checks every segment's storage version.
 * Throws UnsupportedVersionError / CorruptDataError naming the path (the lock released first).
 */
export async function openDataDir(
  fs: StorageFs,
  root: string,
  node: string,
  opts: OpenDataDirOptions = {},
): Promise<DataDir> {
  assert(
    isValidNodeName(node),
    `a data directory's node name matches ${NODE_NAME_PATTERN}, got ${JSON.stringify(node)}`,
  );
  const nodeDir = join(root, node);
  await fs.mkdir(nodeDir);
  const lock = await acquireDataDirLock(fs, nodeDir, opts.clock ?? systemClock);
  let segments: SegmentInfo[];
  try {
    segments = [];
    const groups = (await fs.readdir(nodeDir)).filter(isGroupDirName).sort();
    for (const group of groups) segments.push(...(await scanGroup(fs, nodeDir, group)));
  } catch (err) {
    // The original error is the one to report; a failed release is secondary (the lock names a
    // pid that exits with this process, so it is stale for the next start).
    await lock.release().catch(() => undefined);
    throw err;
  }
  return { lock, root, nodeDir, segments, close: () => lock.release() };
}

/**
 * Opens the directory of a group met at runtime (created, or reopened) in an open DataDir: creates
 * it and checks its segments like openDataDir does. Throws the same errors and leaves the decision
 * to the caller (DESIGN §8: the node stops instead of serving partially). Holds nothing on return.
 * Call it before any shard of the group is opened.
 */
export async function openGroupDir(fs: StorageFs, dataDir: DataDir, group: string): Promise<SegmentInfo[]> {
  assert(!dataDir.lock.released, `openGroupDir(${group}) runs on an open data directory, ${dataDir.nodeDir} is closed`);
  assert(
    isGroupDirName(group),
    `a group directory name matches ${NAME_PATTERN} and is not "${LOCK_FILE}", got ${JSON.stringify(group)}`,
  );
  await fs.mkdir(join(dataDir.nodeDir, group));
  return scanGroup(fs, dataDir.nodeDir, group);
}
