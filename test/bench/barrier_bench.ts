/**
 * The barrier benchmark: BanyanDB's CP-6 load profile on a real multi-process cluster. `--callers`
 * concurrent callers loop on `barrier.revision` for the latest acknowledged schema revision while
 * a mutator writes schema changes at `--mutate-rate` per second. Reports call latency, throughput
 * and convergence (acknowledgement → every member applied, heard passively on `P.events.schema`).
 *
 * Run: `npm run bench:barrier -- --callers 100 --mutate-rate 10 --measure 60s --report out.json`.
 * Times are `performance.now()`: this is a measuring tool outside the system, not logic under test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalCluster } from '../../runtime/local_cluster.js';
import { BARRIER_REPLY_GRACE_MS, LockstepClient } from '../../transport/client.js';
import { decode } from '../../transport/codec.js';
import { codeOf } from '../../transport/errors.js';
import { NatsBus } from '../../transport/nats_bus.js';
import type { SchemaAppliedEvent } from '../../transport/status_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import { parseBenchArgs, type BenchArgs } from './bench_args.js';
import { percentile, pollUntil, runBenchScript, sleep, windowFromNow, type Window } from './bench_cli.js';
import { natsPidOf, waitMembersActive } from './bench_store.js';

/** The group every mutation goes to. */
const GROUP = 'bench';
/** How long setup waits for the liaison to see every member Active. */
const MEMBERS_READY_TIMEOUT_MS = 30_000;
/** Interval of the bounded polls of setup and of the final convergence wait. */
const POLL_MS = 10;
/** Backstop on the iterations of one caller, beyond its end time. */
const MAX_CALLS_PER_CALLER = 10_000_000;
/** Distinct error messages kept for the report. */
const MAX_ERROR_SAMPLES = 5;

/** The benchmark's JSON report. */
export interface BenchReport {
  profile: {
    callers: number;
    mutate_rate: number;
    warm_up_s: number;
    measure_s: number;
    data_nodes: number;
    liaisons: number;
    barrier_timeout_ms: number;
  };
  /** Barrier calls completed in the measurement window. */
  calls: number;
  /** Error replies or failed requests of callers, in any phase (warm-up, window, drain). */
  errors: number;
  /** Calls of the window answered `applied: false`. */
  timeouts: number;
  /** Mutations acknowledged in the window. */
  mutate_ops: number;
  /** Failed mutations, in any phase. */
  mutate_errors: number;
  /** Call latency percentiles of the window. */
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Acknowledgement → every member applied, for mutations acknowledged in the window. */
  convergence_p50_ms: number;
  convergence_p99_ms: number;
  /** Measured mutations every member had applied before their acknowledgement arrived (counted as 0 ms). */
  converged_before_ack: number;
  /** Measured mutations not applied everywhere by the end of the drain. */
  unconverged: number;
  throughput_calls_per_s: number;
  warm_up: { calls: number; errors: number; timeouts: number };
  error_samples: string[];
  cluster: { members: string[]; node_pids: number[]; nats_pid?: number };
  cores: number;
  node: string;
}

/** Shared state of the load: what callers target and what they counted. */
class LoadState {
  latestAckRevision = 0;
  calls = 0;
  timeouts = 0;
  errors = 0;
  warmUp = { calls: 0, errors: 0, timeouts: 0 };
  readonly latenciesMs: number[] = [];
  readonly errorSamples = new Set<string>();

  constructor(readonly w: Window) {}

  /** Records one finished call; only calls completed in the window count towards latency. */
  record(startedAt: number, endedAt: number, outcome: 'applied' | 'timeout' | 'error'): void {
    if (outcome === 'error') this.errors++;
    if (endedAt < this.w.measureStart) {
      this.warmUp.calls++;
      if (outcome === 'error') this.warmUp.errors++;
      if (outcome === 'timeout') this.warmUp.timeouts++;
      return;
    }
    if (endedAt > this.w.end) return;
    this.calls++;
    if (outcome === 'timeout') this.timeouts++;
    this.latenciesMs.push(endedAt - startedAt);
  }

  /** Keeps a few distinct error messages for the report. */
  sampleError(err: unknown): void {
    if (this.errorSamples.size < MAX_ERROR_SAMPLES) this.errorSamples.add(`${codeOf(err)}: ${(err as Error).message}`);
  }
}

/**
 * Convergence of acknowledged mutations, from the applied-revision events every member publishes.
 * The mutator is sequential, so pending revisions arrive in ascending order.
 */
class ConvergenceTracker {
  private readonly applied = new Map<string, number>();
  private readonly pending: { revision: number; ackAt: number; measured: boolean }[] = [];
  readonly samplesMs: number[] = [];
  convergedBeforeAck = 0;

  constructor(readonly members: readonly string[]) {
    for (const m of members) this.applied.set(m, 0);
  }

  /** A member applied up to `revision` (events may repeat or arrive out of order). */
  onApplied(node: string, revision: number, now: number): void {
    const cur = this.applied.get(node);
    if (cur === undefined || revision <= cur) return;
    this.applied.set(node, revision);
    this.settle(now);
  }

  /** A mutation was acknowledged at `ackAt`; `measured` when that is inside the window. */
  acknowledged(revision: number, ackAt: number, measured: boolean): void {
    if (measured && this.minApplied() >= revision) {
      this.convergedBeforeAck++;
      this.samplesMs.push(0);
      return;
    }
    this.pending.push({ revision, ackAt, measured });
    this.pending.sort((a, b) => a.revision - b.revision);
  }

  /** Measured mutations still waiting for some member. */
  get unconverged(): number {
    return this.pending.filter((p) => p.measured).length;
  }

  private minApplied(): number {
    let min = Infinity;
    for (const r of this.applied.values()) min = Math.min(min, r);
    return min;
  }

  private settle(now: number): void {
    const min = this.minApplied();
    while (this.pending.length > 0 && this.pending[0]!.revision <= min) {
      const p = this.pending.shift()!;
      if (p.measured) this.samplesMs.push(now - p.ackAt);
    }
  }
}

/** One caller: re-issues `barrier.revision` until the window ends (or the run is stopped). */
async function caller(client: LockstepClient, s: LoadState, timeoutMs: number, stop: AbortSignal): Promise<void> {
  for (let i = 0; i < MAX_CALLS_PER_CALLER && !stop.aborted && performance.now() < s.w.end; i++) {
    const startedAt = performance.now();
    let outcome: 'applied' | 'timeout' | 'error';
    try {
      outcome = (await client.awaitRevision(s.latestAckRevision, { timeoutMs })).applied ? 'applied' : 'timeout';
    } catch (err) {
      outcome = 'error';
      s.sampleError(err);
    }
    s.record(startedAt, performance.now(), outcome);
    // A failing cluster answers at once: do not spin on it.
    if (outcome === 'error') await sleep(POLL_MS);
  }
}

/** Odd steps create measure `m<i>`; even steps flip the group's ttl between 7d and 8d. */
async function mutate(client: LockstepClient, i: number): Promise<number> {
  if (i % 2 === 1) {
    const r = await client.create('measure', {
      group: GROUP,
      name: `m${i}`,
      entity: ['host'],
      tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }],
      fields: [{ name: 'value', type: 'float' }],
    });
    return r.revision;
  }
  const ttl = (i / 2) % 2 === 1 ? '8d' : '7d';
  const r = await client.update('group', { name: GROUP, catalog: 'measure', shards: 2, segment_interval: '1d', ttl });
  return r.revision;
}

/** The mutator: mutation i is due at start + (i-1)/rate; at most one in flight; ends with the window. */
async function mutator(
  client: LockstepClient,
  s: LoadState,
  conv: ConvergenceTracker,
  rate: number,
  stop: AbortSignal,
): Promise<{ ops: number; errors: number }> {
  const total = Math.ceil(((s.w.end - s.w.start) / 1000) * rate);
  let ops = 0;
  let errors = 0;
  for (let i = 1; i <= total && !stop.aborted; i++) {
    const due = s.w.start + ((i - 1) * 1000) / rate;
    if (due >= s.w.end) break;
    await sleep(due - performance.now());
    if (stop.aborted) break;
    try {
      const revision = await mutate(client, i);
      const ackAt = performance.now();
      const measured = ackAt >= s.w.measureStart && ackAt <= s.w.end;
      if (measured) ops++;
      s.latestAckRevision = Math.max(s.latestAckRevision, revision);
      conv.acknowledged(revision, ackAt, measured);
    } catch (err) {
      errors++;
      s.sampleError(err);
    }
  }
  return { ops, errors };
}

/** Runs the load on a started cluster and returns the report (the cluster is left running). */
async function runLoad(lc: LocalCluster, args: BenchArgs, stop: AbortSignal): Promise<BenchReport> {
  const S = subjectsFor();
  const members = [...lc.nodes.keys()].sort();
  // Events on their own connection, so the callers' replies never queue in front of them.
  const eventBus = await NatsBus.connect({ url: lc.natsUrl, name: 'bench-events' });
  const loadBus = await NatsBus.connect({ url: lc.natsUrl, name: 'bench-load' });
  const client = LockstepClient.onBus(loadBus);
  const conv = new ConvergenceTracker(members);
  const sub = eventBus.subscribe(S.events.schema, (m) => {
    const now = performance.now();
    try {
      const ev = decode(m.data) as SchemaAppliedEvent;
      if (ev && typeof ev.node === 'string' && typeof ev.revision === 'number')
        conv.onApplied(ev.node, ev.revision, now);
    } catch {
      // A malformed event says nothing about convergence.
    }
  });
  try {
    await eventBus.flush();
    await waitMembersActive(client, members, MEMBERS_READY_TIMEOUT_MS, POLL_MS);
    const g = await client.create('group', {
      name: GROUP,
      catalog: 'measure',
      shards: 2,
      segment_interval: '1d',
      ttl: '7d',
    });
    const ready = await client.awaitRevision(g.revision, { timeoutMs: args.barrierTimeoutMs });
    if (!ready.applied) throw new Error(`the group was not applied everywhere: ${JSON.stringify(ready.laggards)}`);
    // Events published before the subscription was live are covered by one status read each.
    for (const n of members) conv.onApplied(n, (await client.maxRevision(n)).revision, performance.now());

    const s = new LoadState(windowFromNow(args.warmUpMs, args.measureMs));
    s.latestAckRevision = g.revision;
    const callers = Array.from({ length: args.callers }, () => caller(client, s, args.barrierTimeoutMs, stop));
    const mut = mutator(client, s, conv, args.mutateRate, stop);
    // Join everything: each caller's last call is bounded by the barrier timeout plus the reply grace.
    const [m] = await Promise.all([mut, ...callers]);
    // The last measured mutations get the same bound to reach every member.
    await pollUntil(() => conv.unconverged === 0, args.barrierTimeoutMs + BARRIER_REPLY_GRACE_MS, POLL_MS);

    const lat = [...s.latenciesMs].sort((a, b) => a - b);
    const cv = [...conv.samplesMs].sort((a, b) => a - b);
    return {
      profile: {
        callers: args.callers,
        mutate_rate: args.mutateRate,
        warm_up_s: args.warmUpMs / 1000,
        measure_s: args.measureMs / 1000,
        data_nodes: args.dataNodes,
        liaisons: args.liaisons,
        barrier_timeout_ms: args.barrierTimeoutMs,
      },
      calls: s.calls,
      errors: s.errors,
      timeouts: s.timeouts,
      mutate_ops: m.ops,
      mutate_errors: m.errors,
      p50_ms: percentile(lat, 50),
      p95_ms: percentile(lat, 95),
      p99_ms: percentile(lat, 99),
      max_ms: percentile(lat, 100),
      convergence_p50_ms: percentile(cv, 50),
      convergence_p99_ms: percentile(cv, 99),
      converged_before_ack: conv.convergedBeforeAck,
      unconverged: conv.unconverged,
      throughput_calls_per_s: Math.round((s.calls / (args.measureMs / 1000)) * 10) / 10,
      warm_up: s.warmUp,
      error_samples: [...s.errorSamples],
      cluster: clusterPids(lc, members),
      cores: os.availableParallelism(),
      node: process.version,
    };
  } finally {
    sub.unsubscribe();
    await client.close().catch(() => undefined);
    await eventBus.close().catch(() => undefined);
  }
}

/** The pids of the cluster's processes, so a caller can check none is left after the run. */
function clusterPids(lc: LocalCluster, members: string[]): BenchReport['cluster'] {
  const out: BenchReport['cluster'] = { members, node_pids: [...lc.nodes.values()].map((n) => n.pid) };
  const nats = natsPidOf(lc);
  if (nats !== undefined) out.nats_pid = nats;
  return out;
}

/** Starts the cluster, runs the load, stops everything; the report is written by the runner. */
async function run(args: BenchArgs, signal: AbortSignal): Promise<BenchReport> {
  const dir = mkdtempSync(join(os.tmpdir(), 'lockstep-bench-'));
  try {
    let lc: LocalCluster;
    try {
      lc = await LocalCluster.start({
        dir,
        liaisons: args.liaisons,
        dataNodes: args.dataNodes,
        claimers: 0,
        nodeArgs: ['--log-level', 'warn'],
      });
    } catch (err) {
      throw new Error(`the cluster did not start: ${(err as Error).message}`, { cause: err });
    }
    try {
      return await runLoad(lc, args, signal);
    } finally {
      await lc.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBenchScript('barrier_bench', parseBenchArgs, run);
