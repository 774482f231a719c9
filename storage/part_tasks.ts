/**
 * The CPU-heavy storage work as messages: encoding a flushed part and merging parts. The same
 * `runPartTask` runs inline (no pool) or on a worker (part_worker.ts), so the store never knows
 * where its bytes were built. A failure travels back as data (an Error loses its class crossing
 * threads) and `storageErrorOf` rebuilds it: CorruptDataError stays a permanent, path-naming
 * error; anything else keeps its code and message.
 */
import { assertNever } from '../runtime/assert.js';
import { failed, ok, type Result } from '../runtime/thread_envelope.js';
import type { BlockRows, BlockSchema } from './block.js';
import { mergeParts, type MergeJob } from './merge.js';
import { encodeRuns, type EncodedPart, type PartStamp, type SeriesRuns } from './part_encode.js';

/** Encode rows (already checked and grouped by series on the caller's thread) as one part. */
export interface EncodeTask {
  kind: 'encode';
  /** Only the schema's columns. */
  rows: BlockRows;
  runs: SeriesRuns;
  schema: BlockSchema;
  maxRowsPerBlock: number;
  stamp: PartStamp;
}

/** Merge parts of one (segment, name) into one part. */
export interface MergeTask extends MergeJob {
  kind: 'merge';
}

/** A task of the part pool. */
export type PartTask = EncodeTask | MergeTask;

/** Runs a task on this thread; never throws (a failure comes back as data). */
export function runPartTask(task: PartTask): Result<EncodedPart> {
  try {
    if (task.kind === 'encode')
      return ok(encodeRuns(task.rows, task.runs, task.schema, task.maxRowsPerBlock, task.stamp));
    if (task.kind === 'merge') return ok(mergeParts(task));
    return assertNever(task, 'part task kind');
  } catch (err) {
    return failed(err);
  }
}

/**
 * The task as it should cross to a worker, and the buffers to transfer with it. A merge's input
 * bytes belong to the merge and move as they are. An encode task's typed columns belong to the
 * caller (a memtable keeps reading its in-flight rows), and may be views into bigger buffers that
 * a clone would copy whole: they are copied to exact size and the copies moved (the caller's arrays
 * are never detached). Strings are cloned.
 */
export function forTransfer(task: PartTask): { task: PartTask; transfer: ArrayBuffer[] } {
  const out = new Set<ArrayBuffer>();
  if (task.kind === 'merge') {
    const inputs = task.inputs.map((i) => (owns(i.data) ? i : { ...i, data: i.data.slice() }));
    for (const i of inputs) out.add(i.data.buffer as ArrayBuffer);
    return { task: { ...task, inputs }, transfer: [...out] };
  }
  const move = (a: Float64Array) => {
    const c = a.slice();
    out.add(c.buffer as ArrayBuffer);
    return c;
  };
  const fields: Record<string, Float64Array> = {};
  const tags: BlockRows['tags'] = {};
  for (const name in task.rows.fields) fields[name] = move(task.rows.fields[name]!);
  for (const name in task.rows.tags) {
    const col = task.rows.tags[name]!;
    tags[name] = col instanceof Float64Array ? move(col) : col;
  }
  const counts = task.runs.counts.slice();
  out.add(counts.buffer as ArrayBuffer);
  const rows = { timestamps: move(task.rows.timestamps), fields, tags };
  return { task: { ...task, rows, runs: { series: task.runs.series, counts } }, transfer: [...out] };
}

/** True when `a` spans its whole buffer (so moving the buffer moves nothing else). */
function owns(a: Uint8Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer;
}
