/**
 * Background merges of parts: the merge itself as a pure function of the parts' raw bytes (it
 * runs inline or on a worker, see part_tasks.ts), each series merged by the rule a read applies
 * (series_merge.ts), and the `merged_from` record a merged part keeps. Which parts to merge is
 * merge_policy.ts.
 */
import { blockCrc, type BlockRows, type BlockSchema } from './block.js';
import { decodeBlock } from './block_decode.js';
import { crc32, verify } from './checksum.js';
import { CorruptDataError } from './errors.js';
import { PartEncoder, type EncodedPart, type PartStamp } from './part_encode.js';
import { checkVersion, STORAGE_VERSION } from './versions.js';
import { columnsSchema, mergeSeries, unionColumns, type Chunk } from './series_merge.js';

/** One block of an input part as the merge reads it (a BlockEntry without its ordinal). */
export interface MergeBlock {
  seriesId: string;
  rowCount: number;
  offset: number;
  length: number;
  crc: number;
}

/** One input part of a merge: its whole data file and index entries. */
export interface MergeInput {
  /** The data file's path, for error messages only. */
  path: string;
  data: Uint8Array;
  blocks: MergeBlock[];
  schema: BlockSchema;
}

/** A merge of parts of one (segment, name) into one part. */
export interface MergeJob {
  /** The measure or stream, for error messages. */
  name: string;
  /** Oldest write first. */
  inputs: MergeInput[];
  /** The stream element-id column; null for a measure. */
  keyTag: string | null;
  maxRowsPerBlock: number;
  stamp: PartStamp;
}

/**
 * The inputs' rows as one part: per series (ascending), newest write wins per key, the union of
 * the inputs' columns. Every block is checked as Part.readBlock checks it; damage throws
 * CorruptDataError naming the input's data file.
 */
export function mergeParts(job: MergeJob): EncodedPart {
  const cols = unionColumns(job.inputs.map((i) => i.schema));
  const enc = new PartEncoder(columnsSchema(cols), job.maxRowsPerBlock);
  const next = job.inputs.map(() => 0);
  const keyTag = job.keyTag ?? undefined;
  for (;;) {
    let id: string | null = null;
    for (let p = 0; p < job.inputs.length; p++) {
      const b = job.inputs[p]!.blocks[next[p]!];
      if (b && (id === null || b.seriesId < id)) id = b.seriesId;
    }
    if (id === null) break;
    const chunks: Chunk[] = [];
    for (let p = 0; p < job.inputs.length; p++) {
      const input = job.inputs[p]!;
      for (let b = input.blocks[next[p]!]; b && b.seriesId === id; b = input.blocks[++next[p]!]) {
        chunks.push({ rows: readBlock(input, b, next[p]!), age: p });
      }
    }
    enc.addSeries(id, mergeSeries(chunks, cols, keyTag, job.name));
  }
  return enc.finish(job.stamp);
}

/** Decodes one block of an input with Part.readBlock's checks. */
function readBlock(input: MergeInput, b: MergeBlock, ordinal: number): BlockRows {
  const where = `block ${ordinal} (series ${b.seriesId}, offset ${b.offset}, ${b.length} bytes)`;
  if (b.offset + b.length > input.data.length)
    throw new CorruptDataError(input.path, `${where}: truncated, the file holds ${input.data.length} bytes`);
  const bytes = input.data.subarray(b.offset, b.offset + b.length);
  if (blockCrc(bytes) !== b.crc)
    throw new CorruptDataError(input.path, `${where}: stored checksum differs from the index`);
  const rows = decodeBlock(input.path, bytes, input.schema, undefined, where);
  if (rows.timestamps.length !== b.rowCount)
    throw new CorruptDataError(input.path, `${where}: ${rows.timestamps.length} rows, the index says ${b.rowCount}`);
  return rows;
}

/** The file in a merged part's directory naming the part sequences it replaces (shard_store.ts header). */
export const MERGED_FROM_FILE = 'merged_from';

/** The bytes of a `merged_from` file: JSON {version, replaces, crc32}, crc32 over the JSON without it. */
export function encodeMergedFrom(replaces: readonly number[]): Uint8Array {
  const body = { version: STORAGE_VERSION, replaces: [...replaces] };
  const crc = crc32(new TextEncoder().encode(JSON.stringify(body)));
  return new TextEncoder().encode(`${JSON.stringify({ ...body, crc32: crc })}\n`);
}

/** The part sequences a `merged_from` file (read from `path`) names; damage throws CorruptDataError. */
export function parseMergedFrom(path: string, bytes: Uint8Array): number[] {
  let v: { version?: unknown; replaces?: unknown; crc32?: unknown };
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as typeof v;
  } catch (err) {
    throw new CorruptDataError(path, 'not valid JSON', { cause: err });
  }
  if (!v || typeof v.version !== 'string') throw new CorruptDataError(path, 'no string "version"');
  checkVersion(path, v.version);
  const ok =
    Array.isArray(v.replaces) &&
    v.replaces.every((s) => Number.isSafeInteger(s) && (s as number) > 0) &&
    typeof v.crc32 === 'number';
  if (!ok) throw new CorruptDataError(path, 'no "replaces" list of part sequences or no "crc32"');
  verify(
    path,
    'merged_from',
    new TextEncoder().encode(JSON.stringify({ version: v.version, replaces: v.replaces })),
    v.crc32 as number,
  );
  return v.replaces as number[];
}
