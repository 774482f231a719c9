/**
 * A scan plan as it crosses to a query worker (pure). A plan names hundreds of blocks; as objects
 * they cost the shard's thread about 0.7 ms per shard to clone (measured: 500 blocks), on the one
 * thread every shard of a data node shares. Packed — each part's block locations in one
 * Float64Array and its series ids in one string — the copy is a few buffers.
 */
import type { BlockLocation } from './part_format.js';
import type { PlannedPart, ScanPlan } from './scan_plan.js';

/** Numbers per block in `PortablePart.locations`: ordinal, minTs, maxTs, rowCount, offset, length, crc. */
const STRIDE = 7;
/** Joins series ids (hex digests: never a comma). */
const SEP = ',';

/** A planned part with its blocks packed. */
export interface PortablePart extends Omit<PlannedPart, 'entries'> {
  /** Per block, the numbers of its location (STRIDE of them, in its order). */
  locations: Float64Array;
  /** The blocks' series ids, joined by commas. */
  seriesIds: string;
}

/** A scan plan with its parts packed. */
export interface PortableScan extends Omit<ScanPlan, 'parts'> {
  parts: PortablePart[];
}

/** `plan` packed for a worker: each block's location only (statistics stay behind). */
export function packScan(plan: ScanPlan): PortableScan {
  const parts: PortablePart[] = [];
  for (const p of plan.parts) parts.push(packPart(p));
  return { ...plan, parts };
}

/** The plan `packScan` packed. */
export function unpackScan(packed: PortableScan): ScanPlan {
  const parts: ScanPlan['parts'] = [];
  for (const p of packed.parts) parts.push(unpackPart(p));
  return { ...packed, parts };
}

// Module functions rather than callbacks made per call: V8 keeps their compiled code across
// queries (a closure made per query is compiled again, again and again).

function packPart({ entries, ...part }: ScanPlan['parts'][number]): PortablePart {
  const locations = new Float64Array(entries.length * STRIDE);
  const ids = new Array<string>(entries.length);
  for (let i = 0, at = 0; i < entries.length; i++, at += STRIDE) {
    const e = entries[i]!;
    locations[at] = e.ordinal;
    locations[at + 1] = e.minTs;
    locations[at + 2] = e.maxTs;
    locations[at + 3] = e.rowCount;
    locations[at + 4] = e.offset;
    locations[at + 5] = e.length;
    locations[at + 6] = e.crc;
    ids[i] = e.seriesId;
  }
  return { ...part, locations, seriesIds: ids.join(SEP) };
}

function unpackPart({ locations, seriesIds, ...part }: PortablePart): ScanPlan['parts'][number] {
  const ids = seriesIds === '' ? [] : seriesIds.split(SEP);
  const entries = new Array<BlockLocation>(ids.length);
  for (let i = 0, at = 0; i < ids.length; i++, at += STRIDE) {
    entries[i] = {
      ordinal: locations[at]!,
      seriesId: ids[i]!,
      minTs: locations[at + 1]!,
      maxTs: locations[at + 2]!,
      rowCount: locations[at + 3]!,
      offset: locations[at + 4]!,
      length: locations[at + 5]!,
      crc: locations[at + 6]!,
    };
  }
  return { ...part, entries };
}
