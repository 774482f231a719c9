/**
 * Node configuration: user-facing options (flags and env, read only by the composition root)
 * merged with named defaults and validated into numbers with units in their names.
 */
import { errors } from '../transport/errors.js';
import type { NatsAuth } from '../transport/nats_auth.js';
import { DEFAULT_QUERY_BUDGET_ROWS, MAX_STREAM_REPLICAS, MIN_QUERY_BUDGET_ROWS } from '../transport/limits.js';
import { isValidName } from '../transport/schema_types.js';
import { DEFAULT_PREFIX, isValidNodeName } from '../transport/subjects.js';
import type { FaultSpec } from './actor.js';
import { DEFAULT_LEASE_TIMEOUT_MS } from './migration/claims.js';
import { ROLES, type Role } from './roles.js';
import { MAX_NICE } from './thread_priority.js';

/** Data shard threads' default nice value (NodeConfig.dataNice). */
export const DEFAULT_DATA_NICE = 10;

/** The validated configuration of one node; plain data, so it can cross into worker threads. */
export interface NodeConfig {
  name: string;
  roles: Role[];
  natsUrl: string;
  /** NATS user, password and inbox prefix (deploy/nats.conf: one user per role); never logged. */
  natsAuth: NatsAuth;
  subjectPrefix: string;
  dataDir: string;
  /** Prometheus port; 0 = an ephemeral port; -1 = no endpoint. */
  metricsPort: number;
  metricsHost: string;
  heartbeatIntervalMs: number;
  evictableAfterMs: number;
  goneAfterMs: number;
  /** How long schema init retries transient failures before the node gives up. */
  schemaInitDeadlineMs: number;
  /** Gate wait budget (DESIGN §6). */
  schemaWaitMs: number;
  /** The barrier's fallback re-probe interval when no change notification arrives. */
  barrierFallbackPollMs: number;
  /** How long a layout generation replaced by a migration's cutover is still written before it is dropped. */
  retiringGraceMs: number;
  /** Claimers: a lease not renewed for this long may be taken over (heartbeats every sixth of it). */
  leaseTimeoutMs: number;
  /**
   * Data nodes: how long the WAL keeps a shard's records after every owner of the shard flushed
   * them (the safety window; storage/README: bounded WAL).
   */
  walKeepFlushedMs: number;
  /** Data nodes: between WAL trim passes; 0 = the WAL is never trimmed (kept for the stream's max age). */
  walTrimIntervalMs: number;
  /** Data nodes: rows one query holds in memory at once on a shard (storage/query/shard_run.ts). */
  queryBudgetRows: number;
  /**
   * Data nodes: the nice value (0–19) of data shard threads and the pools they start (and, in a
   * node process without the liaison role, of its helper threads: runtime/node.ts), so that under
   * CPU pressure their work yields to write acknowledgements and the API; 0 = unchanged.
   */
  dataNice: number;
  /** Replicas of the WAL stream and the KV buckets; undefined = 3 with at least three NATS servers, else 1. */
  streamReplicas?: number;
  /** Actor restarts allowed within `restartWindowMs` before the node gives up. */
  maxRestarts: number;
  restartWindowMs: number;
  restartBackoffBaseMs: number;
  restartBackoffMaxMs: number;
  logLevel: string;
  faultInjection: boolean;
  faults: FaultSpec[];
  /** With fault injection: SIGKILL the node right after its N-th part commit (0 = never). */
  faultKillAtPartCommit: number;
  /** Run actors on worker threads (false = in-process, for unit tests). */
  threads: boolean;
}

/** Defaults (LAN timings). */
export const DEFAULT_NODE_CONFIG: Omit<NodeConfig, 'name' | 'roles'> = {
  natsUrl: 'nats://127.0.0.1:4222',
  natsAuth: {},
  subjectPrefix: DEFAULT_PREFIX,
  dataDir: './.lockstep/data',
  metricsPort: 0,
  metricsHost: '127.0.0.1',
  heartbeatIntervalMs: 1000,
  evictableAfterMs: 3000,
  goneAfterMs: 10_000,
  schemaInitDeadlineMs: 60_000,
  schemaWaitMs: 3000,
  barrierFallbackPollMs: 1000,
  retiringGraceMs: 10 * 60_000,
  leaseTimeoutMs: DEFAULT_LEASE_TIMEOUT_MS,
  walKeepFlushedMs: 10 * 60_000,
  walTrimIntervalMs: 30_000,
  queryBudgetRows: DEFAULT_QUERY_BUDGET_ROWS,
  dataNice: DEFAULT_DATA_NICE,
  maxRestarts: 5,
  restartWindowMs: 60_000,
  restartBackoffBaseMs: 100,
  restartBackoffMaxMs: 5000,
  logLevel: 'info',
  faultInjection: false,
  faults: [],
  faultKillAtPartCommit: 0,
  threads: true,
};

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw errors.invalidArgument(`${what} must be positive (got ${n})`);
  return n;
}

/** Merges options with the defaults and validates them; throws `InvalidArgument` naming the option. */
export function resolveNodeConfig(
  opts: Partial<Omit<NodeConfig, 'name' | 'roles'>> & { name?: string; roles?: string[] },
): NodeConfig {
  if (!isValidNodeName(opts.name)) {
    throw errors.invalidArgument(
      `node name ${JSON.stringify(opts.name ?? '')} is invalid: use 1–63 of a-z, 0-9, _ and - (it becomes a subject token)`,
    );
  }
  const roles = opts.roles ?? [];
  if (roles.length === 0) throw errors.invalidArgument(`--role is required (one or more of ${ROLES.join(', ')})`);
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) {
      throw errors.invalidArgument(`unknown role ${JSON.stringify(r)} (roles: ${ROLES.join(', ')})`);
    }
  }
  const cfg: NodeConfig = { ...DEFAULT_NODE_CONFIG, ...stripUndefined(opts), name: opts.name, roles: roles as Role[] };
  if (!isValidName(cfg.subjectPrefix))
    throw errors.invalidArgument(`subject prefix ${JSON.stringify(cfg.subjectPrefix)} is invalid`);
  positive(cfg.heartbeatIntervalMs, 'heartbeat interval');
  positive(cfg.evictableAfterMs, 'evictable-after');
  positive(cfg.goneAfterMs, 'gone-after');
  if (cfg.evictableAfterMs <= cfg.heartbeatIntervalMs) {
    throw errors.invalidArgument('evictable-after must be longer than the heartbeat interval');
  }
  if (cfg.goneAfterMs < cfg.evictableAfterMs)
    throw errors.invalidArgument('gone-after must not be shorter than evictable-after');
  positive(cfg.schemaInitDeadlineMs, 'schema init deadline');
  if (!(cfg.schemaWaitMs >= 0)) throw errors.invalidArgument('schema wait must not be negative');
  positive(cfg.barrierFallbackPollMs, 'barrier fallback poll');
  if (!(cfg.retiringGraceMs >= 0)) throw errors.invalidArgument('retiring grace must not be negative');
  if (!(cfg.leaseTimeoutMs >= 600)) throw errors.invalidArgument('lease timeout must be at least 600ms');
  if (!(cfg.walKeepFlushedMs >= 0)) throw errors.invalidArgument('wal-keep-flushed must not be negative');
  if (
    cfg.streamReplicas !== undefined &&
    !(Number.isInteger(cfg.streamReplicas) && cfg.streamReplicas >= 1 && cfg.streamReplicas <= MAX_STREAM_REPLICAS)
  )
    throw errors.invalidArgument(
      `stream replicas must be an integer from 1 to ${MAX_STREAM_REPLICAS} (got ${cfg.streamReplicas})`,
    );
  if (!(cfg.walTrimIntervalMs === 0 || cfg.walTrimIntervalMs >= 100))
    throw errors.invalidArgument('wal-trim-interval must be 0 (off) or at least 100ms');
  if (!(Number.isSafeInteger(cfg.queryBudgetRows) && cfg.queryBudgetRows >= MIN_QUERY_BUDGET_ROWS))
    throw errors.invalidArgument(
      `query budget rows must be an integer of at least ${MIN_QUERY_BUDGET_ROWS} (got ${cfg.queryBudgetRows})`,
    );
  if (!(Number.isInteger(cfg.dataNice) && cfg.dataNice >= 0 && cfg.dataNice <= MAX_NICE))
    throw errors.invalidArgument(`data nice must be an integer from 0 to ${MAX_NICE} (got ${cfg.dataNice})`);
  if (!Number.isInteger(cfg.metricsPort) || cfg.metricsPort < -1 || cfg.metricsPort > 65535) {
    throw errors.invalidArgument(`metrics port ${cfg.metricsPort} is invalid (0 = ephemeral, -1 = off)`);
  }
  return cfg;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
