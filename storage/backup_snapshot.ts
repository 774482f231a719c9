/**
 * A shard's snapshot for a backup (transport/backup_types.ts), on the data node's disk:
 *
 *   <snapshot>/flushed                                       the shard's commit marker (flushed_seq)
 *   <snapshot>/seg-<start>/metadata                          each segment's metadata, copied
 *   <snapshot>/seg-<start>/schema-<name>/part-<seq>/<file>   the committed parts, hard-linked
 *   <snapshot>/wal.frames                                    the WAL after flushed_seq (written by the caller)
 *
 * So a snapshot directory is itself a shard directory that `ShardStore.open` reads (restore does).
 * Parts are immutable, so a hard link is a consistent copy that costs no space until a merge or
 * retention removes the original; a file system without links gets a copy.
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { errors } from '../transport/errors.js';
import type { SnapshotFile } from '../transport/backup_types.js';
import { METADATA_FILE as SEGMENT_METADATA_FILE } from './segment.js';
import { FLUSHED_FILE, type PartRef } from './shard_load.js';
import { STORAGE_VERSION } from './versions.js';

/** Links (or copies) `parts` of the shard in `shardDir` into the new directory `snapDir` and marks them flushed up to `flushedSeq`. */
export async function linkSnapshot(shardDir: string, snapDir: string, parts: readonly PartRef[], flushedSeq: number) {
  await fsp.mkdir(dirname(snapDir), { recursive: true });
  await fsp.mkdir(snapDir); // fails when it exists: one snapshot per id
  const segments = new Set<string>();
  for (const ref of parts) {
    const partRel = relative(shardDir, ref.part.dir);
    if (partRel.startsWith('..')) throw errors.internal(`part ${ref.part.dir} is outside ${shardDir}`);
    const segRel = partRel.split(sep)[0]!;
    if (!segments.has(segRel)) {
      segments.add(segRel);
      await fsp.mkdir(join(snapDir, segRel), { recursive: true });
      await fsp.copyFile(join(shardDir, segRel, SEGMENT_METADATA_FILE), join(snapDir, segRel, SEGMENT_METADATA_FILE));
    }
    const to = join(snapDir, partRel);
    await fsp.mkdir(to, { recursive: true });
    for (const name of await fsp.readdir(ref.part.dir)) {
      const src = join(ref.part.dir, name);
      try {
        await fsp.link(src, join(to, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM')
          throw err;
        await fsp.copyFile(src, join(to, name), fsc.COPYFILE_EXCL);
      }
    }
  }
  const marker = `${JSON.stringify({ version: STORAGE_VERSION, last_sequence: flushedSeq })}\n`;
  await fsp.writeFile(join(snapDir, FLUSHED_FILE), marker);
}

/** Every file under `dir`, paths relative to it with `/`, sorted. */
export async function listSnapshotFiles(dir: string): Promise<SnapshotFile[]> {
  const out: SnapshotFile[] = [];
  for (const e of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    out.push({ path: relative(dir, abs).split(sep).join('/'), bytes: (await fsp.stat(abs)).size });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Resolves a client's relative `path` inside `dir`; `InvalidArgument` for an absolute path or one
 * that leaves the directory.
 */
export function snapshotPath(dir: string, path: string): string {
  const parts = path.split('/');
  if (path === '' || path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\')))
    throw errors.invalidArgument(
      `snapshot file path ${JSON.stringify(path)} is not a relative path inside the snapshot`,
    );
  return join(dir, ...parts);
}

/** Up to `length` bytes of `file` from `offset`, and whether they reach its end. */
export async function readChunk(
  file: string,
  offset: number,
  length: number,
): Promise<{ data: Uint8Array; eof: boolean }> {
  let h: fsp.FileHandle;
  try {
    h = await fsp.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw errors.notFound(`snapshot file ${file} does not exist`);
    throw err;
  }
  try {
    const size = (await h.stat()).size;
    const n = Math.max(0, Math.min(length, size - offset));
    const data = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await h.read(data, done, n - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return { data: data.subarray(0, done), eof: offset + done >= size };
  } finally {
    await h.close();
  }
}

/** Removes snapshot directories under `root` older than `maxAgeMs` (by their creation time); resolves with how many went. */
export async function removeExpiredSnapshots(root: string, nowMs: number, maxAgeMs: number): Promise<number> {
  let names: string[];
  try {
    names = await fsp.readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const dir = join(root, name);
    const st = await fsp.stat(dir).catch(() => null);
    if (st && nowMs - st.mtimeMs > maxAgeMs) {
      await fsp.rm(dir, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

/** The SHA-256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  const f = await fsp.open(file, 'r');
  try {
    for await (const chunk of f.createReadStream()) h.update(chunk as Buffer);
  } finally {
    await f.close().catch(() => undefined);
  }
  return h.digest('hex');
}
