/**
 * `lockstep backup restore DIR` into an empty cluster, through the public API: every file is
 * checked against the manifest first, then the schema is created (each group in its backed-up
 * layout: shards, segment interval, replicas and the measures' shapes; placed on the new cluster's
 * data nodes) and applied on every node (barrier), then each shard's rows are written again:
 * the rows of its parts, then its WAL tail, keeping the newest version of every key. Writes are
 * acknowledged by the WAL like any other; batch ids name the backup, so a retried batch is stored
 * once.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as fsp from 'node:fs/promises';
import type { LockstepClient, WriteElement, WritePoint } from '../../transport/client.js';
import { decode } from '../../transport/codec.js';
import { errors } from '../../transport/errors.js';
import { resourceInGeneration, type Layout } from '../../transport/layout_types.js';
import type { Group, IndexRule, Measure, Stream } from '../../transport/schema_types.js';
import { decodeWalRecord } from '../../transport/wal_record.js';
import { SNAPSHOT_WAL_FILE } from '../../transport/backup_types.js';
import { MAX_POINTS_PER_BATCH } from '../../transport/limits.js';
import { elementIdColumn } from '../../storage/element_id.js';
import { nodeFs } from '../../storage/fs.js';
import { ShardStore } from '../../storage/shard_store.js';
import { systemClock } from '../clock.js';
import { readBackup, verifyFiles, type BackupManifest, type BackupSchema, type BackupShard } from './manifest.js';
import { rowsOfBlock, rowsOfWalRecord, TailRows, type RestoreRow, type RowShape } from './restore_rows.js';

/** Rows per write request. */
const BATCH_ROWS = Math.min(5000, MAX_POINTS_PER_BATCH);
/** How long the schema may take to reach every node. */
const SCHEMA_BARRIER_MS = 60_000;

/** What a restore reports as it goes. */
export interface RestoreProgress {
  verifying(totalBytes: number): void;
  verified(bytes: number): void;
  /** Rows to write (the parts' rows before duplicates merge, plus the WAL tails' messages' rows are added as read). */
  writing(totalRows: number): void;
  written(rows: number): void;
}

const quiet: RestoreProgress = { verifying() {}, verified() {}, writing() {}, written() {} };

/** What a restore did. */
export interface RestoreSummary {
  backup: string;
  groups: number;
  measures: number;
  streams: number;
  /** Rows written (one per key). */
  rows: number;
}

function strip<T extends object>(r: T): T {
  const { created_at: _c, updated_at: _u, ...rest } = r as T & { created_at?: string; updated_at?: string };
  return rest as T;
}

/** The shape of each resource in its group's current generation, by `<kind>/<group>/<name>`. */
function shapes(schema: BackupSchema): Map<string, RowShape> {
  const out = new Map<string, RowShape>();
  const layoutOf = (g: string) => schema.layouts.map((l) => l.resource as Layout).find((l) => l.group === g);
  for (const m of schema.measures) {
    const res = m.resource as Measure;
    const shape = resourceInGeneration(layoutOf(res.group)?.current, 'measure', res.name, res);
    out.set(`measure/${res.group}/${res.name}`, { kind: 'measure', resource: strip(shape) });
  }
  for (const s of schema.streams) {
    const res = s.resource as Stream;
    out.set(`stream/${res.group}/${res.name}`, { kind: 'stream', resource: strip(res) });
  }
  return out;
}

/** Creates the backed-up schema in the (empty) cluster and waits until every node applied it. */
async function createSchema(
  client: LockstepClient,
  schema: BackupSchema,
  rowShapes: Map<string, RowShape>,
): Promise<void> {
  let revision = 0;
  for (const g of schema.groups) {
    const group = strip(g.resource as Group);
    const layout = schema.layouts.map((l) => l.resource as Layout).find((l) => l.group === group.name);
    const cur = layout?.current;
    const { placement: _p, ...rest } = group;
    const created = await client.create('group', {
      ...rest,
      ...(cur ? { shards: cur.shards, segment_interval: cur.segment_interval, replicas: cur.replicas } : {}),
    });
    revision = Math.max(revision, created.revision);
  }
  for (const s of rowShapes.values()) revision = Math.max(revision, (await client.create(s.kind, s.resource)).revision);
  for (const r of schema.index_rules)
    revision = Math.max(revision, (await client.create('index_rule', strip(r.resource as IndexRule))).revision);
  const barrier = await client.awaitRevision(revision, { timeoutMs: SCHEMA_BARRIER_MS });
  if (!barrier.applied) {
    throw errors.unavailable(
      `the restored schema (revision ${revision}) did not reach every node in ${SCHEMA_BARRIER_MS / 1000} s: ` +
        barrier.laggards.map((l) => l.node).join(', '),
    );
  }
}

/** Reads a snapshot's WAL frames. */
async function* walFrames(file: string): AsyncGenerator<{ seq: number; data: Uint8Array }> {
  const buf = await fsp.readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return Buffer.alloc(0);
    throw err;
  });
  let at = 0;
  while (at < buf.length) {
    if (at + 4 > buf.length) throw errors.invalidArgument(`${file} ends inside a frame header at byte ${at}`);
    const len = buf.readUInt32BE(at);
    if (at + 4 + len > buf.length) throw errors.invalidArgument(`${file} ends inside a frame at byte ${at}`);
    yield decode(buf.subarray(at + 4, at + 4 + len)) as { seq: number; data: Uint8Array };
    at += 4 + len;
  }
}

/** Writes rows of one resource in batches; `id` makes each batch id unique and repeatable. */
async function writeRows(
  client: LockstepClient,
  group: string,
  shape: RowShape,
  rows: readonly RestoreRow[],
  id: string,
  progress: RestoreProgress,
): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    const batch = rows.slice(i, i + BATCH_ROWS).map((r) => r.write);
    // Batch ids are 1–64 of [A-Za-z0-9_-]: a digest of where the batch comes from.
    const batchId = `rs-${createHash('sha256')
      .update(`${id}.${i / BATCH_ROWS}`)
      .digest('hex')
      .slice(0, 48)}`;
    if (shape.kind === 'measure')
      await client.writeMeasure(group, shape.resource.name, batch as WritePoint[], { batchId });
    else await client.writeStream(group, shape.resource.name, batch as WriteElement[], { batchId });
    progress.written(batch.length);
  }
}

/** Restores one shard; resolves with the rows written. */
async function restoreShard(
  client: LockstepClient,
  dir: string,
  manifest: BackupManifest,
  group: string,
  s: BackupShard,
  rowShapes: Map<string, RowShape>,
  progress: RestoreProgress,
): Promise<number> {
  const shardDir = join(dir, s.dir);
  const shapeOf = (kind: string, name: string) => rowShapes.get(`${kind}/${group}/${name}`);
  const tail = new TailRows();
  for await (const f of walFrames(join(shardDir, SNAPSHOT_WAL_FILE))) {
    const record = decodeWalRecord(f.data);
    const shape = shapeOf(record.kind, record.name);
    if (shape) tail.add(rowsOfWalRecord(shape, record, f.seq)); // else: deleted since, as on the cluster
  }
  let written = 0;
  const prefix = `restore.${manifest.id}.${group}.${s.shard}`;
  // The snapshot is a shard directory: complete parts and their commit marker, so opening it
  // removes nothing (storage/backup_snapshot.ts).
  const store = await ShardStore.open(nodeFs, shardDir, { clock: systemClock });
  try {
    const parts = store.listParts();
    const segments = [...new Set(parts.map((p) => p.segmentStartMs))].sort((a, b) => a - b);
    for (const seg of segments) {
      const names = [...new Set(parts.filter((p) => p.segmentStartMs === seg).map((p) => p.name))].sort();
      const end = Math.max(...parts.filter((p) => p.segmentStartMs === seg).map((p) => p.part.metadata.max_ts ?? seg));
      for (const name of names) {
        const shape = shapeOf('measure', name) ?? shapeOf('stream', name);
        if (!shape) continue;
        const keyTag = shape.kind === 'stream' ? elementIdColumn(shape.resource as Stream) : undefined;
        const scanned = await store.scanMerged({
          minTs: seg,
          maxTs: end,
          schemaName: name,
          ...(keyTag ? { keyTag } : {}),
        });
        const rows: RestoreRow[] = [];
        for (const br of scanned.values())
          for (const r of rowsOfBlock(shape, br)) if (tail.keepPartRow(r)) rows.push(r);
        await writeRows(client, group, shape, rows, `${prefix}.${seg}.${name}`, progress);
        written += rows.length;
      }
    }
  } finally {
    await store.close();
  }
  for (const [name, rows] of tail.remaining()) {
    const shape = shapeOf('measure', name) ?? shapeOf('stream', name);
    if (!shape) continue;
    await writeRows(client, group, shape, rows, `${prefix}.wal.${name}`, progress);
    written += rows.length;
  }
  return written;
}

/** Restores the backup in `dir` into the cluster `client` talks to, which must hold no group. */
export async function restoreBackup(
  client: LockstepClient,
  dir: string,
  opts: { progress?: RestoreProgress } = {},
): Promise<RestoreSummary> {
  const progress = opts.progress ?? quiet;
  const { manifest, schema } = await readBackup(dir);
  progress.verifying(
    manifest.groups.reduce((n, g) => n + g.shards.reduce((m, s) => m + s.files.reduce((k, f) => k + f.bytes, 0), 0), 0),
  );
  await verifyFiles(dir, manifest, (b) => progress.verified(b));
  const existing = await client.list('group');
  if (existing.length > 0) {
    throw errors.failedPrecondition(
      `restore needs an empty cluster; this one has group(s) ${existing.map((g) => (g.resource as Group).name).join(', ')}`,
    );
  }
  const rowShapes = shapes(schema);
  await createSchema(client, schema, rowShapes);
  progress.writing(manifest.groups.reduce((n, g) => n + g.shards.reduce((m, s) => m + s.rows, 0), 0));
  let rows = 0;
  for (const g of manifest.groups)
    for (const s of g.shards) rows += await restoreShard(client, dir, manifest, g.name, s, rowShapes, progress);
  return {
    backup: manifest.id,
    groups: schema.groups.length,
    measures: schema.measures.length,
    streams: schema.streams.length,
    rows,
  };
}
