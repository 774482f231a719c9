/**
 * Reads the schema registry bucket: one ordered watch from revision 1 serves both the init
 * snapshot (everything up to the bucket's last revision at start) and the live changes after it,
 * so nothing can fall between the two.
 */
import type { KvBucket, KvEntry, KvWatch } from '../../transport/bus.js';
import { decode } from '../../transport/codec.js';
import { schemaKeyOfKv, type Resource, type SchemaKey, type SchemaKind } from '../../transport/schema_types.js';
import { PermanentError } from '../../runtime/errors.js';

/** A decoded registry change. */
export interface RegistryChange {
  kvKey: string;
  /** Null for a KV key that is not a schema key (ignored but still a revision). */
  key: SchemaKey | null;
  revision: number;
  /** The resource of a put; undefined for a delete. */
  resource?: Resource;
  kind?: SchemaKind;
}

/** Decodes one KV entry; an undecodable value is permanent (written by an incompatible version). */
export function decodeEntry(e: KvEntry): RegistryChange {
  const key = schemaKeyOfKv(e.key);
  if (e.operation !== 'PUT' || !key) return { kvKey: e.key, key, revision: e.revision, kind: key?.kind };
  let value: { kind?: unknown; resource?: unknown };
  try {
    value = decode(e.value) as typeof value;
  } catch (err) {
    throw new PermanentError(
      `schema registry entry ${e.key}@${e.revision} cannot be decoded: ${(err as Error).message}`,
    );
  }
  if (!value || typeof value !== 'object' || !value.resource || typeof value.resource !== 'object') {
    throw new PermanentError(`schema registry entry ${e.key}@${e.revision} has no resource`);
  }
  return { kvKey: e.key, key, revision: e.revision, resource: value.resource as Resource, kind: key.kind };
}

/** The registry at start plus the live watch that follows it. */
export interface RegistryStream {
  /** The revision the snapshot is complete up to. */
  initRevision: number;
  /** Changes ≤ initRevision, in revision order. */
  initial: RegistryChange[];
  /** The first change after the snapshot, if it was already read. */
  carry?: RegistryChange;
  /** Live changes after the snapshot. */
  iterator: AsyncIterator<KvEntry>;
  watch: KvWatch;
}

/**
 * Opens the registry: reads what the bucket holds at start and keeps the watch for what follows.
 * Init ends when the watch says nothing is pending (or at the start's last revision): waiting for
 * the last revision alone would hang if that message was purged. Rejects (and stops the watch)
 * when init does not finish within `timeoutMs`.
 */
export async function openRegistryStream(bucket: KvBucket, timeoutMs: number): Promise<RegistryStream> {
  const { revision: last, messages } = await bucket.lastRevision();
  const watch = await bucket.watch(1);
  const iterator = watch[Symbol.asyncIterator]();
  const initial: RegistryChange[] = [];
  if (messages === 0) return { initRevision: last, initial, iterator, watch };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`registry init did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    for (;;) {
      const n = await Promise.race([iterator.next(), timeout]);
      if (n.done) throw new Error('registry watch ended during init');
      const change = decodeEntry(n.value);
      if (change.revision > last)
        return { initRevision: Math.max(last, initRevisionOf(initial)), initial, carry: change, iterator, watch };
      initial.push(change);
      if (change.revision === last || n.value.pending === 0) {
        return { initRevision: Math.max(last, change.revision), initial, iterator, watch };
      }
    }
  } catch (err) {
    watch.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function initRevisionOf(initial: RegistryChange[]): number {
  return initial.length ? initial[initial.length - 1]!.revision : 0;
}
