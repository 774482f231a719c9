/**
 * Rows of a backup turned back into writes (pure): a block's merged rows and a WAL record's rows
 * become WritePoint / WriteElement objects, each with its key and version, so restore can keep the
 * newest version of every key across a shard's parts and its WAL tail (storage/point_version.ts).
 */
import type { WriteElement, WritePoint, WriteTagValue } from '../../transport/api_types.js';
import type { BlockRows } from '../../storage/block.js';
import { elementIdColumn } from '../../storage/element_id.js';
import { NO_VERSION, VERSION_COLUMN } from '../../storage/point_version.js';
import type { Measure, Stream } from '../../transport/schema_types.js';
import { missingTagValue, type WalRecord } from '../../transport/wal_record.js';
import { tagAt } from '../../transport/packed_columns.js';

/** One row to write again. */
export interface RestoreRow {
  /** Name, series (entity values), timestamp and, for a stream, element id. */
  key: string;
  version: number;
  write: WritePoint | WriteElement;
}

/** How rows of one measure or stream are read and written. */
export interface RowShape {
  kind: 'measure' | 'stream';
  resource: Measure | Stream;
}

function declaredTags(res: Measure | Stream): { name: string; type: string }[] {
  return res.tag_families.flatMap((f) => f.tags).filter((t, i, all) => all.findIndex((x) => x.name === t.name) === i);
}

function isMissing(v: unknown, type: string): boolean {
  const m = missingTagValue(type);
  return Array.isArray(m) ? Array.isArray(v) && v.length === 0 : v === m;
}

/** Builds rows from column accessors (shared by blocks and WAL columns). */
function buildRows(
  shape: RowShape,
  n: number,
  ts: (i: number) => number,
  field: (name: string, i: number) => number | undefined,
  tag: (name: string, i: number) => unknown,
  eid: (i: number) => string | undefined,
  version: (i: number) => number,
): RestoreRow[] {
  const res = shape.resource;
  const tags = declaredTags(res);
  const entity = new Set(res.entity);
  const fields = shape.kind === 'measure' ? (res as Measure).fields : [];
  const out: RestoreRow[] = [];
  for (let i = 0; i < n; i++) {
    const t: Record<string, WriteTagValue> = {};
    for (const spec of tags) {
      const v = tag(spec.name, i);
      // A missing tag was stored as its type's empty value: leave it out and it is stored the same.
      if (v === undefined || (!entity.has(spec.name) && isMissing(v, spec.type))) continue;
      t[spec.name] = v as WriteTagValue;
    }
    const series = JSON.stringify(res.entity.map((e) => t[e] ?? null));
    if (shape.kind === 'measure') {
      const f: Record<string, number> = {};
      for (const spec of fields) {
        const v = field(spec.name, i);
        if (v !== undefined && !Number.isNaN(v)) f[spec.name] = v;
      }
      const p: WritePoint = { ts: ts(i), tags: t, fields: f };
      out.push({ key: `${res.name}\u0000${series}\u0000${ts(i)}`, version: version(i), write: p });
    } else {
      const id = eid(i) ?? '';
      const e: WriteElement = { ts: ts(i), element_id: id, tags: t };
      out.push({ key: `${res.name}\u0000${series}\u0000${ts(i)}\u0000${id}`, version: version(i), write: e });
    }
  }
  return out;
}

/** The rows of one series as a merged scan returned them (their versions in the `_v` column). */
export function rowsOfBlock(shape: RowShape, br: BlockRows): RestoreRow[] {
  const keyTag = shape.kind === 'stream' ? elementIdColumn(shape.resource as Stream) : undefined;
  const v = br.fields[VERSION_COLUMN];
  return buildRows(
    shape,
    br.timestamps.length,
    (i) => br.timestamps[i]!,
    (name, i) => br.fields[name]?.[i],
    (name, i) => (br.tags[name] as ArrayLike<unknown> | undefined)?.[i],
    (i) => (keyTag ? String((br.tags[keyTag] as ArrayLike<unknown> | undefined)?.[i] ?? '') : undefined),
    (i) => v?.[i] ?? NO_VERSION,
  );
}

/**
 * The rows of one WAL record stored at sequence `seq`: each row's version is its `_v` when the
 * record carries one, else `seq` (transport/wal_record.ts).
 */
export function rowsOfWalRecord(shape: RowShape, record: WalRecord, seq: number): RestoreRow[] {
  const cols = record.cols;
  if (cols) {
    const v = cols.fields[VERSION_COLUMN];
    return buildRows(
      shape,
      cols.ts.length,
      (i) => cols.ts[i]!,
      (name, i) => cols.fields[name]?.[i],
      (name, i) => (cols.tags[name] ? tagAt(cols.tags[name], i) : undefined),
      (i) => cols.eid?.[i],
      (i) => v?.[i] ?? seq,
    );
  }
  const rows = (record.rows ?? []) as {
    ts: number;
    element_id?: string;
    tags?: Record<string, unknown>;
    fields?: Record<string, number>;
  }[];
  return buildRows(
    shape,
    rows.length,
    (i) => rows[i]!.ts,
    (name, i) => rows[i]!.fields?.[name],
    (name, i) => rows[i]!.tags?.[name],
    (i) => rows[i]!.element_id,
    () => seq,
  );
}

/**
 * The WAL tail's rows, newest version per key (later records win ties, as the shard applies them),
 * to be written after the parts' rows unless a part row of that key is newer.
 */
export class TailRows {
  private readonly rows = new Map<string, RestoreRow>();

  add(rows: readonly RestoreRow[]): void {
    for (const r of rows) {
      const had = this.rows.get(r.key);
      if (!had || r.version >= had.version) this.rows.set(r.key, r);
    }
  }

  /**
   * Whether a part's row should be written: false when the tail holds a newer (or equally new,
   * later) row of its key. When the part's row is newer, the tail's row is dropped.
   */
  keepPartRow(r: RestoreRow): boolean {
    const t = this.rows.get(r.key);
    if (!t) return true;
    if (t.version >= r.version) return false;
    this.rows.delete(r.key);
    return true;
  }

  /** The tail rows left, by name. */
  remaining(): Map<string, RestoreRow[]> {
    const out = new Map<string, RestoreRow[]>();
    for (const r of this.rows.values()) {
      const name = r.key.slice(0, r.key.indexOf('\u0000'));
      let l = out.get(name);
      if (!l) out.set(name, (l = []));
      l.push(r);
    }
    return out;
  }

  get size(): number {
    return this.rows.size;
  }
}
