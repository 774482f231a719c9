/**
 * A shard's store and memtable for query tests that compare answers: measure rows applied as WAL
 * records of 40 (as a shard applies them), flushed into parts when the test says.
 */
import { join } from 'node:path';
import { Memtable } from '../../actors/data_shard/memtable.js';
import { systemClock } from '../../runtime/clock.js';
import { nodeFs } from '../../storage/fs.js';
import { entityKeyOf } from '../../storage/routing.js';
import { ShardStore } from '../../storage/shard_store.js';
import type { Group, Measure } from '../../transport/schema_types.js';
import type { MeasurePoint, WalRecord } from '../../transport/wal_record.js';

/** A shard of one measure in `dir`/shard: its store and its memtable. */
export class TestShard {
  private seq = 0;

  private constructor(
    readonly store: ShardStore,
    readonly mem: Memtable,
    private readonly group: Group,
    private readonly measure: Measure,
  ) {}

  /** Opens an empty shard whose parts hold blocks of at most `maxRowsPerBlock` rows. */
  static async open(dir: string, group: Group, measure: Measure, maxRowsPerBlock: number): Promise<TestShard> {
    const store = await ShardStore.open(nodeFs, join(dir, 'shard'), { clock: systemClock, maxRowsPerBlock });
    return new TestShard(store, new Memtable({ group, resolve: () => measure }), group, measure);
  }

  /** Applies `rows` to the memtable, 40 to a WAL record. */
  write(rows: readonly MeasurePoint[]): void {
    for (let k = 0; k < rows.length; k += 40) {
      const chunk = rows.slice(k, k + 40);
      const record: WalRecord = {
        kind: 'measure',
        group: this.group.name,
        name: this.measure.name,
        revision: 1,
        batch_id: `b${this.seq}`,
        rows: chunk,
        entity_keys: chunk.map((p) => entityKeyOf(this.measure.entity, (t) => p.tags[t])),
      };
      this.mem.apply(record, ++this.seq);
    }
  }

  /** Writes everything applied so far into a part. */
  async flush(): Promise<void> {
    await this.store.flush(this.mem.drainAll(), this.seq);
    this.mem.resetAfterFlush(this.seq);
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
