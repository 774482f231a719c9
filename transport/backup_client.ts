/**
 * The backup API of the client (transport/backup_types.ts): snapshots of shards taken by their
 * owners, read in chunks, then released. `LockstepClient.backups` is the one instance.
 */
import type { Bus } from './bus.js';
import type { ReadReply, ReleaseReply, SnapshotReply, SnapshotRequest } from './backup_types.js';
import { call } from './rpc.js';
import type { Subjects } from './subjects.js';

/** A snapshot may take a flush, links and a WAL tail: the liaison allows it 120 s. */
const SNAPSHOT_TIMEOUT_MS = 125_000;

/** The backup calls of one client; failures arrive as LockstepError with the server's code. */
export class BackupClient {
  /** Used by `LockstepClient`, which owns the bus. */
  constructor(
    private readonly bus: Bus,
    private readonly subjects: Subjects,
    private readonly timeoutMs: number,
  ) {}

  /** Asks one owner of the shard for a snapshot (kept on its node until released or expired). */
  snapshot(r: SnapshotRequest): Promise<SnapshotReply> {
    return call<SnapshotReply>(this.bus, this.subjects.api.backup('snapshot'), r, { timeoutMs: SNAPSHOT_TIMEOUT_MS });
  }

  /** Up to READ_CHUNK_BYTES of one snapshot file from `offset`. */
  read(node: string, snapshot: string, path: string, offset: number): Promise<ReadReply> {
    return call<ReadReply>(
      this.bus,
      this.subjects.api.backup('read'),
      { node, snapshot, path, offset },
      { timeoutMs: this.timeoutMs },
    );
  }

  /** Removes a snapshot from its node. */
  release(node: string, snapshot: string): Promise<ReleaseReply> {
    return call<ReleaseReply>(
      this.bus,
      this.subjects.api.backup('release'),
      { node, snapshot },
      { timeoutMs: this.timeoutMs },
    );
  }
}
