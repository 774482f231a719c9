/**
 * Wire types of the node schema status service (DESIGN §4), served by every node's schema
 * watcher on `P.node.<node>.status.<method>`, and of the schema events it publishes.
 */
import type { SchemaKey } from './schema_types.js';

/** Status methods. An unknown method answers `Unimplemented`. */
export const STATUS_METHODS = ['max_revision', 'key_revisions', 'absent_keys'] as const;
export type StatusMethod = (typeof STATUS_METHODS)[number];

/** `max_revision` reply. */
export interface MaxRevisionReply {
  node: string;
  revision: number;
}

/** `key_revisions` and `absent_keys` request. */
export interface KeysRequest {
  keys: SchemaKey[];
}

/** Per-key state in a `key_revisions` reply (same order as the request). */
export interface KeyRevision {
  present: boolean;
  /** Revision of the last applied put or delete of the key (0 when never seen). */
  mod_revision: number;
}

/** `key_revisions` reply. */
export interface KeyRevisionsReply {
  node: string;
  revision: number;
  keys: KeyRevision[];
}

/** `absent_keys` reply. */
export interface AbsentKeysReply {
  node: string;
  revision: number;
  absent: SchemaKey[];
  still_present: SchemaKey[];
}

/** Published on `P.events.schema` whenever a node's applied revision advances. */
export interface SchemaAppliedEvent {
  node: string;
  revision: number;
}
