/**
 * A data node's side of backups (transport/backup_types.ts): one owner of a shard takes a snapshot
 * (`P.shard.<group>[.g<gen>].<shard>.snapshot`, queue group `shard_owners`), and the node serves
 * the files of its snapshots (`P.node.<node>.backup.read|release`) until they are released or expire.
 *
 * Snapshots live in `<data-dir>/<node>.backups/<snapshot>/` (storage/backup_snapshot.ts): beside the
 * node's own directory, on the same file system (hard links), never inside it.
 */
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bus, Subscription, WalRetention } from '../../transport/bus.js';
import {
  BACKUP_ID_PATTERN,
  READ_CHUNK_BYTES,
  SNAPSHOT_TTL_MS,
  SNAPSHOT_WAL_FILE,
  type ReadReply,
  type ReadRequest,
  type ReleaseReply,
  type ReleaseRequest,
  type SnapshotReply,
  type SnapshotRequest,
} from '../../transport/backup_types.js';
import { encode } from '../../transport/codec.js';
import { errors } from '../../transport/errors.js';
import { serve } from '../../transport/rpc.js';
import { SHARD_OWNERS_QUEUE, type Subjects } from '../../transport/subjects.js';
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import {
  linkSnapshot,
  listSnapshotFiles,
  readChunk,
  removeExpiredSnapshots,
  snapshotPath,
} from '../../storage/backup_snapshot.js';
import type { ShardActor } from './shard_actor.js';

/** What the backup service needs. */
export interface BackupDeps {
  bus: Bus;
  subjects: Subjects;
  clock: Clock;
  log: Logger;
  node: string;
  /** `<data-dir>/<node>.backups`. */
  root: string;
}

function checkId(v: unknown, what: string): string {
  if (typeof v !== 'string' || !BACKUP_ID_PATTERN.test(v))
    throw errors.invalidArgument(`${what} must match ${BACKUP_ID_PATTERN}, got ${JSON.stringify(v)}`, { field: what });
  return v;
}

/** The snapshot id of a shard in a backup: one token, unique per (backup, group, generation, shard). */
export function snapshotId(r: SnapshotRequest): string {
  return `${r.backup}.${r.group}.g${r.generation}.${r.shard}`;
}

/** Serves snapshot requests for one owned (group, generation, shard). */
export function serveSnapshots(
  actor: ShardActor,
  where: { group: string; generation: number; shard: number; walSubject: string },
  deps: BackupDeps,
): Subscription {
  const { group, generation, shard } = where;
  return serve(
    deps.bus,
    deps.subjects.shardSnapshot(group, shard, generation),
    async (req): Promise<SnapshotReply> => {
      const r = req.body as SnapshotRequest;
      checkId(r?.backup, 'backup');
      if (r.group !== group || r.generation !== generation || r.shard !== shard)
        throw errors.invalidArgument(`this subject snapshots ${group}/g${generation}/${shard}`);
      const bus = deps.bus as Bus & Partial<WalRetention>;
      if (typeof bus.nextOnSubject !== 'function')
        throw errors.failedPrecondition('backups read the WAL from NATS JetStream; this node runs without it');
      await removeExpiredSnapshots(deps.root, deps.clock.now(), SNAPSHOT_TTL_MS).catch(() => 0);
      const id = snapshotId(r);
      const dir = join(deps.root, id);
      // Everything applied goes into parts first, so the WAL tail copied below is short.
      await actor.flushNow();
      // Read together, in one turn: the committed parts and the sequence they are flushed up to.
      const flushedSeq = actor.store.lastSequence;
      const parts = actor.store.listParts().filter((p) => p.part.metadata.last_sequence <= flushedSeq);
      try {
        // Counted as a running scan: a merge or retention keeps these parts on disk until it is done.
        await actor.store.trackScan(linkSnapshot(actor.store.shardDir, dir, parts, flushedSeq));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST')
          throw errors.alreadyExists(`snapshot ${id} exists on ${deps.node}; use another backup id`);
        throw errors.unavailable(`cannot snapshot ${group}/${shard} on ${deps.node}: ${(err as Error).message}`, err);
      }
      const wal = await copyWalTail(
        bus as Bus & WalRetention,
        deps.subjects.walStream,
        where.walSubject,
        flushedSeq,
        dir,
      );
      deps.log.info(
        { snapshot: id, flushed_seq: flushedSeq, wal_end_seq: wal.end, parts: parts.length },
        'backup snapshot taken',
      );
      return {
        snapshot: id,
        node: deps.node,
        flushed_seq: flushedSeq,
        wal_end_seq: wal.end,
        wal_messages: wal.messages,
        parts: parts.length,
        rows: parts.reduce((n, p) => n + p.part.metadata.row_count, 0),
        files: await listSnapshotFiles(dir),
      };
    },
    {
      queue: SHARD_OWNERS_QUEUE,
      spanName: 'shard.snapshot',
      attributes: { 'lockstep.group': group, 'lockstep.shard': shard, 'lockstep.node': deps.node },
    },
  );
}

/**
 * Copies the WAL messages of `subject` after `fromSeq`, up to the last one stored now, into the
 * snapshot's SNAPSHOT_WAL_FILE as frames (u32 big-endian length, then msgpack `{seq, data}`).
 */
async function copyWalTail(
  bus: Bus & WalRetention,
  stream: string,
  subject: string,
  fromSeq: number,
  dir: string,
): Promise<{ end: number; messages: number }> {
  const last = await bus.lastSequence(stream, subject);
  const out = await open(join(dir, SNAPSHOT_WAL_FILE), 'wx');
  let end = fromSeq;
  let messages = 0;
  try {
    while (end < last) {
      const m = await bus.nextOnSubject(stream, subject, end + 1);
      if (!m || m.seq > last) break;
      const frame = encode({ seq: m.seq, data: m.data });
      const len = Buffer.alloc(4);
      len.writeUInt32BE(frame.length);
      await out.write(len);
      await out.write(frame);
      end = m.seq;
      messages++;
    }
    await out.sync();
  } finally {
    await out.close();
  }
  return { end, messages };
}

/** Serves reads and releases of this node's snapshots. */
export function serveSnapshotFiles(deps: BackupDeps): Subscription[] {
  const read = serve(
    deps.bus,
    deps.subjects.node.backup(deps.node, 'read'),
    async (req): Promise<ReadReply> => {
      const r = req.body as ReadRequest;
      const dir = join(deps.root, checkId(r?.snapshot, 'snapshot'));
      if (!Number.isSafeInteger(r.offset) || r.offset < 0)
        throw errors.invalidArgument(`offset must be a non-negative integer, got ${JSON.stringify(r.offset)}`);
      return readChunk(snapshotPath(dir, String(r.path)), r.offset, READ_CHUNK_BYTES);
    },
    { spanName: 'backup.read' },
  );
  const release = serve(
    deps.bus,
    deps.subjects.node.backup(deps.node, 'release'),
    async (req): Promise<ReleaseReply> => {
      const r = req.body as ReleaseRequest;
      const dir = join(deps.root, checkId(r?.snapshot, 'snapshot'));
      const existed = (await stat(dir).catch(() => null)) !== null;
      await rm(dir, { recursive: true, force: true });
      return { released: existed };
    },
    { spanName: 'backup.release' },
  );
  return [read, release];
}
