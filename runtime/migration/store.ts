/**
 * The one module that reads and writes the migrations' KV bucket (`P_ops`, DESIGN §9). Keys:
 *   migration.<id>          the MigrationRecord
 *   op.<id>.<index>         one OperationRecord per target
 *   intent.<id>.<n>         a pending user intent (deleted once consumed)
 *   lock.<group>            the migration that holds the group (taken over once that one ended)
 * Every write is a compare-and-set on the key's revision. Writes by a lease holder are fenced:
 * they happen only while the stored lease still carries the holder's token, so a holder whose
 * lease was taken over (or dropped by a stop or cancel) can never overwrite its successor.
 */
import type { Bus, KvBucket } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, errors, LockstepError } from '../../transport/errors.js';
import {
  migrationEnded,
  type IntentRecord,
  type MigrationRecord,
  type OperationRecord,
} from '../../transport/migration_types.js';
import { projectMigration } from './projection.js';
import type { MigrationView } from './claims.js';

/** Attempts of a fenced write when other writers keep changing the record under it. */
const FENCED_WRITE_ATTEMPTS = 8;

/** A holder's write was refused: its lease token is no longer the stored one. */
export class LeaseLostError extends LockstepError {
  override readonly name: string = 'LeaseLostError';
  constructor(key: string, token: string, holder: string | null) {
    super(Code.FailedPrecondition, `lease ${token} on ${key} was lost (now held by ${holder ?? 'nobody'})`, {
      details: { key, token, reason: 'lease_lost' },
    });
  }
}

/** The key of one operation. */
export function opKey(migrationId: string, index: number): string {
  return `op.${migrationId}.${index}`;
}

/** The key of one migration's record. */
export function migrationKey(id: string): string {
  return `migration.${id}`;
}

/** A migration's view as read, with each key's revision for compare-and-set. */
export type StoredView = MigrationView & { revisions: Map<string, number> };

/** Attempts at a group's migration lock when others keep taking and giving it back. */
const LOCK_ATTEMPTS = 5;

/** A record with the revision it was read at (for compare-and-set). */
interface Versioned<T> {
  value: T;
  revision: number;
}

/** The migrations' bucket. */
export class MigrationStore {
  private intentSeq = 0;

  constructor(
    readonly kv: KvBucket,
    private readonly clientId: string,
  ) {}

  /** Opens (creating when missing) the bucket `name`; `clientId` makes intent keys unique per writer. */
  static async open(bus: Bus, name: string, clientId: string): Promise<MigrationStore> {
    return new MigrationStore(await bus.kv(name, { history: 1 }), clientId);
  }

  private async read<T>(key: string): Promise<Versioned<T> | null> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return null;
    return { value: decode(e.value) as T, revision: e.revision };
  }

  /** One operation as stored; null when unknown. */
  async operation(migrationId: string, index: number): Promise<OperationRecord | null> {
    return (await this.read<OperationRecord>(opKey(migrationId, index)))?.value ?? null;
  }

  /**
   * Creates a migration. Each target group is taken first, by creating its `lock.<group>` key (an
   * atomic compare-and-set, so two starts racing for one group cannot both win); a lock held by a
   * migration that ended, or that never got written, is taken over. Then the operations, then the
   * migration record, so a visible migration always has all of them. `FailedPrecondition` names a
   * group under another migration; on any failure the locks taken are given back.
   */
  async create(m: MigrationRecord, ops: readonly OperationRecord[]): Promise<void> {
    const taken: { key: string; revision: number }[] = [];
    try {
      for (const group of m.targets) taken.push(await this.takeGroup(group, m.id));
      for (const op of ops) await this.kv.create(opKey(m.id, op.index), encode(op));
      await this.kv.create(migrationKey(m.id), encode(m));
    } catch (err) {
      for (const t of taken) await this.kv.delete(t.key, t.revision).catch(() => undefined);
      throw err;
    }
  }

  private async takeGroup(group: string, id: string): Promise<{ key: string; revision: number }> {
    const key = `lock.${group}`;
    const mine = encode({ migration_id: id });
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      try {
        return { key, revision: await this.kv.create(key, mine) };
      } catch (err) {
        if ((err as { code?: unknown }).code !== Code.AlreadyExists) throw err;
      }
      const held = await this.read<{ migration_id: string }>(key);
      if (!held) continue; // released meanwhile: create again
      const holder = held.value.migration_id;
      const v = await this.view(holder);
      if (v && !migrationEnded(projectMigration(v.migration, v.ops))) {
        throw errors.failedPrecondition(`group ${group} is already under migration ${holder}`, {
          group,
          migration: holder,
        });
      }
      const revision = await this.cas(key, mine, held.revision);
      if (revision !== null) return { key, revision };
    }
    throw errors.unavailable(`the migration lock of group ${group} kept changing (${LOCK_ATTEMPTS} attempts)`);
  }

  /** Reads one migration: its record, its operations and the intents under `intentKeys`, in parallel. */
  private async readView(id: string, intentKeys: readonly string[]): Promise<StoredView | null> {
    const m = await this.read<MigrationRecord>(migrationKey(id));
    if (!m) return null;
    const [ops, intents] = await Promise.all([
      Promise.all(m.value.targets.map((_, i) => this.read<OperationRecord>(opKey(id, i)))),
      Promise.all(intentKeys.map(async (key) => ({ key, e: await this.read<IntentRecord>(key) }))),
    ]);
    const revisions = new Map<string, number>([[migrationKey(id), m.revision]]);
    ops.forEach((op, i) => {
      if (!op) throw errors.internal(`migration ${id} has no operation ${i}`);
      revisions.set(opKey(id, i), op.revision);
    });
    return {
      migration: m.value,
      ops: ops.map((op) => op!.value),
      intents: intents
        .filter((x) => x.e !== null)
        .sort((a, b) => a.e!.revision - b.e!.revision)
        .map(({ key, e }) => ({ ...e!.value, key })),
      revisions,
    };
  }

  /** One migration with its operations (in target order) and pending intents; null when unknown. */
  async view(id: string): Promise<StoredView | null> {
    return this.readView(id, await this.kv.keys(`intent.${id}`));
  }

  /**
   * Every migration's view, oldest first (ids begin with their creation time), but those in
   * `skip`; one key listing for all of them.
   */
  async views(skip?: ReadonlySet<string>): Promise<StoredView[]> {
    const keys = await this.kv.keys();
    const ids = keys
      .filter((k) => k.startsWith('migration.'))
      .map((k) => k.slice('migration.'.length))
      .filter((id) => !skip?.has(id))
      .sort();
    const intents = keys.filter((k) => k.startsWith('intent.'));
    const read = await Promise.all(
      ids.map((id) =>
        this.readView(
          id,
          intents.filter((k) => k.startsWith(`intent.${id}.`)),
        ),
      ),
    );
    return read.filter((v): v is StoredView => v !== null);
  }

  /**
   * Replaces an operation read at `revision` with `next`; false when it changed since (someone
   * else claimed or reconciled it first).
   */
  async replace(next: OperationRecord, revision: number): Promise<boolean> {
    return (await this.cas(opKey(next.migration_id, next.index), encode(next), revision)) !== null;
  }

  /** Replaces the migration record read at `revision`; false when it changed since. */
  async replaceMigration(next: MigrationRecord, revision: number): Promise<boolean> {
    return (await this.cas(migrationKey(next.id), encode(next), revision)) !== null;
  }

  /** Compare-and-set of `key` read at `revision`: the new revision, or null when it changed since. */
  private async cas(key: string, value: Uint8Array, revision: number): Promise<number | null> {
    try {
      return await this.kv.update(key, value, revision);
    } catch (err) {
      if ((err as { code?: unknown }).code === Code.FailedPrecondition) return null;
      throw err;
    }
  }

  /**
   * A holder's write: reads the operation, refuses with LeaseLostError unless its lease carries
   * `token`, then stores `change(current)`; retried when the record changed between read and write.
   * Returns the stored record.
   */
  async fenced(
    migrationId: string,
    index: number,
    token: string,
    change: (current: OperationRecord) => OperationRecord,
  ): Promise<OperationRecord> {
    const key = opKey(migrationId, index);
    for (let attempt = 0; attempt < FENCED_WRITE_ATTEMPTS; attempt++) {
      const cur = await this.read<OperationRecord>(key);
      if (!cur) throw errors.notFound(`operation ${key} does not exist`);
      if (cur.value.lease?.token !== token) throw new LeaseLostError(key, token, cur.value.lease?.owner ?? null);
      const next = change(cur.value);
      if ((await this.cas(key, encode(next), cur.revision)) !== null) return next;
    }
    throw errors.unavailable(`operation ${key} kept changing under a fenced write (${FENCED_WRITE_ATTEMPTS} attempts)`);
  }

  /** Records a user intent. */
  async addIntent(intent: IntentRecord): Promise<string> {
    const key = `intent.${intent.migration_id}.${this.clientId}_${++this.intentSeq}_${intent.created_at}`;
    await this.kv.create(key, encode(intent));
    return key;
  }

  /** Removes a consumed intent (already gone is fine: another claimer consumed it). */
  async consumeIntent(key: string): Promise<void> {
    await this.kv.delete(key);
  }
}
