/**
 * A shard's read path (VictoriaMetrics keeps it apart from the write and merge path the same way):
 * which blocks of which committed parts a query reads, read as they are (`scanBlocks`) or planned
 * for a merged read (`planShardScan`, run by scan_plan.ts on the store's thread or on a worker).
 * ShardStore calls these on its committed segments and counts the reads as running scans.
 */
import { plainSchema, type BlockProjection, type BlockRows } from './block.js';
import { errors } from '../transport/errors.js';
import type { Part } from './part.js';
import type { BlockEntry } from './part_format.js';
import { PARTS_READ_AT_ONCE, type ScanPlan } from './scan_plan.js';
import { byAge, type PartRef, type Segment } from './shard_load.js';
import { splitSummarized, type SummarizeSpec } from './query/block_summary.js';

/** What a scan reads; the time range is inclusive on both ends. */
export interface ScanQuery {
  minTs: number;
  maxTs: number;
  seriesIds?: ReadonlySet<string>;
  projection?: BlockProjection;
  /** Only parts of this measure or stream; all names when omitted. */
  schemaName?: string;
  /**
   * scanMerged only: a string tag that, with the timestamp, keys a row (a stream's element-id
   * column). Without it a series has one row per timestamp.
   */
  keyTag?: string;
  /**
   * planShardScan only: blocks whose statistics answer the aggregation are left out of the plan's
   * reads and come back as its summaries (storage/query/block_summary.ts).
   */
  summarize?: SummarizeSpec;
}

/** The rows of one block (trimmed to the query's range) and the series they belong to. */
export type ScannedBlock = BlockRows & { seriesId: string };

/** What an unmerged scan calls for each block it read. */
export type BlockVisitor = (rows: ScannedBlock, part: Part, ref: PartRef) => void | Promise<void>;

/** `InvalidArgument` unless the query's range is ordered. */
export function checkScanRange(q: ScanQuery): void {
  if (!(q.minTs <= q.maxTs)) throw errors.invalidArgument(`scan needs minTs <= maxTs, got ${q.minTs}, ${q.maxTs}`);
}

/** The parts of `segments` a scan reads, each with its blocks that overlap `q` (in file order). */
function blocksToRead(q: ScanQuery, segments: readonly Segment[]): { ref: PartRef; entries: BlockEntry[] }[] {
  const { minTs, maxTs } = q;
  const out: { ref: PartRef; entries: BlockEntry[] }[] = [];
  for (const seg of segments) {
    if (seg.entry.startMs > maxTs || seg.entry.endMs <= minTs) continue;
    // One consistent list per segment: a merge replaces seg.parts as a whole, never edits it.
    for (const ref of seg.parts) {
      if (q.schemaName !== undefined && ref.name !== q.schemaName) continue;
      const m = ref.part.metadata;
      if (m.min_ts === null || m.max_ts === null || m.min_ts > maxTs || m.max_ts < minTs) continue;
      const entries = ref.part.blocksFor({ seriesIds: q.seriesIds, minTs, maxTs });
      if (entries.length > 0) out.push({ ref, entries });
    }
  }
  return out;
}

/** Reads every overlapping block of `segments` once, a few parts at a time, delivering them in order. */
export async function scanBlocks(q: ScanQuery, segments: readonly Segment[], onBlock: BlockVisitor): Promise<void> {
  const { minTs, maxTs } = q;
  const reads = blocksToRead(q, segments);
  for (let i = 0; i < reads.length; i += PARTS_READ_AT_ONCE) {
    const batch = reads.slice(i, i + PARTS_READ_AT_ONCE);
    const blocks = await Promise.all(
      batch.map(({ ref, entries }) => ref.part.readBlocks(entries, q.projection, { minTs, maxTs })),
    );
    for (let j = 0; j < batch.length; j++) {
      const { ref, entries } = batch[j]!;
      for (let k = 0; k < entries.length; k++) {
        const rows = blocks[j]![k]!;
        if (rows.timestamps.length > 0) await onBlock({ ...rows, seriesId: entries[k]!.seriesId }, ref.part, ref);
      }
    }
  }
}

/** The blocks a merged read of `q` takes from `segments`, as a plan, and the parts they belong to. */
export function planShardScan(q: ScanQuery, segments: readonly Segment[]): { plan: ScanPlan; refs: PartRef[] } {
  let found = blocksToRead(q, segments);
  let summaries: ScanPlan['summaries'];
  if (q.summarize) {
    const split = splitSummarized(
      found.map((f) => ({ schema: f.ref.part.metadata.schema, entries: f.entries })),
      q,
      q.summarize,
    );
    found = found.map((f, i) => ({ ref: f.ref, entries: split.decode[i]! })).filter((f) => f.entries.length > 0);
    summaries = split.summaries;
  }
  const age = new Map([...found.map((f) => f.ref)].sort(byAge).map((r, i) => [r, i]));
  const plan: ScanPlan = {
    name: q.schemaName ?? found[0]?.ref.name ?? '',
    parts: found.map(({ ref, entries }) => ({
      dataPath: ref.part.dataPath,
      schema: plainSchema(ref.part.metadata.schema),
      age: age.get(ref)!,
      entries,
    })),
    projection: q.projection,
    range: { minTs: q.minTs, maxTs: q.maxTs },
    keyTag: q.keyTag,
    summaries,
  };
  return { plan, refs: found.map((f) => f.ref) };
}
