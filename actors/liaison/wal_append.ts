/**
 * Appending one validated batch to the WAL (DESIGN §7, §9): one record per shard of every layout
 * generation the group writes, each routed by its own shard count.
 *
 * The current generation's records go first. Once they are acknowledged, the other generations
 * (`next` during a copy, `retiring` after a cutover) get the same rows with, per row, the WAL
 * sequence of the current record that holds it as its version (column `_v`,
 * storage/point_version.ts): both halves of a dual write carry one version, and a row written later
 * always carries a higher one. Every record is encoded and size-checked before anything is
 * appended, so a record the server cannot take refuses the whole batch.
 */
import type { Bus } from '../../transport/bus.js';
import { Code, LockstepError } from '../../transport/errors.js';
import { resourceInGeneration, type LayoutGeneration } from '../../transport/layout_types.js';
import type { Measure, Stream } from '../../transport/schema_types.js';
import type { Subjects } from '../../transport/subjects.js';
import {
  encodeWalRecord,
  selectColumns,
  walColumns,
  type WalColumns,
  type WalRecord,
} from '../../transport/wal_record.js';
import { tagAt } from '../../transport/packed_columns.js';
import { VERSION_COLUMN } from '../../storage/point_version.js';
import { sameEntity, seriesOfKeys, shardOfSeries, storedEntityKeyer, type RowSeries } from '../../storage/routing.js';

/** The shard of every row: its series (name + entity key) hashed onto `shards`, once per series. */
function shardsOfRows(name: string, series: RowSeries, shards: number): Uint16Array {
  const shardOf = series.keys.map((key) => shardOfSeries(name, key, shards));
  const out = new Uint16Array(series.of.length);
  for (let i = 0; i < out.length; i++) out[i] = shardOf[series.of[i]!]!;
  return out;
}

/** Row indexes by shard. */
function byShard(shardOf: Uint16Array): Map<number, number[]> {
  const m = new Map<number, number[]>();
  shardOf.forEach((s, i) => {
    let list = m.get(s);
    if (!list) m.set(s, (list = []));
    list.push(i);
  });
  return m;
}

/** One validated batch. */
export interface Batch {
  kind: 'measure' | 'stream';
  group: string;
  name: string;
  /** The resource as the registry has it (the rows were validated against it). */
  resource: Measure | Stream;
  revision: number;
  batchId: string;
  /** The points as validated: row objects, or columns in the resource's shape (a measure's columnar write). */
  rows: unknown[] | WalColumns;
  series: RowSeries;
}

/** One acknowledged append. */
export interface Ack {
  generation: number;
  shard: number;
  seq: number;
  duplicate: boolean;
}

interface Pending {
  generation: number;
  shard: number;
  record: WalRecord;
  rows: number[];
  data?: Uint8Array;
}

/** Appends `batch` to every generation of `generations` (the current one first); the acks of all. */
export async function appendBatch(
  bus: Bus,
  subjects: Subjects,
  batch: Batch,
  generations: readonly LayoutGeneration[],
): Promise<Ack[]> {
  const [current, ...others] = generations;
  // A generation may store the measure in its own shape (a rewrite of its entity or a field's type).
  const shapeOf = (gen: LayoutGeneration) => resourceInGeneration(gen, batch.kind, batch.name, batch.resource);
  const shardsIn = (gen: LayoutGeneration) => {
    const shape = shapeOf(gen);
    if (sameEntity(shape.entity, batch.resource.entity)) return shardsOfRows(batch.name, batch.series, gen.shards);
    const keyOf = storedEntityKeyer(shape);
    const rows = batch.rows;
    const keys = Array.isArray(rows)
      ? rows.map((r) => keyOf((t) => (r as { tags: Record<string, unknown> }).tags[t]))
      : Array.from(rows.ts, (_, i) =>
          keyOf((t) => (Object.hasOwn(rows.tags, t) ? tagAt(rows.tags[t]!, i) : undefined)),
        );
    return shardsOfRows(batch.name, seriesOfKeys(keys), gen.shards);
  };
  const currentShard = shardsIn(current!);
  const build = (gen: LayoutGeneration, shardOf: Uint16Array, versioned: boolean): Pending[] =>
    [...byShard(shardOf)].map(([shard, rows]) => {
      const cols = Array.isArray(batch.rows)
        ? walColumns(batch.kind, shapeOf(gen), batch.rows, rows)
        : selectColumns(shapeOf(gen) as Measure, batch.rows, rows);
      // A placeholder of the final size: the versions are known once the current appends are acked.
      if (versioned) cols.fields[VERSION_COLUMN] = new Float64Array(rows.length);
      const record: WalRecord = {
        kind: batch.kind,
        group: batch.group,
        name: batch.name,
        revision: batch.revision,
        batch_id: batch.batchId,
        cols,
      };
      return { generation: gen.generation, shard, record, rows, data: checkSize(bus, shard, encodeWalRecord(record)) };
    });
  const first = build(current!, currentShard, false);
  const rest = others.flatMap((g) => build(g, shardsIn(g), true));
  const acks = await Promise.all(first.map((p) => append(bus, subjects, batch, p)));
  if (rest.length === 0) return acks;
  const seqOfShard = new Map(acks.map((a) => [a.shard, a.seq]));
  for (const p of rest) {
    const v = p.record.cols!.fields[VERSION_COLUMN]!;
    p.rows.forEach((row, k) => (v[k] = seqOfShard.get(currentShard[row]!)!));
    p.data = encodeWalRecord(p.record);
  }
  return [...acks, ...(await Promise.all(rest.map((p) => append(bus, subjects, batch, p))))];
}

async function append(bus: Bus, subjects: Subjects, batch: Batch, p: Pending): Promise<Ack> {
  // The de-duplication id names the resource too: the WAL is one stream for every group.
  const gen = p.generation === 1 ? '' : `.g${p.generation}`;
  const ack = await bus.streamPublish(subjects.wal(batch.group, p.shard, p.generation), p.data!, {
    msgId: `${batch.kind}.${batch.group}.${batch.name}.${batch.batchId}${gen}.${p.shard}`,
  });
  return { generation: p.generation, shard: p.shard, seq: ack.seq, duplicate: ack.duplicate };
}

function checkSize(bus: Bus, shard: number, data: Uint8Array): Uint8Array {
  if (data.length > bus.maxPayload()) {
    throw new LockstepError(
      Code.ResourceExhausted,
      `the batch's record for shard ${shard} is ${data.length} bytes, over the server's message limit of ${bus.maxPayload()}: send fewer or smaller points per write`,
      { details: { bytes: data.length, limit: bus.maxPayload() } },
    );
  }
  return data;
}
