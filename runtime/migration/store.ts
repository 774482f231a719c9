/**
 * The one module that reads and writes the migrations' KV bucket (`P_ops`, DESIGN §9). Keys:
 *   migration.<id>          the MigrationRecord
 *   op.<id>.<index>         one OperationRecord per target
 *   intent.<id>.<n>         a pending user intent (deleted once consumed)
 * Every write is a compare-and-set on the key's revision. Writes by a lease holder are fenced:
 * they happen only while the stored lease still carries the holder's token, so a holder whose
 * lease was taken over (or dropped by a stop or cancel) can never overwrite its successor.
 */
import type { Bus, KvBucket } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, errors, LockstepError } from '../../transport/errors.js';
import type { IntentRecord, MigrationRecord, OperationRecord } from '../../transport/migration_types.js';
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

/** A record with the revision it was read at (for compare-and-set). */
export interface Versioned<T> {
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

  /** Creates a migration: its operations first, so a visible migration always has all of them. */
  async create(m: MigrationRecord, ops: readonly OperationRecord[]): Promise<void> {
    for (const op of ops) await this.kv.create(opKey(m.id, op.index), encode(op));
    await this.kv.create(`migration.${m.id}`, encode(m));
  }

  /** One migration with its operations (in target order) and pending intents; null when unknown. */
  async view(id: string): Promise<(MigrationView & { revisions: Map<string, number> }) | null> {
    const m = await this.read<MigrationRecord>(`migration.${id}`);
    if (!m) return null;
    const revisions = new Map<string, number>([[`migration.${id}`, m.revision]]);
    const ops: OperationRecord[] = [];
    for (let i = 0; i < m.value.targets.length; i++) {
      const op = await this.read<OperationRecord>(opKey(id, i));
      if (!op) throw errors.internal(`migration ${id} has no operation ${i}`);
      ops.push(op.value);
      revisions.set(opKey(id, i), op.revision);
    }
    const intents: MigrationView['intents'] = [];
    const keys = (await this.kv.keys(`intent.${id}`)).sort();
    const read = await Promise.all(keys.map(async (key) => ({ key, e: await this.read<IntentRecord>(key) })));
    for (const { key, e } of read.sort((a, b) => (a.e?.revision ?? 0) - (b.e?.revision ?? 0))) {
      if (e) intents.push({ ...e.value, key });
    }
    return { migration: m.value, ops, intents, revisions };
  }

  /** The ids of every stored migration, oldest first. */
  async ids(): Promise<string[]> {
    const keys = await this.kv.keys('migration');
    const withRev = await Promise.all(keys.map(async (k) => ({ k, e: await this.kv.get(k) })));
    return withRev
      .filter((x) => x.e && x.e.operation === 'PUT')
      .sort((a, b) => a.e!.revision - b.e!.revision)
      .map((x) => x.k.slice('migration.'.length));
  }

  /** Every migration's view, oldest first (a migration deleted meanwhile is left out). */
  async views(): Promise<(MigrationView & { revisions: Map<string, number> })[]> {
    const out: (MigrationView & { revisions: Map<string, number> })[] = [];
    for (const id of await this.ids()) {
      const v = await this.view(id);
      if (v) out.push(v);
    }
    return out;
  }

  /**
   * Replaces an operation read at `revision` with `next`; false when it changed since (someone
   * else claimed or reconciled it first).
   */
  async replace(next: OperationRecord, revision: number): Promise<boolean> {
    return this.cas(opKey(next.migration_id, next.index), encode(next), revision);
  }

  /** Replaces the migration record read at `revision`; false when it changed since. */
  async replaceMigration(next: MigrationRecord, revision: number): Promise<boolean> {
    return this.cas(`migration.${next.id}`, encode(next), revision);
  }

  private async cas(key: string, value: Uint8Array, revision: number): Promise<boolean> {
    try {
      await this.kv.update(key, value, revision);
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === Code.FailedPrecondition) return false;
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
      if (await this.cas(key, encode(next), cur.revision)) return next;
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
