/**
 * `P.api.write.line.<group>`: InfluxDB line protocol (transport/line_protocol.ts) into a group's
 * measures, one measure per line's measurement name. The lines of each measure become one batch
 * through the same gates, validation and WAL appends as `write.measure` (write_service.ts), and
 * every batch is validated before any is appended, so a bad line refuses the whole request and
 * stores nothing. Headers: `Precision` (ns, us, ms or s; default ns), `Batch-Id` (makes a retry
 * idempotent, as `batch_id` does). The reply, in JSON unless the request asked for msgpack:
 * `{points, write_token, duplicate, measures: [{name, points, batch_id, schema_revision, duplicate}]}`.
 */
import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { headerOf, type Subscription } from '../../transport/bus.js';
import { errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import {
  BATCH_ID_HEADER,
  checkPrecision,
  parseLineProtocol,
  PRECISION_HEADER,
  type LinePoint,
} from '../../transport/line_protocol.js';
import type { LineWriteReply } from '../../transport/api_types.js';
import { MAX_POINTS_PER_BATCH } from '../../transport/limits.js';
import { serve } from '../../transport/rpc.js';
import { checkName, isValidName, type Measure } from '../../transport/schema_types.js';
import { LIAISON_QUEUE, lastToken } from '../../transport/subjects.js';
import { mergeTokens } from '../../transport/write_token.js';
import { commit, prepare, type WriteServiceDeps } from './write_service.js';

const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A line's point as the write API takes it; int tags from their digits. */
function toWritePoint(p: LinePoint, intTags: ReadonlySet<string>, now: number): Record<string, unknown> {
  const tags: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p.tags)) tags[k] = intTags.has(k) && /^-?\d{1,16}$/.test(v) ? Number(v) : v;
  return { ts: p.ts ?? now, tags, fields: p.fields };
}

/** Serves line protocol writes into any group. */
export function serveLineWrites(deps: WriteServiceDeps, written: Counter): Subscription {
  return serve(
    deps.bus,
    deps.subjects.api.writeLineAll,
    async (req): Promise<LineWriteReply> => {
      const group = checkName(lastToken(req.subject), 'group');
      const precision = checkPrecision(headerOf(req.headers, PRECISION_HEADER));
      const given = headerOf(req.headers, BATCH_ID_HEADER);
      if (given !== undefined && !BATCH_ID.test(given))
        throw errors.invalidArgument(`${BATCH_ID_HEADER} must be 1–64 of A-Z, a-z, 0-9, _ and -`);
      let text: string;
      try {
        text = utf8.decode(req.body as Uint8Array);
      } catch {
        throw errors.invalidArgument('a line protocol body must be UTF-8 text');
      }
      const points = parseLineProtocol(text, precision);
      if (points.length === 0) throw errors.invalidArgument('no lines to write (blank lines and # comments only)');
      if (points.length > MAX_POINTS_PER_BATCH)
        throw errors.invalidArgument(`${points.length} lines in one request; at most ${MAX_POINTS_PER_BATCH}`);
      const byMeasure = new Map<string, LinePoint[]>();
      for (const p of points) {
        let l = byMeasure.get(p.measurement);
        if (!l) byMeasure.set(p.measurement, (l = []));
        l.push(p);
      }
      const names = [...byMeasure.keys()].sort();
      const base = given ?? randomUUID();
      const now = deps.clock.now();
      // Every measure is gated and validated before anything is appended.
      const prepared = [];
      for (const [k, name] of names.entries()) {
        const lines = byMeasure.get(name)!;
        if (!isValidName(name))
          throw errors.invalidArgument(`line ${lines[0]!.line}: measure ${JSON.stringify(name)} is not a valid name`);
        // An unknown measure has no tag types: the gate in `prepare` then says it does not exist.
        const m = deps.cache.get({ kind: 'measure', group, name })?.resource as Measure | undefined;
        const intTags = new Set(
          (m?.tag_families ?? []).flatMap((f) => f.tags.filter((t) => t.type === 'int').map((t) => t.name)),
        );
        const batchId = names.length === 1 ? base : `${base.slice(0, 56)}-${k}`;
        const body = { group, name, batch_id: batchId, points: lines.map((p) => toWritePoint(p, intTags, now)) };
        try {
          prepared.push(await prepare(deps, 'measure', body));
        } catch (err) {
          throw onLines(err, lines, name);
        }
      }
      const replies = [];
      for (const p of prepared) {
        const r = await commit(deps, p);
        if (!r.duplicate) written.inc({ kind: 'measure', group }, r.points);
        replies.push({ name: p.name, ...r });
      }
      return {
        points: replies.reduce((n, r) => n + r.points, 0),
        write_token: mergeTokens(
          group,
          replies.map((r) => r.write_token),
        ),
        duplicate: replies.every((r) => r.duplicate),
        measures: replies.map((r) => ({
          name: r.name,
          points: r.points,
          batch_id: r.batch_id,
          schema_revision: r.schema_revision,
          duplicate: r.duplicate,
        })),
      };
    },
    { queue: LIAISON_QUEUE, spanName: 'write.line', rawBody: true },
  );
}

/** A validation error of a measure's batch, its `points[i]` turned into the request's line number. */
function onLines(err: unknown, lines: LinePoint[], measure: string): LockstepError {
  const le = toLockstepError(err);
  const message = le.message.replace(/points\[(\d+)\]/g, (m, i: string) => {
    const line = lines[Number(i)]?.line;
    return line === undefined ? m : `line ${line}`;
  });
  return new LockstepError(le.code, message === le.message ? `${measure}: ${message}` : message, {
    details: le.details,
    cause: err,
  });
}
