/**
 * A merged scan as data: which blocks of which parts a query reads (chosen on the store's thread
 * from its open parts), and `runScanPlan`, which reads them through a given reader and merges
 * each series newest-write-wins (series_merge.ts) — on the store's thread, or on a worker thread that
 * opens the data files by path (the store keeps those parts alive meanwhile).
 */
import type { BlockProjection, BlockRows, BlockSchema, TimeRange } from './block.js';
import { mergeSeries, unionColumns, type Chunk } from './series_merge.js';
import type { BlockLocation } from './part_format.js';
import { rowsDecoder, type BlockDecoder } from './part.js';
import type { BlockSummary } from './query/block_summary.js';

/** One part of a plan: its data file, schema, write age (0 = oldest) and the blocks to read, in file order. */
export interface PlannedPart {
  dataPath: string;
  schema: BlockSchema;
  age: number;
  entries: BlockLocation[];
}

/** The blocks a merged scan of one measure or stream reads. */
export interface ScanPlan {
  name: string;
  parts: PlannedPart[];
  projection?: BlockProjection;
  range: TimeRange;
  /** See ScanQuery.keyTag. */
  keyTag?: string;
  /** Per series, the blocks answered from their statistics instead of read (ScanQuery.summarize). */
  summaries?: Map<string, BlockSummary[]>;
}

/**
 * Reads some blocks of a planned part (index: its place in the plan's parts), each turned into a
 * `T` by `decode` (part.ts's rowsDecoder for rows).
 */
export type PartReader = <T>(part: PlannedPart, index: number, decode: BlockDecoder<T>) => Promise<T[]>;

/** Parts a scan reads at once (their reads overlap). */
export const PARTS_READ_AT_ONCE = 4;

/**
 * Reads every block of `plan`, `atOnce` parts at a time (their reads overlap), each decoded by the
 * decoder `decoderOf` gives for its part: `onBlock` gets each with its part's index and the
 * block's series. A part left without blocks (a window of windowScan) is not opened. (A part's
 * blocks are decoded in file order; with `atOnce` 1 every block is, whatever the reads' timing.)
 */
export async function readPlanBlocks<T>(
  plan: ScanPlan,
  read: PartReader,
  decoderOf: (part: PlannedPart) => BlockDecoder<T>,
  onBlock: (block: T, part: number, seriesId: string) => void,
  atOnce = PARTS_READ_AT_ONCE,
): Promise<void> {
  for (let i = 0; i < plan.parts.length; i += atOnce) {
    const batch = plan.parts.slice(i, i + atOnce);
    const blocks = await Promise.all(
      batch.map((p, j) => (p.entries.length === 0 ? Promise.resolve([]) : read(p, i + j, decoderOf(p)))),
    );
    batch.forEach((p, j) => p.entries.forEach((e, k) => onBlock(blocks[j]![k]!, i + j, e.seriesId)));
  }
}

/**
 * Runs a plan: per series id (ascending), its rows merged newest-write-wins, with the union of
 * the columns of the parts that had rows (newest type wins), missing values filled.
 */
export async function runScanPlan(plan: ScanPlan, read: PartReader): Promise<Map<string, BlockRows>> {
  const chunks = new Map<string, Chunk[]>();
  const used = new Set<number>();
  const decoderOf = (p: PlannedPart) => rowsDecoder(p.schema, plan.projection, plan.range);
  await readPlanBlocks(plan, read, decoderOf, (rows, part, seriesId) => {
    if (rows.timestamps.length === 0) return;
    used.add(part);
    const chunk = { rows, age: plan.parts[part]!.age };
    const list = chunks.get(seriesId);
    if (list) list.push(chunk);
    else chunks.set(seriesId, [chunk]);
  });
  const schemas = [...used]
    .map((i) => plan.parts[i]!)
    .sort((a, b) => a.age - b.age)
    .map((p) => p.schema);
  const cols = unionColumns(schemas, plan.projection);
  const out = new Map<string, BlockRows>();
  for (const id of [...chunks.keys()].sort()) out.set(id, mergeSeries(chunks.get(id)!, cols, plan.keyTag, plan.name));
  return out;
}

/** The plan's reads limited to `range` (inside the plan's): the blocks overlapping it, parts kept in place. */
export function windowScan(plan: ScanPlan, range: TimeRange): ScanPlan {
  const overlaps = (e: BlockLocation) => e.maxTs >= range.minTs && e.minTs <= range.maxTs;
  return { ...plan, range, parts: plan.parts.map((p) => ({ ...p, entries: p.entries.filter(overlaps) })) };
}
