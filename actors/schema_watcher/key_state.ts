/**
 * The watcher's per-key applied state: for every key it ever applied, the revision of that put or
 * delete and whether the key is present. Only updated after every local actor acknowledged.
 */
import type { Resource, SchemaKey, SchemaKind, StoredResource } from '../../transport/schema_types.js';
import { kvKeyOf } from '../../transport/schema_types.js';
import type { KeyRevision } from '../../transport/status_types.js';

interface KeyEntry {
  kind: SchemaKind;
  present: boolean;
  modRevision: number;
  resource?: Resource;
}

/** Applied state per schema key. */
export class KeyState {
  private readonly entries = new Map<string, KeyEntry>();

  /** The revision last applied for a key (0 when never seen). */
  revisionOf(kvKey: string): number {
    return this.entries.get(kvKey)?.modRevision ?? 0;
  }

  /** Records an applied put or delete. */
  apply(kvKey: string, kind: SchemaKind, revision: number, resource: Resource | undefined): void {
    this.entries.set(kvKey, { kind, present: resource !== undefined, modRevision: revision, resource });
  }

  /** Status of one key, as `key_revisions` answers it. */
  status(key: SchemaKey): KeyRevision {
    const e = this.entries.get(kvKeyOf(key));
    return { present: e?.present ?? false, mod_revision: e?.modRevision ?? 0 };
  }

  /** Every present resource (for an actor's re-init). */
  snapshot(): StoredResource[] {
    const out: StoredResource[] = [];
    for (const e of this.entries.values()) {
      if (e.present && e.resource) out.push({ kind: e.kind, resource: e.resource, mod_revision: e.modRevision });
    }
    return out;
  }

  /** Number of present keys. */
  get presentCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.present) n++;
    return n;
  }
}
