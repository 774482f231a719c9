/** Entry of an actor's worker thread: exposes the actor's runner to the supervisor over comlink. */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ActorRunner } from './actor_runner.js';
import { createLogger } from './log.js';
import { startTelemetry } from './telemetry.js';
import { lowerThreadPriority } from './thread_priority.js';
import type { SupervisorApi, WorkerInit } from './thread_protocol.js';

const { init, supervisorPort } = workerData as { init: WorkerInit; supervisorPort: MessagePort };
// Before the actor starts its pools, which inherit this thread's priority (thread_priority.ts).
if (init.kind === 'data_shard' && init.config.dataNice > 0) {
  const why = lowerThreadPriority(init.config.dataNice);
  const log = createLogger({ node: init.config.name, actor: init.id, level: init.config.logLevel });
  if (why === null) log.debug({ nice: init.config.dataNice }, 'data shard threads run at a lower CPU priority');
  else log.warn({ nice: init.config.dataNice, reason: why }, 'data shard threads keep the normal CPU priority');
}
const supervisor = Comlink.wrap<SupervisorApi>(nodeEndpoint(supervisorPort as never));
// Tracing is up before the runner is exposed, so the actor's first spans are not lost; the
// supervisor's calls wait in the port until then.
const telemetry = await startTelemetry({ otlpEndpoint: init.otlpEndpoint, node: init.config.name, actor: init.id });

const runner = new ActorRunner(init, supervisor as unknown as SupervisorApi, {
  telemetry,
  // A crash fault kills the thread the way a bug would: an uncaught exception.
  crash: () =>
    setImmediate(() => {
      throw new Error(`injected crash of actor ${init.id}`);
    }),
});
Comlink.expose(runner, nodeEndpoint(parentPort as never));
