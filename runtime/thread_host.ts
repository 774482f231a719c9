/**
 * The worker-thread host: one thread per actor, comlink for control. Every pending call is
 * rejected when the thread exits, so a dead actor never hangs its supervisor.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { errors } from '../transport/errors.js';
import { compiledEntry, withoutTsx } from './compiled_entry.js';
import type { ActorKind, FaultSpec, SchemaDelivery } from './actor.js';
import type { ActorHost, ExitInfo } from './actor_host.js';
import { toFailureInfo, type FailureInfo } from './errors.js';
import { failed } from './thread_envelope.js';
import type { ActorHealth, Result, RunnerApi, SupervisorApi, WorkerInit } from './thread_protocol.js';

const STOP_TIMEOUT_MS = 5000;

/** Starts a worker on the compiled actor entry (also when the supervisor runs from the sources). */
function spawnWorker(workerData: unknown, transferList: MessagePort[] | never[]): Worker {
  const entry = compiledEntry(new URL('./actor_worker.js', import.meta.url));
  return new Worker(entry, { workerData, transferList: transferList as never, execArgv: withoutTsx(process.execArgv) });
}

/** Hosts one actor on its own worker thread. */
export class ThreadActorHost implements ActorHost {
  readonly id: string;
  readonly kind: ActorKind;
  private worker?: Worker;
  private remote?: Comlink.Remote<RunnerApi>;
  private exited?: Promise<never>;
  private exitCb?: (info: ExitInfo) => void;
  private stopping = false;
  private closePort?: () => void;

  constructor(
    private readonly init: WorkerInit,
    private readonly supervisor: SupervisorApi,
  ) {
    this.id = init.id;
    this.kind = init.kind;
  }

  onExit(cb: (info: ExitInfo) => void): void {
    this.exitCb = cb;
  }

  async start(): Promise<Result<{ threadId: number; schemaKinds: string[] }>> {
    const channel = new MessageChannel();
    Comlink.expose(this.supervisor, nodeEndpoint(channel.port1 as never));
    this.closePort = () => channel.port1.close();
    const worker = spawnWorker({ init: this.init, supervisorPort: channel.port2 }, [channel.port2 as never]);
    this.worker = worker;
    let lastError: string | undefined;
    worker.on('error', (err) => (lastError = err.message));
    this.exited = new Promise<never>((_, reject) => {
      worker.once('exit', (code) => {
        const reason = lastError ?? `exit code ${code}`;
        reject(errors.unavailable(`actor ${this.id} thread exited (${reason})`));
        this.closePort?.();
        if (!this.stopping) this.exitCb?.({ code, error: lastError });
      });
    });
    this.exited.catch(() => undefined);
    this.remote = Comlink.wrap<RunnerApi>(nodeEndpoint(worker as never));
    try {
      return await this.guard<Result<{ threadId: number; schemaKinds: string[] }>>(
        this.remote.start() as Promise<Result<{ threadId: number; schemaKinds: string[] }>>,
      );
    } catch (err) {
      return failed(err);
    }
  }

  /** Races a call against the thread's exit. */
  private guard<T>(p: Promise<T>): Promise<T> {
    if (!this.exited) return Promise.reject(errors.unavailable(`actor ${this.id} is not started`));
    return Promise.race([p, this.exited]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (!worker || !this.remote) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.guard(this.remote.stop()),
        new Promise((r) => {
          timer = setTimeout(r, STOP_TIMEOUT_MS);
        }),
      ]);
    } catch {
      // The thread is already gone.
    } finally {
      clearTimeout(timer);
    }
    this.remote[Comlink.releaseProxy]();
    await worker.terminate();
    this.closePort?.();
  }

  health(): Promise<ActorHealth> {
    return this.guard(this.remote!.health());
  }

  async deliverSchema(delivery: SchemaDelivery): Promise<FailureInfo | null> {
    try {
      return await this.guard(this.remote!.deliverSchema(delivery));
    } catch (err) {
      return toFailureInfo(err);
    }
  }

  async control(op: string, args: unknown): Promise<Result<unknown>> {
    try {
      return await this.guard<Result<unknown>>(this.remote!.control(op, args) as Promise<Result<unknown>>);
    } catch (err) {
      return failed(err);
    }
  }

  injectFault(fault: FaultSpec | null): Promise<void> {
    return this.guard(this.remote!.injectFault(fault));
  }

  metrics = async () => {
    if (!this.remote) return [];
    return this.guard(this.remote.metrics());
  };
}
