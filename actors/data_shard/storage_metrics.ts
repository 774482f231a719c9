/**
 * A data node's storage metrics (issue 9 §5), per group: parts, their bytes and rows, segments,
 * memtable rows and the merge backlog, read from the open shards at scrape time (so a closed shard
 * leaves no stale series), and flush and merge durations observed as they happen.
 *
 * `storageStats` is the pure part: what a shard's committed parts amount to.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { PartRef } from '../../storage/shard_load.js';

/** What a shard's parts amount to. */
export interface StorageStats {
  parts: number;
  /** Data and index bytes of the parts (their metadata files are a few hundred bytes more). */
  bytes: number;
  rows: number;
  /** Segments holding at least one part. */
  segments: number;
  /** (segment, name) pairs holding more parts than the merge policy's bound: merges still to run. */
  mergeBacklog: number;
}

/** The stats of `parts`, with the merge policy's bound of parts per (segment, name). */
export function storageStats(parts: readonly PartRef[], maxPartsPerName: number): StorageStats {
  const perName = new Map<string, number>();
  const segments = new Set<number>();
  let bytes = 0;
  let rows = 0;
  for (const p of parts) {
    bytes += p.part.metadata.data_bytes + p.part.metadata.index_bytes;
    rows += p.part.metadata.row_count;
    segments.add(p.segmentStartMs);
    const key = `${p.segmentStartMs}\u0000${p.name}`;
    perName.set(key, (perName.get(key) ?? 0) + 1);
  }
  let mergeBacklog = 0;
  for (const n of perName.values()) if (n > maxPartsPerName) mergeBacklog++;
  return { parts: parts.length, bytes, rows, segments: segments.size, mergeBacklog };
}

/** One open shard as the metrics see it. */
export interface ShardView {
  group: string;
  parts(): readonly PartRef[];
  memtableRows(): number;
}

/** Seconds buckets of flushes and merges: a few ms up to a minute. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The storage metrics of one data node, on its actor registry. */
export class StorageMetrics {
  private readonly flushes: Histogram<'group'>;
  private readonly merges: Histogram<'group'>;

  constructor(registry: Registry, shards: () => Iterable<ShardView>, maxPartsPerName: number) {
    const gauges = {
      parts: ['lockstep_storage_parts', 'Committed parts on this node'],
      bytes: ['lockstep_storage_part_bytes', "Data and index bytes of this node's committed parts"],
      rows: ['lockstep_storage_rows', "Rows in this node's committed parts (before merges drop overwritten ones)"],
      segments: ['lockstep_storage_segments', 'Time segments holding parts on this node'],
      mergeBacklog: [
        'lockstep_storage_merge_backlog',
        '(segment, measure or stream) pairs holding more parts than the merge bound: merges still to run',
      ],
    } as const;
    // A restart of the actor reuses the registry.
    for (const [name] of Object.values(gauges)) registry.removeSingleMetric(name);
    for (const n of ['lockstep_memtable_rows', 'lockstep_flush_duration_seconds', 'lockstep_merge_duration_seconds'])
      registry.removeSingleMetric(n);
    // Every gauge reads the same per-group sums: a scrape collects all of them in one pass of the
    // event loop, so the sums are computed once and dropped before the next turn.
    let snapshot: Map<string, StorageStats & { memtableRows: number }> | undefined;
    const perGroup = () => {
      if (!snapshot) {
        snapshot = sumPerGroup();
        setImmediate(() => (snapshot = undefined));
      }
      return snapshot;
    };
    const sumPerGroup = () => {
      const out = new Map<string, StorageStats & { memtableRows: number }>();
      for (const s of shards()) {
        const st = storageStats(s.parts(), maxPartsPerName);
        const acc = out.get(s.group) ?? { parts: 0, bytes: 0, rows: 0, segments: 0, mergeBacklog: 0, memtableRows: 0 };
        for (const k of ['parts', 'bytes', 'rows', 'segments', 'mergeBacklog'] as const) acc[k] += st[k];
        acc.memtableRows += s.memtableRows();
        out.set(s.group, acc);
      }
      return out;
    };
    for (const [key, [name, help]] of Object.entries(gauges) as [keyof StorageStats, readonly [string, string]][]) {
      new Gauge({
        name,
        help,
        labelNames: ['group'],
        registers: [registry],
        collect() {
          this.reset();
          for (const [group, st] of perGroup()) this.set({ group }, st[key]);
        },
      });
    }
    new Gauge({
      name: 'lockstep_memtable_rows',
      help: 'Rows applied from the WAL and not yet flushed to parts on this node',
      labelNames: ['group'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [group, st] of perGroup()) this.set({ group }, st.memtableRows);
      },
    });
    this.flushes = new Histogram({
      name: 'lockstep_flush_duration_seconds',
      help: "A shard's flush: encoding its memtable into parts, fsync and commit",
      labelNames: ['group'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.merges = new Histogram({
      name: 'lockstep_merge_duration_seconds',
      help: "One merge pass of a shard's parts (all the merges it ran)",
      labelNames: ['group'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
  }

  flushed(group: string, seconds: number): void {
    this.flushes.observe({ group }, seconds);
  }

  merged(group: string, seconds: number): void {
    this.merges.observe({ group }, seconds);
  }
}
