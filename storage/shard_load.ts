/**
 * Opening a shard's parts and its commit marker, applying the crash rules of shard_store.ts's
 * header: what an unfinished flush or merge left is removed here, before anything reads the shard.
 */
import { join } from 'node:path';
import { NAME_PATTERN } from '../transport/schema_types.js';
import { CorruptDataError } from './errors.js';
import type { StorageFs } from './fs.js';
import { MERGED_FROM_FILE, parseMergedFrom } from './merge.js';
import { IncompletePartError, openPart, parsePartDirName, type Part } from './part.js';
import type { SegmentEntry } from './segment.js';
import { checkVersion, COMPATIBLE_VERSIONS, STORAGE_VERSION } from './versions.js';

/** The shard's commit marker: the last WAL sequence whose flush completed. */
export const FLUSHED_FILE = 'flushed';
/** Prefix of the per-name directory inside a segment: `schema-<measure or stream name>`. */
export const NAME_DIR_PREFIX = 'schema-';
/** Suffix a part directory takes while it is removed (renamed first, so a half-removed part is never read). */
export const PART_DROPPING_SUFFIX = '.dropping';
const DROPPING_PATTERN = /^part-(\d+)\.dropping$/;

/** One open part of the store and where it sits. */
export interface PartRef {
  readonly name: string;
  readonly segmentStartMs: number;
  readonly seq: number;
  readonly part: Part;
}

/** A segment in memory: its committed parts oldest write first, and the sequence its next part takes. */
export type Segment = {
  entry: SegmentEntry;
  parts: PartRef[];
  nextSeq: number;
  /** When a flush last added a part (the store clock's monotonic ms); unset: none since the open. */
  flushedAt?: number;
};

/** Orders parts oldest write first: last_sequence, then segment, then part sequence (one order within and across segments). */
export function byAge(a: PartRef, b: PartRef): number {
  return (
    a.part.metadata.last_sequence - b.part.metadata.last_sequence ||
    a.segmentStartMs - b.segmentStartMs ||
    a.seq - b.seq
  );
}

/**
 * Removes part directory `dir`: renamed to `<dir>.dropping` first (atomic), then removed, so a
 * crash never leaves a `part-<seq>` directory with some of its files gone. The caller syncs the
 * parent directory.
 */
export async function dropPartDir(fs: StorageFs, dir: string): Promise<void> {
  const dropping = dir + PART_DROPPING_SUFFIX;
  await fs.rm(dropping);
  await fs.rename(dir, dropping);
  await fs.rm(dropping);
}

/**
 * Opens the parts of one segment. Removes: `.dropping` leftovers, incomplete parts, complete parts
 * of an uncommitted flush, and parts a complete merged part replaces (its `merged_from`).
 */
export async function loadSegment(fs: StorageFs, seg: Segment, committed: number | null): Promise<void> {
  try {
    for (const dirName of (await fs.readdir(seg.entry.dir)).sort()) {
      if (!dirName.startsWith(NAME_DIR_PREFIX)) continue; // the metadata file (and its temp files)
      const name = dirName.slice(NAME_DIR_PREFIX.length);
      const nameDir = join(seg.entry.dir, dirName);
      if (!NAME_PATTERN.test(name))
        throw new CorruptDataError(nameDir, `not a valid ${NAME_DIR_PREFIX}<name> directory`);
      await loadName(fs, seg, name, nameDir, committed);
    }
  } finally {
    seg.parts.sort(byAge);
  }
}

async function loadName(
  fs: StorageFs,
  seg: Segment,
  name: string,
  nameDir: string,
  committed: number | null,
): Promise<void> {
  let removed = false;
  const loaded: PartRef[] = [];
  const replaced = new Set<number>();
  try {
    for (const partName of await fs.readdir(nameDir)) {
      const dropping = DROPPING_PATTERN.exec(partName);
      if (dropping) {
        seg.nextSeq = Math.max(seg.nextSeq, Number(dropping[1]) + 1);
        await fs.rm(join(nameDir, partName)); // its removal was interrupted; nothing reads it
        removed = true;
        continue;
      }
      const parsed = parsePartDirName(partName);
      if (!parsed) continue;
      seg.nextSeq = Math.max(seg.nextSeq, parsed.seq + 1);
      const dir = join(nameDir, partName);
      let part: Part;
      try {
        part = await openPart(fs, dir, { supportedVersions: COMPATIBLE_VERSIONS });
      } catch (err) {
        if (!(err instanceof IncompletePartError)) throw err;
        await fs.rm(dir); // a flush or merge crashed while writing it; its rows are elsewhere
        removed = true;
        continue;
      }
      if (committed !== null && part.metadata.last_sequence > committed) {
        await part.close();
        await dropPartDir(fs, dir); // complete, but its flush never committed: the WAL replays its rows
        removed = true;
        continue;
      }
      loaded.push({ name, segmentStartMs: seg.entry.startMs, seq: parsed.seq, part });
      const marker = join(dir, MERGED_FROM_FILE);
      if (await fs.exists(marker)) for (const s of parseMergedFrom(marker, await fs.readFile(marker))) replaced.add(s);
    }
    for (const ref of loaded) {
      if (!replaced.has(ref.seq)) continue;
      // A merge completed (its part is complete and lists this one) but crashed before removing it.
      await ref.part.close();
      await dropPartDir(fs, ref.part.dir);
      removed = true;
    }
  } catch (err) {
    for (const ref of loaded) await ref.part.close().catch(() => undefined);
    throw err;
  }
  for (const ref of loaded) if (!replaced.has(ref.seq)) seg.parts.push(ref);
  if (removed) await fs.syncDir(nameDir);
}

/** The committed sequence in `<shardDir>/flushed`, or null when the file does not exist. */
export async function readFlushed(fs: StorageFs, shardDir: string): Promise<number | null> {
  const path = join(shardDir, FLUSHED_FILE);
  if (!(await fs.exists(path))) return null;
  let v: { version?: unknown; last_sequence?: unknown };
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await fs.readFile(path))) as typeof v;
  } catch (err) {
    throw new CorruptDataError(path, 'not valid JSON', { cause: err });
  }
  if (!v || typeof v.version !== 'string') throw new CorruptDataError(path, 'no string "version"');
  checkVersion(path, v.version);
  if (!Number.isSafeInteger(v.last_sequence) || (v.last_sequence as number) < 0)
    throw new CorruptDataError(path, 'no non-negative integer "last_sequence"');
  return v.last_sequence as number;
}

/** Writes `<shardDir>/flushed` atomically. */
export async function writeFlushed(fs: StorageFs, shardDir: string, seq: number): Promise<void> {
  const text = `${JSON.stringify({ version: STORAGE_VERSION, last_sequence: seq })}\n`;
  await fs.writeFileAtomic(join(shardDir, FLUSHED_FILE), new TextEncoder().encode(text));
}
