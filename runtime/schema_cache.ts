/**
 * An actor's view of the applied schema, fed by the node's watcher (onInit, then ordered events).
 * Actors read schema from here, never from the registry, so they act only on what the node applied.
 */
import type { SchemaConsumer, SchemaEvent, SchemaSnapshot } from './actor.js';
import type { Clock } from './clock.js';
import { layoutOf, type Layout } from '../transport/layout_types.js';
import {
  kvKeyOf,
  type Group,
  type Resource,
  type SchemaKey,
  type SchemaKind,
  type StoredResource,
} from '../transport/schema_types.js';

/** A schema cache for a set of kinds. */
export class SchemaCache implements SchemaConsumer {
  private readonly items = new Map<string, StoredResource>();
  /** Revision of the last put or delete per key, deletes included, for the duplicate guard. */
  private readonly keyRevisions = new Map<string, number>();
  private revision = 0;
  /** Events at or below the last snapshot's revision are already in it. */
  private snapshotRevision = 0;
  /** Gates waiting for the schema to catch up; each is called (once) on the next change. */
  private readonly waiters = new Set<() => void>();

  /** Optional hooks for actors that react to a change (open a shard, drop one). */
  constructor(
    readonly kinds: readonly SchemaKind[],
    private readonly hooks: {
      onPut?: (key: SchemaKey, resource: Resource, revision: number) => Promise<void> | void;
      onDelete?: (key: SchemaKey, revision: number) => Promise<void> | void;
    } = {},
  ) {}

  async onInit(snapshot: SchemaSnapshot): Promise<void> {
    this.items.clear();
    this.keyRevisions.clear();
    const mine = snapshot.resources.filter((r) => this.kinds.includes(r.kind));
    for (const r of mine) {
      const key = keyOfResource(r);
      this.items.set(kvKeyOf(key), r);
      this.keyRevisions.set(kvKeyOf(key), r.mod_revision);
    }
    // Hooks run once the whole snapshot is in place: a group's hook sees its layout.
    for (const r of mine) await this.hooks.onPut?.(keyOfResource(r), r.resource, r.mod_revision);
    this.revision = snapshot.revision;
    this.snapshotRevision = snapshot.revision;
    this.notify();
  }

  /**
   * Resolves at the next change (init or event), or after `ms`, whichever comes first; the waiter
   * is released either way (a gate may have thousands waiting).
   */
  waitForChange(ms: number, clock: Pick<Clock, 'setTimer'>): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        timer.cancel();
        resolve();
      };
      const timer = clock.setTimer(ms, done);
      this.waiters.add(done);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  async onAddOrUpdate(event: SchemaEvent): Promise<void> {
    const k = kvKeyOf(event.key);
    if (this.isStale(k, event.revision)) return;
    await this.hooks.onPut?.(event.key, event.resource!, event.revision);
    this.items.set(k, { kind: event.key.kind, resource: event.resource!, mod_revision: event.revision });
    this.keyRevisions.set(k, event.revision);
    this.revision = Math.max(this.revision, event.revision);
    this.notify();
  }

  async onDelete(event: SchemaEvent): Promise<void> {
    const k = kvKeyOf(event.key);
    if (this.isStale(k, event.revision)) return;
    await this.hooks.onDelete?.(event.key, event.revision);
    this.items.delete(k);
    this.keyRevisions.set(k, event.revision);
    this.revision = Math.max(this.revision, event.revision);
    this.notify();
  }

  /** A redelivered or late event (at or below what the key holds, or what a snapshot covered). */
  private isStale(k: string, revision: number): boolean {
    return revision <= (this.keyRevisions.get(k) ?? 0) || revision <= this.snapshotRevision;
  }

  /** A resource by key, with its revision. */
  get(key: SchemaKey): StoredResource | undefined {
    return this.items.get(kvKeyOf(key));
  }

  /** Every cached resource of a kind. */
  list(kind: SchemaKind): StoredResource[] {
    return [...this.items.values()].filter((r) => r.kind === kind);
  }

  /** The highest revision this cache has seen. */
  get appliedRevision(): number {
    return this.revision;
  }

  /** Number of cached resources. */
  get size(): number {
    return this.items.size;
  }
}

/** The layout in force for `group` in this view (its layout key, else generation 1); null without the group. */
export function groupLayout(cache: SchemaCache, group: string): { group: Group; layout: Layout } | null {
  const g = cache.get({ kind: 'group', group, name: '' })?.resource as Group | undefined;
  if (!g) return null;
  return {
    group: g,
    layout: layoutOf(g, cache.get({ kind: 'layout', group, name: '' })?.resource as Layout | undefined),
  };
}

/** The key of a stored (or planned) resource. */
export function keyOfResource(r: Pick<StoredResource, 'kind'> & { resource: unknown }): SchemaKey {
  const res = r.resource as { name: string; group?: string };
  if (r.kind === 'group') return { kind: 'group', group: res.name, name: '' };
  if (r.kind === 'layout') return { kind: 'layout', group: res.group!, name: '' };
  return { kind: r.kind, group: res.group!, name: res.name };
}
