/**
 * `lockstep node`: runs one node. The only place (with `cluster up`) that reads `process.env` for
 * node settings. Exits 0 after SIGINT/SIGTERM, non-zero on a permanent failure with its cause.
 */
import { Command, Option } from 'commander';
import type { FaultSpec } from '../actor.js';
import { parseDuration } from '../../transport/duration.js';
import { resolveNodeConfig, type NodeConfig } from '../config.js';
import { runNode } from '../node.js';
import type { NatsAuth } from '../../transport/nats_auth.js';
import { globalOptions } from './global_options.js';

interface NodeFlags {
  name?: string;
  role?: string;
  dataDir?: string;
  metricsPort?: string;
  metricsHost?: string;
  heartbeatInterval?: string;
  evictableAfter?: string;
  goneAfter?: string;
  schemaInitDeadline?: string;
  schemaWait?: string;
  retiringGrace?: string;
  leaseTimeout?: string;
  walKeepFlushed?: string;
  walTrimInterval?: string;
  queryBudgetRows?: string;
  dataNice?: string;
  streamReplicas?: string;
  barrierFallbackPoll?: string;
  subjectPrefix?: string;
  logLevel?: string;
  enableFaultInjection?: boolean;
  fault?: string[];
  inProcess?: boolean;
}

const env = process.env;

/** The environment variable of the flush crash point (actors/data_shard/fault_fs.ts); needs fault injection. */
export const KILL_AT_PART_COMMIT_ENV = 'LOCKSTEP_FAULT_KILL_AT_PART_COMMIT';

function ms(v: string | undefined, envName: string, what: string): number | undefined {
  const raw = v ?? env[envName];
  return raw === undefined ? undefined : parseDuration(raw, what);
}

/** A count flag as a number (checked by resolveNodeConfig); undefined = the default. */
function count(raw: string | undefined): number | undefined {
  return raw === undefined || raw === '' ? undefined : Number(raw.replaceAll('_', ''));
}

/** `--stream-replicas` as a number (checked by resolveNodeConfig); undefined = the default. */
function replicas(raw: string | undefined): number | undefined {
  return raw === undefined || raw === '' ? undefined : Number(raw);
}

/** Builds the node config from flags and env (flags win). */
export function nodeConfigFromFlags(flags: NodeFlags, natsUrl: string, natsAuth: NatsAuth = {}): NodeConfig {
  const faultsRaw = [...(flags.fault ?? []), ...(env.LOCKSTEP_FAULTS ? [env.LOCKSTEP_FAULTS] : [])];
  const faults: FaultSpec[] = faultsRaw.flatMap((s) => {
    const v = JSON.parse(s) as FaultSpec | FaultSpec[];
    return Array.isArray(v) ? v : [v];
  });
  const metricsPort = flags.metricsPort ?? env.LOCKSTEP_METRICS_PORT;
  return resolveNodeConfig({
    name: flags.name ?? env.LOCKSTEP_NODE_NAME,
    roles: (flags.role ?? env.LOCKSTEP_ROLE ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    natsUrl,
    natsAuth,
    dataDir: flags.dataDir ?? env.LOCKSTEP_DATA_DIR,
    metricsPort: metricsPort === undefined ? undefined : Number(metricsPort),
    metricsHost: flags.metricsHost ?? env.LOCKSTEP_METRICS_HOST,
    heartbeatIntervalMs: ms(flags.heartbeatInterval, 'LOCKSTEP_HEARTBEAT_INTERVAL', 'heartbeat interval'),
    evictableAfterMs: ms(flags.evictableAfter, 'LOCKSTEP_EVICTABLE_AFTER', 'evictable-after'),
    goneAfterMs: ms(flags.goneAfter, 'LOCKSTEP_GONE_AFTER', 'gone-after'),
    schemaInitDeadlineMs: ms(flags.schemaInitDeadline, 'LOCKSTEP_SCHEMA_INIT_DEADLINE', 'schema init deadline'),
    schemaWaitMs: ms(flags.schemaWait, 'LOCKSTEP_SCHEMA_WAIT', 'schema wait'),
    retiringGraceMs: ms(flags.retiringGrace, 'LOCKSTEP_RETIRING_GRACE', 'retiring grace'),
    leaseTimeoutMs: ms(flags.leaseTimeout, 'LOCKSTEP_LEASE_TIMEOUT', 'lease timeout'),
    walKeepFlushedMs: ms(flags.walKeepFlushed, 'LOCKSTEP_WAL_KEEP_FLUSHED', 'wal-keep-flushed'),
    walTrimIntervalMs: ms(flags.walTrimInterval, 'LOCKSTEP_WAL_TRIM_INTERVAL', 'wal-trim-interval'),
    queryBudgetRows: count(flags.queryBudgetRows ?? env.LOCKSTEP_QUERY_BUDGET_ROWS),
    dataNice: count(flags.dataNice ?? env.LOCKSTEP_DATA_NICE),
    streamReplicas: replicas(flags.streamReplicas ?? env.LOCKSTEP_STREAM_REPLICAS),
    barrierFallbackPollMs: ms(flags.barrierFallbackPoll, 'LOCKSTEP_BARRIER_FALLBACK_POLL', 'barrier fallback poll'),
    subjectPrefix: flags.subjectPrefix ?? env.LOCKSTEP_SUBJECT_PREFIX,
    logLevel: flags.logLevel ?? env.LOCKSTEP_LOG_LEVEL,
    faultInjection: flags.enableFaultInjection || env.LOCKSTEP_FAULT_INJECTION === '1' || undefined,
    faults: faults.length ? faults : undefined,
    faultKillAtPartCommit:
      env[KILL_AT_PART_COMMIT_ENV] === undefined ? undefined : Number(env[KILL_AT_PART_COMMIT_ENV]),
    threads: flags.inProcess ? false : undefined,
  });
}

/** The `node` command (admin subcommands are attached by the caller). */
export function nodeCommand(): Command {
  const collect = (v: string, prev: string[] = []) => [...prev, v];
  return new Command('node')
    .description('run one node (or, with a subcommand, administer a running node)')
    .option('--name <name>', 'node name, unique in the cluster (env LOCKSTEP_NODE_NAME)')
    .option('--role <roles>', 'liaison|data|claimer|standalone, comma-separated (env LOCKSTEP_ROLE)')
    .option('--data-dir <dir>', 'data directory for segment files, used by the data path (env LOCKSTEP_DATA_DIR)')
    .option('--metrics-port <port>', 'Prometheus /metrics port; 0 = ephemeral, -1 = off (default 0)')
    .option('--metrics-host <host>', 'address /metrics listens on (default 127.0.0.1)')
    .option('--heartbeat-interval <duration>', 'membership heartbeat interval (default 1s)')
    .option('--evictable-after <duration>', 'silence after which a member is Evictable (default 3s)')
    .option('--gone-after <duration>', 'silence after which a member is gone (default 10s)')
    .option('--schema-init-deadline <duration>', 'how long start-up retries transient failures (default 60s)')
    .option(
      '--schema-wait <duration>',
      'how long a write waits for this node to apply the schema it needs (default 3s)',
    )
    .option('--barrier-fallback-poll <duration>', 'barrier re-probe interval without notifications (default 1s)')
    .option(
      '--retiring-grace <duration>',
      'claimers: how long a layout replaced by a migration is still written before it is dropped (default 10m)',
    )
    .option(
      '--lease-timeout <duration>',
      'claimers: silence after which a migration lease may be taken over by another claimer (default 30s)',
    )
    .option(
      '--wal-keep-flushed <duration>',
      "data nodes: how long the WAL keeps a shard's records once every owner flushed them (default 10m)",
    )
    .option(
      '--wal-trim-interval <duration>',
      'data nodes: between passes that trim flushed records from the WAL; 0 = never trim (default 30s)',
    )
    .option(
      '--query-budget-rows <n>',
      'data nodes: rows one query holds in memory at once on a shard; a longer range is read in time ' +
        'windows of about that many rows (default 2000000, env LOCKSTEP_QUERY_BUDGET_ROWS)',
    )
    .option(
      '--data-nice <n>',
      'data nodes: nice value 0–19 of the data shard threads and their pools (and, without the ' +
        "liaison role, of the process's garbage collection and I/O helper threads), so that under CPU " +
        'pressure they yield to write acknowledgements and the API; 0 = no change; Linux only ' +
        '(default 10, env LOCKSTEP_DATA_NICE)',
    )
    .option(
      '--stream-replicas <n>',
      'replicas of the WAL stream and the KV buckets, 1–5; an existing stream is scaled to it ' +
        '(default 3 when the node knows at least three NATS servers, else 1)',
    )
    .option('--subject-prefix <prefix>', 'NATS subject prefix (default lockstep)')
    .option('--log-level <level>', 'trace|debug|info|warn|error (default info)')
    .option('--enable-fault-injection', 'accept inject_fault/clear_fault control requests (tests and drills only)')
    .addOption(
      new Option(
        '--fault <json>',
        'arm a fault at start: {"actor","phase","kind","times"} (needs --enable-fault-injection)',
      ).argParser(collect),
    )
    .addOption(new Option('--in-process', 'run actors on the main thread (debugging)').hideHelp())
    .action(async (flags: NodeFlags, cmd: Command) => {
      let config: NodeConfig;
      try {
        const { natsUrl, natsAuth } = globalOptions(cmd);
        config = nodeConfigFromFlags(flags, natsUrl, natsAuth);
      } catch (err) {
        process.stderr.write(`lockstep node: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      let handle;
      try {
        handle = await runNode(config, {
          otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
          ownsProcess: true,
        });
      } catch (err) {
        process.stderr.write(`lockstep node ${config.name}: cannot start: ${(err as Error).message}\n`);
        process.exit(1);
      }
      const onSignal = () => void handle.stop();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const code = await handle.done;
      const fatal = (handle as { fatal?: string }).fatal;
      if (code !== 0 && fatal) process.stderr.write(`lockstep node ${config.name}: stopped: ${fatal}\n`);
      process.exit(code);
    });
}
