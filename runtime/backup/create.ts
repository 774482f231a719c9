/**
 * `lockstep backup create DIR [--group G]`, through the public API (runtime/backup/manifest.ts for
 * the directory): the registry first, then each shard of each group's current layout generation,
 * snapshotted by one of its owners and copied chunk by chunk, each file hashed as it is written.
 * The manifest is written last. Writes go on meanwhile: each shard's copy holds every write
 * acknowledged before its snapshot was taken.
 */
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LockstepClient } from '../../transport/client.js';
import { errors } from '../../transport/errors.js';
import type { Layout } from '../../transport/layout_types.js';
import type { Group, StoredResource } from '../../transport/schema_types.js';
import { systemClock, type Clock } from '../clock.js';
import { packageVersion } from '../package_version.js';
import {
  BACKUP_FORMAT,
  MANIFEST_FILE,
  SCHEMA_FILE,
  shardDirIn,
  writeJson,
  type BackupFile,
  type BackupGroup,
  type BackupManifest,
  type BackupSchema,
} from './manifest.js';

/** What a backup reports as it goes. */
export interface BackupProgress {
  /** Shards to copy, known once the registry is read. */
  planned(shards: number): void;
  /** A shard's snapshot is taken; its files are being copied. */
  shardStarted(group: string, shard: number, bytes: number): void;
  bytesCopied(bytes: number): void;
  shardDone(): void;
}

const quiet: BackupProgress = { planned() {}, shardStarted() {}, bytesCopied() {}, shardDone() {} };

/** A new backup id: time-ordered, unique enough for the snapshots it names. */
export function newBackupId(nowMs: number): string {
  const t = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'z')
    .toLowerCase();
  return `bk-${t}-${randomBytes(3).toString('hex')}`;
}

/** Refuses a DIR that holds anything: a backup never mixes with other files. */
async function prepareDir(dir: string): Promise<void> {
  const entries = await fsp.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw errors.invalidArgument(`cannot read ${dir}: ${err.message}`);
  });
  if (entries && entries.length > 0)
    throw errors.failedPrecondition(`${dir} is not empty: a backup goes into a new or empty directory`);
  await fsp.mkdir(dir, { recursive: true });
}

/** Reads the registry (all of it, or one group's part). */
async function readSchema(client: LockstepClient, only?: string): Promise<BackupSchema> {
  const groups = (await client.list('group')).filter((g) => !only || (g.resource as Group).name === only);
  if (only && groups.length === 0) throw errors.notFound(`group ${only} does not exist`, { field: 'group' });
  const names = new Set(groups.map((g) => (g.resource as Group).name));
  const of = async (kind: 'measure' | 'stream' | 'index_rule') => {
    const out: StoredResource[] = [];
    for (const g of names) out.push(...(await client.list(kind, g)));
    return out;
  };
  // Layouts are keyed by group, like groups: one list holds every group's.
  const layouts = (await client.list('layout')).filter((l) => names.has((l.resource as Layout).group));
  return {
    groups,
    measures: await of('measure'),
    streams: await of('stream'),
    index_rules: await of('index_rule'),
    layouts,
  };
}

/** Creates a backup of the cluster (or of `group`) in `dir`; resolves with its manifest. */
export async function createBackup(
  client: LockstepClient,
  dir: string,
  opts: { group?: string; progress?: BackupProgress; clock?: Clock } = {},
): Promise<BackupManifest> {
  const progress = opts.progress ?? quiet;
  const clock = opts.clock ?? systemClock;
  await prepareDir(dir);
  const startedAt = clock.now();
  const id = newBackupId(startedAt);
  const schema = await readSchema(client, opts.group);
  await writeJson(join(dir, SCHEMA_FILE), schema);
  const plan = schema.groups.map((g) => {
    const group = g.resource as Group;
    const layout = schema.layouts.find((l) => (l.resource as Layout).group === group.name)?.resource as
      Layout | undefined;
    return {
      name: group.name,
      generation: layout?.current.generation ?? 1,
      shards: layout?.current.shards ?? group.shards,
    };
  });
  progress.planned(plan.reduce((n, g) => n + g.shards, 0));
  const groups: BackupGroup[] = [];
  for (const g of plan) {
    const out: BackupGroup = { name: g.name, generation: g.generation, shards: [] };
    for (let shard = 0; shard < g.shards; shard++) {
      const snap = await client.backups.snapshot({ backup: id, group: g.name, generation: g.generation, shard });
      try {
        progress.shardStarted(
          g.name,
          shard,
          snap.files.reduce((n, f) => n + f.bytes, 0),
        );
        const rel = shardDirIn(g.name, shard);
        const files: BackupFile[] = [];
        for (const f of snap.files) {
          files.push(
            await copyFile(client, snap.node, snap.snapshot, f.path, join(dir, rel, ...f.path.split('/')), progress),
          );
        }
        out.shards.push({
          shard,
          node: snap.node,
          flushed_seq: snap.flushed_seq,
          wal_end_seq: snap.wal_end_seq,
          wal_messages: snap.wal_messages,
          parts: snap.parts,
          rows: snap.rows,
          dir: rel,
          files,
        });
      } finally {
        await client.backups.release(snap.node, snap.snapshot).catch(() => undefined);
      }
      progress.shardDone();
    }
    groups.push(out);
  }
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    id,
    lockstep_version: packageVersion(),
    started_at: new Date(startedAt).toISOString(),
    completed_at: new Date(clock.now()).toISOString(),
    groups,
  };
  await writeJson(join(dir, MANIFEST_FILE), manifest);
  return manifest;
}

/** Copies one snapshot file in chunks into `to`, hashing it; synced before it counts. */
async function copyFile(
  client: LockstepClient,
  node: string,
  snapshot: string,
  path: string,
  to: string,
  progress: BackupProgress,
): Promise<BackupFile> {
  await fsp.mkdir(dirname(to), { recursive: true });
  const h = await fsp.open(to, 'wx');
  const hash = createHash('sha256');
  let offset = 0;
  try {
    for (;;) {
      const chunk = await client.backups.read(node, snapshot, path, offset);
      const data = chunk.data instanceof Uint8Array ? chunk.data : new Uint8Array(0);
      await h.write(data);
      hash.update(data);
      offset += data.length;
      progress.bytesCopied(data.length);
      if (chunk.eof) break;
      if (data.length === 0)
        throw errors.unavailable(`${node} returned no bytes of ${path} at ${offset} before its end`);
    }
    await h.sync();
  } finally {
    await h.close();
  }
  return { path, bytes: offset, sha256: hash.digest('hex') };
}
