/**
 * Reply types of the public API shared by the servers and the TypeScript client, so both sides
 * compile against one definition.
 */
import type { WriteToken } from './write_token.js';
import type { Resource, SchemaKind } from './schema_types.js';
import type { TagColumn } from './query_types.js';

/** Node roles (DESIGN §1). */
export const ROLES = ['liaison', 'data', 'claimer', 'standalone'] as const;
/** A node role. */
export type Role = (typeof ROLES)[number];

/** Reply of a create. */
export interface CreateReply {
  revision: number;
  kind: SchemaKind;
  resource: Resource;
}

/** Reply of an update; `changed: false` means nothing was written and `revision` is the current one. */
export interface UpdateReply extends CreateReply {
  changed: boolean;
}

/** Reply of a delete: the last tombstone's revision and the formatted keys deleted, in order. */
export interface DeleteReply {
  revision: number;
  deleted: string[];
}

/** One resource of an apply. */
export interface ApplyItem {
  kind: SchemaKind;
  resource: unknown;
}

/** What an apply did to one resource. */
export interface ApplyResultItem {
  kind: SchemaKind;
  key: string;
  action: 'created' | 'updated' | 'unchanged';
  revision: number;
}

/** Reply of an apply; `revision` is the largest revision of its results (0 when empty). */
export interface ApplyReply {
  results: ApplyResultItem[];
  revision: number;
}

/** Laggard reason of a member that turned Evictable (or vanished) while a barrier call watched it. */
export const EVICTED_REASON = 'evicted_during_poll';

/** A member that had not converged when a barrier call ended, or was evicted while it ran. */
export interface Laggard {
  /** `<role>-<name>`. */
  node: string;
  current_revision?: number;
  missing_keys?: string[];
  still_present_keys?: string[];
  /** How many more keys lag on this member than the lists name (they are capped). */
  keys_not_listed?: number;
  reason?: string;
}

/** Reply of every barrier call; `applied: false` on timeout is a normal answer. */
export interface BarrierReply {
  applied: boolean;
  laggards: Laggard[];
}

/** A tag value as written: string, int, string[] or int[] by the tag's declared type. */
export type WriteTagValue = string | number | string[] | number[];

/** One measure point of a write; `ts` is epoch milliseconds or an RFC 3339 string with a zone. */
export interface WritePoint {
  ts: number | string;
  tags?: Record<string, WriteTagValue>;
  fields: Record<string, number>;
}

/**
 * A measure batch as columns, the fast form of a write body (`columns` in place of `points`):
 * typed arrays travel as raw bytes and no property name repeats per point. One entry per point in
 * every column. `ts`: epoch milliseconds. A float field's NaN (null in JSON) means the point has no
 * value for it; an int field has no absence. A declared tag left out stores its missing value ('',
 * 0 or []) for every point; the entity tags must be given.
 */
export interface WriteColumns {
  ts: Float64Array | readonly number[];
  /**
   * Per tag a value per point, or a dictionary (`TagColumn`: each distinct value once in `values`,
   * point i's value `values[codes[i]]`), which the TypeScript client sends for repeating strings.
   */
  tags?: Record<string, readonly WriteTagValue[] | TagColumn>;
  fields: Record<string, Float64Array | readonly (number | null)[]>;
}

/** One stream element of a write; the id comes from `element_id` or the stream's element-id tag. */
export interface WriteElement {
  ts: number | string;
  element_id?: string;
  tags?: Record<string, WriteTagValue>;
}

/** Reply of a measure or stream write, sent only after the WAL acknowledged every shard's append. */
export interface WriteReply {
  /** Points (or elements) written. */
  points: number;
  /** The batch id given, or the one the server chose. */
  batch_id: string;
  /** The resource revision the batch was validated against. */
  schema_revision: number;
  /** Read-your-writes token: the WAL sequence of this batch per shard (transport/write_token.ts). */
  write_token: WriteToken;
  /** True when the WAL already held this batch_id (a retry): nothing new was stored. */
  duplicate: boolean;
}

/** One measure's part of a line protocol write (`P.api.write.line.<group>`). */
export interface LineMeasureReply {
  name: string;
  points: number;
  batch_id: string;
  schema_revision: number;
  duplicate: boolean;
}

/** Reply of a line protocol write: totals, one write token for the group, and each measure's batch. */
export interface LineWriteReply {
  points: number;
  write_token: WriteToken;
  duplicate: boolean;
  measures: LineMeasureReply[];
}

/** One cluster member as a liaison sees it. */
export interface MemberInfo {
  name: string;
  roles: Role[];
  label: string;
  state: 'active' | 'evictable';
}

/** Reply of `members`. */
export interface MembersReply {
  members: MemberInfo[];
}

/** Reply of `pause_watch` and `resume_watch`. */
export interface WatchControlReply {
  node: string;
  paused: boolean;
  revision: number;
}

/** One actor of a node, as its supervisor reports it. */
export interface ActorInfo {
  id: string;
  kind: string;
  lifecycle: string;
  threadId?: number;
  details: Record<string, unknown>;
  restarts: number;
  restarting: boolean;
}

/** One shard a data node owns, as its `data_shard` actor reports it in `details.shards`. */
export interface ShardHealth {
  /** `<group>/<shard>`, or `<group>/g<generation>/<shard>` past the first layout generation. */
  shard: string;
  /** WAL sequences applied to the memtable, and flushed to parts. */
  applied: number;
  flushed: number;
  /** The last sequence published on the shard's subject, and how far `applied` is behind it (null until known). */
  published: number | null;
  wal_lag: number | null;
}

/** Reply of `actors`. */
export interface ActorsReply {
  node: string;
  roles: Role[];
  pid: number;
  main_thread_id: number;
  /** The node's Prometheus port (null when /metrics is off). */
  metrics_port: number | null;
  actors: ActorInfo[];
}
