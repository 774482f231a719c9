/**
 * The schema gates of writes and queries (DESIGN §6), on the node's applied schema view:
 * - resource unknown here → wait (within the budget), then `NotFound`;
 * - client revision < the resource's mod_revision → `ExpiredSchema` (the client must refresh);
 * - client revision > what this node applied → wait within the budget, then `SchemaNotApplied`;
 * - no revision → what is applied.
 * One budget (a deadline) is shared by every check of one request.
 */
import { Counter, type Registry } from 'prom-client';
import { Code, LockstepError } from '../../transport/errors.js';
import { formatKey, type SchemaKey, type StoredResource } from '../../transport/schema_types.js';
import type { Clock } from '../../runtime/clock.js';
import type { SchemaCache } from '../../runtime/schema_cache.js';

/** The request kinds gates count by. */
export type GateRpc = 'write' | 'query';

/** Gate counters (names from the issue). */
export class GateMetrics {
  readonly notApplied: Counter<'rpc' | 'group' | 'reason'>;
  readonly expired: Counter<'rpc' | 'group'>;
  constructor(registry: Registry) {
    this.notApplied = new Counter({
      name: 'schema_status_schema_not_applied_total',
      help: 'Requests refused because the schema they need is not applied here (reason: not_found | revision_ahead)',
      labelNames: ['rpc', 'group', 'reason'],
      registers: [registry],
    });
    this.expired = new Counter({
      name: 'schema_status_expired_schema_total',
      help: 'Requests refused because they carry a schema revision older than the resource',
      labelNames: ['rpc', 'group'],
      registers: [registry],
    });
  }
}

/** Checks requests against the applied schema. */
export class SchemaGate {
  constructor(
    private readonly cache: SchemaCache,
    private readonly clock: Clock,
    private readonly metrics: GateMetrics,
  ) {}

  /**
   * The resource a request needs, once the gate lets it pass; waits at most until `deadlineMs`
   * (monotonic) for the schema to catch up.
   */
  async check(
    rpc: GateRpc,
    key: SchemaKey,
    clientRevision: number | undefined,
    deadlineMs: number,
  ): Promise<StoredResource> {
    for (;;) {
      const stored = this.cache.get(key);
      const applied = this.cache.appliedRevision;
      if (stored && clientRevision !== undefined && clientRevision < stored.mod_revision) {
        this.metrics.expired.inc({ rpc, group: key.group });
        throw new LockstepError(
          Code.ExpiredSchema,
          `${formatKey(key)} is at revision ${stored.mod_revision}; the request carries ${clientRevision}: refresh the schema and retry`,
          { details: { key: formatKey(key), mod_revision: stored.mod_revision, schema_revision: clientRevision } },
        );
      }
      const ahead = clientRevision !== undefined && clientRevision > applied;
      if (stored && !ahead) return stored;
      // Unknown at a revision this node has already applied: it does not exist; no wait helps.
      const absentAtRevision = !stored && clientRevision !== undefined && !ahead;
      const left = deadlineMs - this.clock.monotonic();
      if (left <= 0 || absentAtRevision) {
        const reason = ahead ? 'revision_ahead' : 'not_found';
        this.metrics.notApplied.inc({ rpc, group: key.group, reason });
        if (!ahead)
          throw new LockstepError(
            Code.NotFound,
            `${formatKey(key)} does not exist (schema applied here: revision ${applied})`,
          );
        throw new LockstepError(
          Code.SchemaNotApplied,
          `${formatKey(key)} needs schema revision ${clientRevision}; this node applied ${applied} and did not catch up in time`,
          { details: { key: formatKey(key), applied_revision: applied, schema_revision: clientRevision } },
        );
      }
      await this.cache.waitForChange(left, this.clock);
    }
  }
}
