/**
 * The backup API (`P.api.backup.*`, transport/backup_types.ts): the liaison checks each request and
 * relays it to the data node that serves it, so applications never reach internal subjects. A
 * snapshot goes to one live owner of the shard; reads and the release go to the node that took it.
 */
import type { Bus, Subscription } from '../../transport/bus.js';
import { BACKUP_ID_PATTERN, type SnapshotRequest } from '../../transport/backup_types.js';
import { Code, errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import { call, serve } from '../../transport/rpc.js';
import { isValidNodeName, LIAISON_QUEUE, lastToken, type Subjects } from '../../transport/subjects.js';
import type { Layout } from '../../transport/layout_types.js';
import type { SchemaCache } from '../../runtime/schema_cache.js';

/** How long a snapshot may take: a flush, links and the WAL tail of one shard. */
const SNAPSHOT_TIMEOUT_MS = 120_000;
/** How long one read or release may take. */
const FILE_TIMEOUT_MS = 30_000;

/** What the backup API needs. */
export interface BackupApiDeps {
  bus: Bus;
  subjects: Subjects;
  cache: SchemaCache;
  onError?: (err: LockstepError) => void;
}

function int(v: unknown, min: number): boolean {
  return Number.isSafeInteger(v) && (v as number) >= min;
}

function checkSnapshot(b: Record<string, unknown>, cache: SchemaCache): SnapshotRequest {
  if (typeof b.backup !== 'string' || !BACKUP_ID_PATTERN.test(b.backup))
    throw errors.invalidArgument(`backup must match ${BACKUP_ID_PATTERN}`, { field: 'backup' });
  if (typeof b.group !== 'string' || !cache.get({ kind: 'group', group: b.group, name: '' }))
    throw errors.notFound(`group ${JSON.stringify(b.group)} does not exist`, { field: 'group' });
  if (!int(b.generation, 1) || !int(b.shard, 0))
    throw errors.invalidArgument('generation (≥ 1) and shard (≥ 0) must be integers');
  const layout = cache.get({ kind: 'layout', group: b.group, name: '' })?.resource as Layout | undefined;
  const current = layout?.current.generation ?? 1;
  const shards =
    layout?.current.shards ??
    (cache.get({ kind: 'group', group: b.group, name: '' })!.resource as { shards: number }).shards;
  if (b.generation !== current)
    throw errors.failedPrecondition(
      `group ${b.group} serves reads from layout generation ${current}, not ${b.generation}`,
    );
  if ((b.shard as number) >= shards) throw errors.invalidArgument(`group ${b.group} has ${shards} shards`);
  return { backup: b.backup, group: b.group, generation: b.generation as number, shard: b.shard as number };
}

function checkNode(b: Record<string, unknown>): string {
  if (!isValidNodeName(b.node)) throw errors.invalidArgument('node must be a node name', { field: 'node' });
  if (typeof b.snapshot !== 'string' || !BACKUP_ID_PATTERN.test(b.snapshot))
    throw errors.invalidArgument(`snapshot must match ${BACKUP_ID_PATTERN}`, { field: 'snapshot' });
  return b.node;
}

/** A relayed call; "no responders" names what was not there. */
async function relay(bus: Bus, subject: string, body: unknown, timeoutMs: number, who: string): Promise<unknown> {
  try {
    return await call(bus, subject, body, { timeoutMs });
  } catch (err) {
    const le = toLockstepError(err);
    if (le.code === Code.Unavailable) throw errors.unavailable(`${who} is not reachable: ${le.message}`, err);
    throw le;
  }
}

/** Serves `P.api.backup.>` in the liaison queue group. */
export function serveBackupApi(d: BackupApiDeps): Subscription[] {
  return [
    serve(
      d.bus,
      d.subjects.api.backupAll,
      async (req) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        if (typeof b !== 'object') throw errors.invalidArgument('a backup request is an object');
        switch (lastToken(req.subject)) {
          case 'snapshot': {
            const r = checkSnapshot(b, d.cache);
            return relay(
              d.bus,
              d.subjects.shardSnapshot(r.group, r.shard, r.generation),
              r,
              SNAPSHOT_TIMEOUT_MS,
              `no owner of shard ${r.group}/${r.shard}`,
            );
          }
          case 'read': {
            const node = checkNode(b);
            if (typeof b.path !== 'string' || !int(b.offset, 0))
              throw errors.invalidArgument('read needs path (string) and offset (integer ≥ 0)');
            return relay(
              d.bus,
              d.subjects.node.backup(node, 'read'),
              { snapshot: b.snapshot, path: b.path, offset: b.offset },
              FILE_TIMEOUT_MS,
              `data node ${node}`,
            );
          }
          case 'release': {
            const node = checkNode(b);
            return relay(
              d.bus,
              d.subjects.node.backup(node, 'release'),
              { snapshot: b.snapshot },
              FILE_TIMEOUT_MS,
              `data node ${node}`,
            );
          }
          default:
            throw errors.unimplemented(`unknown backup call ${req.subject}`);
        }
      },
      { queue: LIAISON_QUEUE, onError: d.onError },
    ),
  ];
}
