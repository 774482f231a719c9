/**
 * Segments (DESIGN §8): time buckets of one shard, aligned to the group's `segment_interval`.
 *
 * Layout: `<shard-dir>/seg-<start>/metadata`, where `<start>` is the bucket start in UTC as
 * `yyyymmddThhmmssZ` (readable in `ls`, and sorts by time as text). Buckets start at UTC epoch
 * multiples of the interval, so `1d` buckets start at midnight UTC, and a timestamp exactly on a
 * boundary belongs to the bucket that starts there. `metadata` is JSON
 * `{version, start, end, created_at}` with `start`/`end` in epoch ms and `end` exclusive.
 *
 * Creation is atomic (built as `seg-<start>.creating`, renamed into place), so a `seg-<start>`
 * directory without readable metadata is damage, reported as corruption. Removal goes through
 * `seg-<start>.dropping` (see retention.ts). Both suffixes are leftovers of a crash, ignored by
 * listSegments and removed by removeSegmentLeftovers.
 */
import { assert } from '../runtime/assert.js';
import { join } from 'node:path';
import { systemClock, type Clock } from '../runtime/clock.js';
import { CorruptDataError } from './errors.js';
import type { StorageFs } from './fs.js';
import { checkVersion, STORAGE_VERSION } from './versions.js';

/** Prefix of a segment directory's name. */
export const SEGMENT_PREFIX = 'seg-';
/** The segment metadata file's name. */
export const METADATA_FILE = 'metadata';
/** Suffix of a segment directory being removed. */
export const DROPPING_SUFFIX = '.dropping';
/** Suffix of a segment directory being created. */
export const CREATING_SUFFIX = '.creating';

const NAME_PATTERN = /^seg-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** The on-disk metadata of one segment. */
export interface SegmentMetadata {
  version: string;
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
  /** ISO 8601. */
  created_at: string;
}

/** One segment of a shard, as listed. */
export interface SegmentEntry {
  name: string;
  dir: string;
  startMs: number;
  endMs: number;
  metadata: SegmentMetadata;
}

/** The bucket `[startMs, endMs)` holding `tsMs`, aligned to UTC epoch multiples of `intervalMs`. */
export function segmentFor(tsMs: number, intervalMs: number): { startMs: number; endMs: number } {
  assert(Number.isSafeInteger(tsMs), `a segment's timestamp is an integer of ms, got ${tsMs}`);
  assert(
    Number.isSafeInteger(intervalMs) && intervalMs > 0,
    `a segment interval is a positive integer of ms, got ${intervalMs}`,
  );
  // Math.floor (not truncation) so timestamps before 1970 land in the bucket below them too.
  const startMs = Math.floor(tsMs / intervalMs) * intervalMs;
  return { startMs, endMs: startMs + intervalMs };
}

/** The directory name of the segment starting at `startMs` (a whole second in years 0–9999). */
export function segmentName(startMs: number): string {
  const d = new Date(startMs);
  const y = d.getUTCFullYear();
  assert(
    Number.isSafeInteger(startMs) && startMs % 1000 === 0 && y >= 0 && y <= 9999,
    `a segment starts at a whole second in years 0-9999, got ${startMs}`,
  );
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${SEGMENT_PREFIX}${p(y, 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/** The start (epoch ms) a segment directory name encodes, or undefined if it is not one. */
export function parseSegmentName(name: string): number | undefined {
  const m = NAME_PATTERN.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  const ms = date.getTime();
  // Round-trip so that impossible dates (month 13, hour 25) are refused instead of rolled over.
  return Number.isNaN(ms) || segmentName(ms) !== name ? undefined : ms;
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

function encodeMetadata(m: SegmentMetadata): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(m)}\n`);
}

/** Reads and checks `<segDir>/metadata`: version first, then shape; throws naming the file. */
export async function readSegmentMetadata(fs: StorageFs, segDir: string): Promise<SegmentMetadata> {
  const path = join(segDir, METADATA_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    // Creation is atomic, so a segment without metadata has lost it; other I/O errors pass through.
    if (errCode(err) === 'ENOENT') throw new CorruptDataError(path, 'segment metadata file is missing', { cause: err });
    throw err;
  }
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch (err) {
    throw new CorruptDataError(path, 'segment metadata is not valid JSON', { cause: err });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new CorruptDataError(path, 'segment metadata is not a JSON object');
  if (typeof v.version !== 'string') throw new CorruptDataError(path, 'segment metadata has no string "version"');
  // The version is checked before the other fields: another version may lay them out differently.
  checkVersion(path, v.version);
  const { start, end, created_at } = v;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) >= (end as number)) {
    throw new CorruptDataError(
      path,
      `segment metadata needs integer "start" < "end", got ${JSON.stringify(start)}, ${JSON.stringify(end)}`,
    );
  }
  if (typeof created_at !== 'string') throw new CorruptDataError(path, 'segment metadata has no string "created_at"');
  return { version: v.version, start: start as number, end: end as number, created_at };
}

async function entryFor(fs: StorageFs, shardDir: string, name: string, startMs: number): Promise<SegmentEntry> {
  const dir = join(shardDir, name);
  const metadata = await readSegmentMetadata(fs, dir);
  if (metadata.start !== startMs) {
    throw new CorruptDataError(
      join(dir, METADATA_FILE),
      `segment metadata start ${metadata.start} does not match the directory name ${name}`,
    );
  }
  return { name, dir, startMs: metadata.start, endMs: metadata.end, metadata };
}

/**
 * Creates the segment `[startMs, endMs)` in `shardDir` atomically, stamped with STORAGE_VERSION.
 * Idempotent: an existing segment with the same bounds is returned as it is (version-checked).
 */
export async function createSegment(
  fs: StorageFs,
  shardDir: string,
  startMs: number,
  endMs: number,
  clock: Clock = systemClock,
): Promise<SegmentEntry> {
  const name = segmentName(startMs);
  assert(Number.isSafeInteger(endMs) && endMs > startMs, `a segment ends at an integer after ${startMs}, got ${endMs}`);
  const dir = join(shardDir, name);
  if (await fs.exists(dir)) {
    const existing = await entryFor(fs, shardDir, name, startMs);
    if (existing.endMs !== endMs) {
      throw new CorruptDataError(
        join(dir, METADATA_FILE),
        `segment ends at ${existing.endMs}, expected ${endMs} (segment_interval changed?)`,
      );
    }
    return existing;
  }
  const metadata: SegmentMetadata = {
    version: STORAGE_VERSION,
    start: startMs,
    end: endMs,
    created_at: new Date(clock.now()).toISOString(),
  };
  const building = `${dir}${CREATING_SUFFIX}`;
  // A leftover of an earlier crashed attempt would make the rename below fail; it holds nothing.
  await fs.rm(building);
  await fs.mkdir(building);
  await fs.writeFileAtomic(join(building, METADATA_FILE), encodeMetadata(metadata));
  await fs.rename(building, dir);
  await fs.syncDir(shardDir);
  return { name, dir, startMs, endMs, metadata };
}

/** The names in `dir`, or none when it does not exist. */
async function readdirIfExists(fs: StorageFs, dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** The segments of `shardDir`, version-checked, sorted by start; none if the directory is absent. */
export async function listSegments(fs: StorageFs, shardDir: string): Promise<SegmentEntry[]> {
  const names = await readdirIfExists(fs, shardDir);
  const out: SegmentEntry[] = [];
  for (const name of names) {
    if (!name.startsWith(SEGMENT_PREFIX) || name.endsWith(DROPPING_SUFFIX) || name.endsWith(CREATING_SUFFIX)) continue;
    const startMs = parseSegmentName(name);
    // Anything else named seg-* is not ours to guess about: report it rather than skip data.
    if (startMs === undefined)
      throw new CorruptDataError(join(shardDir, name), 'not a valid segment directory name (seg-yyyymmddThhmmssZ)');
    out.push(await entryFor(fs, shardDir, name, startMs));
  }
  return out.sort((a, b) => a.startMs - b.startMs);
}

/**
 * Removes crash leftovers (`*.dropping`, and `*.creating` unless `droppingOnly`) from `shardDir`;
 * returns their names. Call it only while no segment of the shard is being created.
 */
export async function removeSegmentLeftovers(fs: StorageFs, shardDir: string, droppingOnly = false): Promise<string[]> {
  const names = await readdirIfExists(fs, shardDir);
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(SEGMENT_PREFIX)) continue;
    if (name.endsWith(DROPPING_SUFFIX) || (!droppingOnly && name.endsWith(CREATING_SUFFIX))) {
      await fs.rm(join(shardDir, name));
      removed.push(name);
    }
  }
  if (removed.length > 0) await fs.syncDir(shardDir);
  return removed;
}
