/**
 * The write API (DESIGN §6–§7) on `P.api.write.<measure|stream>`: gates, validation, routing by
 * series to shards, one append per shard to the WAL stream with a de-duplication id, and a reply
 * only after JetStream acknowledged every append — with a write token (the WAL sequence per shard).
 * An acknowledged write is durable even if every data node is down.
 *
 * A batch that failed half-way (one shard appended, another not) answers an error; retrying it
 * with the same `batch_id` is idempotent within the WAL's de-duplication window.
 */
import { randomUUID } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { WriteReply } from '../../transport/api_types.js';
import type { Bus, Subscription } from '../../transport/bus.js';
import { errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import { serve, type RpcRequest } from '../../transport/rpc.js';
import { checkName, type Group, type Measure, type Stream } from '../../transport/schema_types.js';
import { LIAISON_QUEUE, type Subjects } from '../../transport/subjects.js';
import type { Clock } from '../../runtime/clock.js';
import { groupLayout, type SchemaCache } from '../../runtime/schema_cache.js';
import { writeGenerations } from '../../transport/layout_types.js';
import type { WriteToken } from '../../transport/write_token.js';
import type { SchemaGate } from './gates.js';
import { timed } from './request_timing.js';
import { validateMeasureWrite, validateStreamWrite } from './write_validation.js';
import { appendBatch, type Ack, type Batch } from './wal_append.js';
import { validateMeasureColumns } from './write_columns.js';
import { seriesOfKeys, type RowSeries } from '../../storage/routing.js';
import { serveLineWrites } from './line_write_service.js';

/** Dependencies of the write service. */
export interface WriteServiceDeps {
  bus: Bus;
  subjects: Subjects;
  cache: SchemaCache;
  gate: SchemaGate;
  clock: Clock;
  /** The gate wait budget (ms). */
  schemaWaitMs: number;
  metrics: Registry;
}

const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The write token of a batch's appends (transport/write_token.ts). */
function tokenOf(
  group: string,
  current: number,
  generations: number,
  acks: readonly { generation: number; shard: number; seq: number }[],
): WriteToken {
  const by = new Map<number, Record<string, number>>();
  for (const a of acks) by.set(a.generation, { ...by.get(a.generation), [String(a.shard)]: a.seq });
  const token: WriteToken = { group, shards: by.get(current) ?? {} };
  if (current !== 1) token.generation = current;
  if (generations > 1) token.generations = Object.fromEntries([...by].map(([g, s]) => [String(g), s]));
  return token;
}

/** Serves `P.api.write.measure` and `P.api.write.stream`. */
export function serveWrites(deps: WriteServiceDeps): Subscription[] {
  const duration = new Histogram({
    name: 'lockstep_write_duration_seconds',
    help: 'Write requests from receipt to reply (after the WAL acknowledged)',
    labelNames: ['kind', 'result'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [deps.metrics],
  });
  const written = new Counter({
    name: 'lockstep_points_written_total',
    help: 'Points and elements acknowledged by the WAL',
    labelNames: ['kind', 'group'],
    registers: [deps.metrics],
  });
  return [
    ...(['measure', 'stream'] as const).map((kind) =>
      serve(
        deps.bus,
        deps.subjects.api.write(kind),
        timed(duration, deps.clock, kind, async (req: RpcRequest) => {
          const reply = await write(deps, kind, req);
          if (!reply.duplicate) written.inc({ kind, group: reply.write_token.group }, reply.points);
          return reply;
        }),
        { queue: LIAISON_QUEUE, spanName: `write.${kind}` },
      ),
    ),
    serveLineWrites(deps, written),
  ];
}

/** A batch validated against its resource and layout, ready to append. */
interface Prepared {
  kind: 'measure' | 'stream';
  group: string;
  name: string;
  body: Record<string, unknown>;
  stored: { resource: unknown; mod_revision: number };
  gl: NonNullable<ReturnType<typeof groupLayout>>;
  rows: Batch['rows'];
  /** Points in the batch. */
  count: number;
  series: RowSeries;
}

async function write(deps: WriteServiceDeps, kind: 'measure' | 'stream', req: RpcRequest): Promise<WriteReply> {
  return commit(deps, await prepare(deps, kind, req.body));
}

/** The gates and the validation of one batch: nothing is appended. */
export async function prepare(deps: WriteServiceDeps, kind: 'measure' | 'stream', raw: unknown): Promise<Prepared> {
  const body = raw as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw errors.invalidArgument('the write body must be an object');
  const group = checkName(body.group, 'group');
  const name = checkName(body.name, kind);
  const rev = body.schema_revision;
  if (rev !== undefined && !(Number.isSafeInteger(rev) && (rev as number) >= 0)) {
    throw errors.invalidArgument('schema_revision must be a non-negative integer');
  }
  if (body.batch_id !== undefined && !(typeof body.batch_id === 'string' && BATCH_ID.test(body.batch_id))) {
    throw errors.invalidArgument('batch_id must be 1–64 of A-Z, a-z, 0-9, _ and -');
  }
  const deadline = deps.clock.monotonic() + deps.schemaWaitMs;
  const stored = await deps.gate.check('write', { kind, group, name }, rev as number | undefined, deadline);
  const gl = groupLayout(deps.cache, group);
  if (!gl) throw errors.notFound(`group ${group} does not exist`);
  const grp = gl.group;
  const now = deps.clock.now();
  // The envelope's own keys are checked above; the validator sees the batch.
  const { batch_id: _batchId, ...batch } = body;
  const { rows, series } = validate(kind, grp, stored.resource, batch, now);
  return { kind, group, name, body, stored, gl, rows, count: series.of.length, series };
}

function validate(
  kind: 'measure' | 'stream',
  group: Group,
  resource: unknown,
  batch: Record<string, unknown>,
  now: number,
): { rows: Batch['rows']; series: RowSeries } {
  if (kind === 'stream') {
    const { elements, entityKeys } = validateStreamWrite(group, resource as Stream, batch, now);
    return { rows: elements, series: seriesOfKeys(entityKeys) };
  }
  if (batch.columns === undefined) {
    const { points, entityKeys } = validateMeasureWrite(group, resource as Measure, batch, now);
    return { rows: points, series: seriesOfKeys(entityKeys) };
  }
  if (batch.points !== undefined)
    throw errors.invalidArgument('body: give points or columns, not both', { field: 'body.columns' });
  const { cols, series } = validateMeasureColumns(group, resource as Measure, batch, now);
  return { rows: cols, series };
}

/** Appends a prepared batch to the WAL; the reply once every append was acknowledged. */
export async function commit(deps: WriteServiceDeps, p: Prepared): Promise<WriteReply> {
  const { kind, group, name, body, stored, gl, rows, series } = p;
  const batchId = (body.batch_id as string | undefined) ?? randomUUID();
  // Every generation the layout writes gets the batch (current, and during a migration next or
  // retiring), routed by its own shard count; the reply waits for all of them.
  const generations = writeGenerations(gl.layout);
  let acks: Ack[];
  try {
    acks = await appendBatch(
      deps.bus,
      deps.subjects,
      {
        kind,
        group,
        name,
        resource: stored.resource as Measure | Stream,
        revision: stored.mod_revision,
        batchId,
        rows,
        series,
      },
      generations,
    );
  } catch (err) {
    // Some shards may be stored: the client retries with this batch_id to complete it exactly once.
    const le = toLockstepError(err);
    throw new LockstepError(le.code, `${le.message} (retry with batch_id ${batchId})`, {
      details: { ...le.details, batch_id: batchId },
    });
  }
  return {
    points: p.count,
    batch_id: batchId,
    schema_revision: stored.mod_revision,
    write_token: tokenOf(group, gl.layout.current.generation, generations.length, acks),
    // Only the current generation's appends say whether the batch was stored before: a dual write
    // may add a generation the first attempt did not reach.
    duplicate: acks.filter((a) => a.generation === gl.layout.current.generation).every((a) => a.duplicate),
  };
}
