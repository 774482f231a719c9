/**
 * The composition root of a node: one place that turns a role list into actors. Every node runs a
 * schema watcher; a liaison adds the API and the barrier; a data node its shard manager; a claimer
 * its cutover claimer. Its main thread is the supervisor: heartbeats, control, /metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { readiness } from './readiness.js';
import { NatsBus } from '../transport/nats_bus.js';
import { subjectsFor } from '../transport/subjects.js';
import type { ActorKind } from './actor.js';
import { retryWaitMs, systemClock, type Clock } from './clock.js';
import type { NodeConfig } from './config.js';
import { serveControl } from './control_service.js';
import { HeartbeatPublisher } from './heartbeat.js';
import { isPermanent } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { startMetricsServer, type MetricsServer } from './metrics_server.js';
import { effectiveRoles } from './roles.js';
import { Supervisor, WATCHER_ID } from './supervisor.js';
import { lowerHelperThreads } from './thread_priority.js';

/** A running node. */
export interface NodeHandle {
  config: NodeConfig;
  metricsPort?: number;
  /** Resolves with the exit code: 0 after `stop()`, 1 after a permanent failure. */
  done: Promise<number>;
  /** Graceful stop: announce leaving, stop actors, close the connection. */
  stop(): Promise<void>;
  /** The cause of a permanent failure, once one happened. */
  readonly fatal?: string;
}

/** The actors of a role list, the watcher last (its init reaches the others). */
export function actorKindsFor(config: NodeConfig): ActorKind[] {
  const roles = effectiveRoles(config.roles);
  const kinds: ActorKind[] = [];
  if (roles.has('liaison')) kinds.push('api', 'barrier');
  if (roles.has('data')) kinds.push('data_shard');
  if (roles.has('claimer')) kinds.push('cutover_claimer');
  kinds.push(WATCHER_ID);
  return kinds;
}

/**
 * On a node without the liaison role, every thread of the process is data work: V8's garbage
 * collection helpers and the I/O pool, which the data shard threads share, run at `dataNice` too
 * (before any actor starts, so the actors' threads keep the normal priority they inherit, and a
 * data shard thread lowers its own). With a liaison in the process they stay: its API thread's
 * collections use them.
 */
function lowerDataNodeHelpers(config: NodeConfig, log: Logger): void {
  const roles = effectiveRoles(config.roles);
  if (config.dataNice === 0 || !roles.has('data') || roles.has('liaison')) return;
  const why = lowerHelperThreads(config.dataNice);
  if (why === null) log.debug({ nice: config.dataNice }, "the process's helper threads run at a lower CPU priority");
  else log.warn({ nice: config.dataNice, reason: why }, "the process's helper threads keep the normal CPU priority");
}

/** Connects to NATS, retrying until the init deadline (a server not up yet is transient). */
async function connectWithRetry(config: NodeConfig, clock: Clock, log: Logger): Promise<NatsBus> {
  const deadline = clock.monotonic() + config.schemaInitDeadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await NatsBus.connect({
        url: config.natsUrl,
        auth: config.natsAuth,
        streamReplicas: config.streamReplicas,
        name: `${config.name}/supervisor`,
      });
    } catch (err) {
      if (isPermanent(err)) throw err;
      const wait = retryWaitMs(attempt, clock.monotonic(), deadline, 200, 2000);
      if (wait === null) {
        throw new Error(
          `${(err as Error).message} (gave up after ${config.schemaInitDeadlineMs} ms, ${attempt + 1} attempts)`,
          { cause: err },
        );
      }
      log.warn({ attempt, retry_in_ms: wait, cause: (err as Error).message }, 'NATS not reachable yet; retrying');
      await clock.sleep(wait);
    }
  }
}

/** Starts a node. Rejects (with a message naming the cause) when it cannot start. */
export async function runNode(
  config: NodeConfig,
  opts: {
    otlpEndpoint?: string;
    clock?: Clock;
    /** The node is the whole process (`lockstep node`): it may set the priority of the process's threads. */
    ownsProcess?: boolean;
  } = {},
): Promise<NodeHandle> {
  const clock = opts.clock ?? systemClock;
  const log = createLogger({ node: config.name, level: config.logLevel });
  if (opts.ownsProcess) lowerDataNodeHelpers(config, log);
  const subjects = subjectsFor(config.subjectPrefix);
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let finished = false;
  let fatalMessage: string | undefined;

  const bus = await connectWithRetry(config, clock, log);
  const mainMetrics = new Registry();
  // Standard names (process_*, nodejs_*), so stock dashboards work.
  collectDefaultMetrics({ register: mainMetrics });
  watchNats(bus, mainMetrics, log);
  const isReady = async () => readiness({ natsConnected: bus.connected, actors: await supervisor.actors() });
  new Gauge({
    name: 'lockstep_node_ready',
    help: '1 when the node is ready (what /readyz answers 200 to), else 0',
    registers: [mainMetrics],
    async collect() {
      this.set((await isReady()).ready ? 1 : 0);
    },
  });

  let heartbeat: HeartbeatPublisher | undefined;
  let metrics: MetricsServer | undefined;
  let control: { unsubscribe(): void } | undefined;

  const shutdown = async (code: number) => {
    if (finished) return;
    finished = true;
    if (code === 0) await heartbeat?.leave().catch(() => undefined);
    else heartbeat?.stop();
    control?.unsubscribe();
    await supervisor.stopAll();
    await metrics?.close().catch(() => undefined);
    await bus.close().catch(() => undefined);
    resolveDone(code);
  };

  const supervisor = new Supervisor({
    config,
    log,
    clock,
    otlpEndpoint: opts.otlpEndpoint,
    onFatal: (message) => {
      if (fatalMessage) return;
      fatalMessage = message;
      void shutdown(1);
    },
  });

  const kinds = actorKindsFor(config);
  // A permanent failure during start (an actor crash-looping, say) ends the start at once.
  await Promise.race([supervisor.startAll(kinds), done]);
  if (fatalMessage) {
    await done;
    throw new Error(fatalMessage);
  }

  if (config.metricsPort >= 0) {
    metrics = await startMetricsServer(
      config.metricsHost,
      config.metricsPort,
      () => [() => mainMetrics.getMetricsAsJSON(), ...supervisor.metricsSources()],
      isReady,
    );
  }
  const startedAt = clock.now();
  heartbeat = new HeartbeatPublisher(bus, subjects, clock, config.heartbeatIntervalMs, () => ({
    name: config.name,
    roles: config.roles,
    state: 'active',
    schema_cache: true,
    pid: process.pid,
    started_at: startedAt,
    ...(metrics ? { metrics_port: metrics.port } : {}),
  }));
  heartbeat.start();
  // Control answers only once the first heartbeat is out: "answers control" then means "is a member".
  control = serveControl(bus, subjects, config, supervisor, { metricsPort: metrics?.port });
  await bus.flush();
  log.info({ roles: config.roles, actors: kinds, metrics_port: metrics?.port ?? null }, 'node started');

  return {
    config,
    metricsPort: metrics?.port,
    done: done.then((code) => {
      if (code !== 0 && fatalMessage) log.error({ cause: fatalMessage }, 'node stopped on a permanent failure');
      return code;
    }),
    stop: () => shutdown(0),
    get fatal() {
      return fatalMessage;
    },
  };
}

/**
 * Logs and counts the supervisor connection's disconnects and reconnects (every actor thread has
 * its own connection to the same servers, so this one stands for the node).
 */
function watchNats(bus: NatsBus, registry: Registry, log: Logger): void {
  const connected = new Gauge({
    name: 'lockstep_nats_connected',
    help: '1 while the node is connected to NATS, else 0',
    registers: [registry],
  });
  const reconnects = new Counter({
    name: 'lockstep_nats_reconnects_total',
    help: 'Reconnections to NATS after a lost connection',
    registers: [registry],
  });
  connected.set(1);
  bus.watchConnection((e) => {
    if (e.type === 'disconnect') {
      connected.set(0);
      log.warn({ server: e.server }, 'NATS connection lost; reconnecting');
    } else {
      connected.set(1);
      reconnects.inc();
      log.info({ server: e.server }, 'NATS connection back');
    }
  });
}
