/**
 * A backup directory (README "Backup and restore"):
 *
 *   DIR/manifest.json                     written last: a directory without it is not a backup
 *   DIR/schema.json                       the registry's groups, measures, streams, index rules, layouts
 *   DIR/data/<group>/shard-<n>/…          one shard's snapshot (storage/backup_snapshot.ts): parts
 *                                         flushed up to flushed_seq, and wal.frames after it
 *
 * Every file's size and SHA-256 are in the manifest; restore checks them all before it changes
 * anything in the cluster.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../../transport/errors.js';
import type { StoredResource } from '../../transport/schema_types.js';
import type { SnapshotReply } from '../../transport/backup_types.js';
import { sha256File } from '../../storage/backup_snapshot.js';

/** The backup format this code writes and reads. */
export const BACKUP_FORMAT = 1;
export const MANIFEST_FILE = 'manifest.json';
export const SCHEMA_FILE = 'schema.json';

/** One file of a shard's snapshot, as stored in the backup. */
export interface BackupFile {
  /** Relative to the shard's directory, `/`-separated. */
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * One shard's snapshot in the backup: what its node reported (transport/backup_types.ts), where the
 * files went (relative to the backup directory) and their hashes.
 */
export interface BackupShard extends Omit<SnapshotReply, 'snapshot' | 'files'> {
  shard: number;
  /** Relative to the backup directory. */
  dir: string;
  files: BackupFile[];
}

/** One group in the backup: its current layout generation's shards. */
export interface BackupGroup {
  name: string;
  generation: number;
  shards: BackupShard[];
}

/** The registry as the backup saw it. */
export interface BackupSchema {
  groups: StoredResource[];
  measures: StoredResource[];
  streams: StoredResource[];
  index_rules: StoredResource[];
  layouts: StoredResource[];
}

/** DIR/manifest.json. */
export interface BackupManifest {
  format: number;
  id: string;
  lockstep_version: string;
  /** RFC 3339. */
  started_at: string;
  completed_at: string;
  groups: BackupGroup[];
}

/** The directory of shard `shard` of `group`, relative to the backup directory. */
export function shardDirIn(group: string, shard: number): string {
  return `data/${group}/shard-${shard}`;
}

/** Writes `value` as pretty JSON, through a temporary name, synced. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  const h = await fsp.open(tmp, 'w');
  try {
    await h.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await h.sync();
  } finally {
    await h.close();
  }
  await fsp.rename(tmp, file);
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw errors.invalidArgument(`${file} does not exist: not a complete Lockstep backup (${what})`);
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw errors.invalidArgument(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads and checks DIR/manifest.json and DIR/schema.json. */
export async function readBackup(dir: string): Promise<{ manifest: BackupManifest; schema: BackupSchema }> {
  const manifest = (await readJson(join(dir, MANIFEST_FILE), 'written when a backup completes')) as BackupManifest;
  if (!manifest || typeof manifest !== 'object' || !Array.isArray(manifest.groups))
    throw errors.invalidArgument(`${join(dir, MANIFEST_FILE)} is not a backup manifest`);
  if (manifest.format !== BACKUP_FORMAT)
    throw errors.failedPrecondition(
      `backup ${dir} has format ${JSON.stringify(manifest.format)}; this version reads format ${BACKUP_FORMAT}`,
    );
  const schema = (await readJson(join(dir, SCHEMA_FILE), 'the schema')) as BackupSchema;
  for (const k of ['groups', 'measures', 'streams', 'index_rules', 'layouts'] as const)
    if (!Array.isArray(schema?.[k])) throw errors.invalidArgument(`${join(dir, SCHEMA_FILE)} has no "${k}" list`);
  return { manifest, schema };
}

/**
 * Checks every file the manifest lists: present, of its size and SHA-256. `InvalidArgument` naming the
 * first file that differs. Calls `progress` with the bytes checked so far.
 */
export async function verifyFiles(
  dir: string,
  manifest: BackupManifest,
  progress: (bytes: number) => void = () => undefined,
): Promise<void> {
  let done = 0;
  for (const g of manifest.groups) {
    for (const s of g.shards) {
      for (const f of s.files) {
        const file = join(dir, s.dir, ...f.path.split('/'));
        const st = await fsp.stat(file).catch(() => null);
        if (!st) throw errors.invalidArgument(`backup file ${file} is missing`);
        if (st.size !== f.bytes)
          throw errors.invalidArgument(`backup file ${file} has ${st.size} bytes; the manifest says ${f.bytes}`);
        if ((await sha256File(file)) !== f.sha256)
          throw errors.invalidArgument(
            `backup file ${file} does not match its SHA-256 in the manifest: it was changed or damaged`,
          );
        done += f.bytes;
        progress(done);
      }
    }
  }
}
