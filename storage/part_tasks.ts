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
 * A string tag column as it crosses to a worker: each distinct value once, and per row its index.
 * A structured clone copies every row's string on this thread and allocates it again on the worker;
 * a tag repeats across rows (a host, a region), so the indexes move as one buffer and the worker
 * rebuilds the column from shared strings.
 */
export interface CodedStrings {
  coded: 'strings';
  values: string[];
  codes: Uint32Array;
}

/**
 * The task as it should cross to a worker, and the buffers to transfer with it. A merge's input
 * bytes belong to the merge and move as they are. An encode task's typed columns belong to the
 * caller (a memtable keeps reading its in-flight rows), and may be views into bigger buffers that
 * a clone would copy whole: they are copied to exact size and the copies moved (the caller's arrays
 * are never detached). String columns go as `CodedStrings`; list columns are cloned. The worker
 * undoes it with `fromTransfer`.
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
  const stringTags = new Set(task.schema.tags.filter((t) => t.type === 'string').map((t) => t.name));
  for (const name in task.rows.fields) fields[name] = move(task.rows.fields[name]!);
  for (const name in task.rows.tags) {
    const col = task.rows.tags[name]!;
    if (col instanceof Float64Array) tags[name] = move(col);
    else if (stringTags.has(name)) {
      const coded = codeStrings(col as string[]);
      out.add(coded.codes.buffer as ArrayBuffer);
      tags[name] = coded as unknown as string[];
    } else tags[name] = col;
  }
  const counts = task.runs.counts.slice();
  out.add(counts.buffer as ArrayBuffer);
  const rows = { timestamps: move(task.rows.timestamps), fields, tags };
  return { task: { ...task, rows, runs: { series: task.runs.series, counts } }, transfer: [...out] };
}

/** The task `forTransfer` sent, as `runPartTask` takes it (on the worker). */
export function fromTransfer(task: PartTask): PartTask {
  if (task.kind !== 'encode') return task;
  const tags: BlockRows['tags'] = {};
  for (const name in task.rows.tags) {
    const col = task.rows.tags[name] as BlockRows['tags'][string] | CodedStrings;
    tags[name] = isCoded(col) ? expandStrings(col) : col;
  }
  return { ...task, rows: { ...task.rows, tags } };
}

function isCoded(col: unknown): col is CodedStrings {
  return typeof col === 'object' && col !== null && (col as CodedStrings).coded === 'strings';
}

function codeStrings(col: readonly string[]): CodedStrings {
  const index = new Map<string, number>();
  const values: string[] = [];
  const codes = new Uint32Array(col.length);
  for (let i = 0; i < col.length; i++) {
    const v = col[i]!;
    // Rows come sorted by series, so a tag repeats row after row: no lookup for a repeat.
    if (i > 0 && v === col[i - 1]) {
      codes[i] = codes[i - 1]!;
      continue;
    }
    let c = index.get(v);
    if (c === undefined) {
      c = values.length;
      index.set(v, c);
      values.push(v);
    }
    codes[i] = c;
  }
  return { coded: 'strings', values, codes };
}

function expandStrings(c: CodedStrings): string[] {
  const col = new Array<string>(c.codes.length);
  for (let i = 0; i < col.length; i++) col[i] = c.values[c.codes[i]!]!;
  return col;
}

/** True when `a` spans its whole buffer (so moving the buffer moves nothing else). */
function owns(a: Uint8Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer;
}
