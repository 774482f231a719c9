/**
 * The package entry (`import { LockstepClient } from 'lockstep'`): the TypeScript client, its
 * request and reply types, and the wire errors to match on by code.
 */
export * from './client.js';
export { Code, LockstepError, isNoResponders, type ErrorBody } from './errors.js';
export type { Measure, Resource, SchemaKey, SchemaKind, Stream, StoredResource } from './schema_types.js';
export { DEFAULT_PREFIX } from './subjects.js';
export type { Layout, LayoutGeneration } from './layout_types.js';
export type { WriteToken } from './write_token.js';
export * as limits from './limits.js';
export { MigrationClient, type MigrationWatch } from './migration_client.js';
export {
  DEFAULT_PINNED_REFRESHES_MAX,
  PinnedWriter,
  type PinnedKind,
  type PinnedWriteOptions,
  type PinnedWriterOptions,
  type ResourceOf,
  type RowOf,
} from './pinned_writer.js';
export type {
  MeasureChange,
  MigrationChange,
  MigrationEvent,
  MigrationListReply,
  MigrationSpec,
  MigrationState,
  MigrationStatus,
  OnFailure,
  OperationKind,
  OperationState,
  OperationStatus,
  PlannedTarget,
  PlanReply,
  Policy,
} from './migration_types.js';
