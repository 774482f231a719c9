/**
 * The backup API (README "Backup and restore"): what `lockstep backup create` asks a liaison, and
 * what the liaison asks the data nodes, on behalf of the `admin` user.
 *
 * A backup of one shard is a snapshot taken by one of its owners: the owner flushes, hard-links
 * the shard's committed parts (flushed up to WAL sequence `flushed_seq`) into a snapshot directory
 * beside its data, and copies there the shard's WAL messages after `flushed_seq` up to the last one
 * stored when it looked (`wal_end_seq`). The snapshot is immutable: merges and retention go on, and
 * the client reads its files in chunks until it releases it (or it expires).
 *
 *   P.api.backup.snapshot  {backup, group, generation, shard}  → SnapshotReply
 *   P.api.backup.read      {node, snapshot, path, offset}     → ReadReply (up to READ_CHUNK_BYTES)
 *   P.api.backup.release   {node, snapshot}                   → {released}
 */

/** A backup id, a snapshot id or a file path token: what may appear in a subject or a path. */
export const BACKUP_ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,120}$/;

/** Bytes of one read: well under NATS's default 1 MiB message limit, with room for the envelope. */
export const READ_CHUNK_BYTES = 512 * 1024;

/** A snapshot not released is removed this long after it was taken (a client that died). */
export const SNAPSHOT_TTL_MS = 60 * 60_000;

/** The file of a snapshot holding the WAL after `flushed_seq`: frames of u32 length + msgpack {seq, data}. */
export const SNAPSHOT_WAL_FILE = 'wal.frames';

/** Ask one owner of (group, generation, shard) to take a snapshot. */
export interface SnapshotRequest {
  /** The backup this snapshot belongs to (names the snapshot). */
  backup: string;
  group: string;
  generation: number;
  shard: number;
}

/** One file of a snapshot, its path relative to the snapshot's root (`/`-separated). */
export interface SnapshotFile {
  path: string;
  bytes: number;
}

/** A snapshot taken. */
export interface SnapshotReply {
  snapshot: string;
  /** The data node holding it: reads and the release go there. */
  node: string;
  /** Every row of the WAL up to this sequence is in the snapshot's parts. */
  flushed_seq: number;
  /** The last WAL sequence copied into SNAPSHOT_WAL_FILE (flushed_seq when none). */
  wal_end_seq: number;
  wal_messages: number;
  parts: number;
  rows: number;
  files: SnapshotFile[];
}

/** Read `path` of a snapshot from `offset`. */
export interface ReadRequest {
  node: string;
  snapshot: string;
  path: string;
  offset: number;
}

/** Up to READ_CHUNK_BYTES of the file; `eof` when the chunk ends the file. */
export interface ReadReply {
  data: Uint8Array;
  eof: boolean;
}

/** Remove a snapshot from its node. */
export interface ReleaseRequest {
  node: string;
  snapshot: string;
}

/** Reply of a release; `released: false` when the snapshot was already gone. */
export interface ReleaseReply {
  released: boolean;
}
