/**
 * The chaos run (issue 9 §6): a cluster of 3 nats-servers, 2 liaisons, 3 data nodes and 2
 * claimers (real processes) under a steady write, query and schema-change load, while the seeded
 * schedule of schedule.ts SIGKILLs one process at a time and starts it again. At the end every
 * victim is back and the run checks what a user would: every acknowledged point is there exactly
 * once, no refused batch is there, the barrier converges on every node, every node answers, and
 * the WAL is trimmed again. The report says what was killed, how long each recovery took and the
 * error rates the clients saw.
 *
 * Times are `performance.now()`: this is a measuring tool outside the system, not logic under test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalCluster } from '../../runtime/local_cluster.js';
import type { WritePoint } from '../../transport/api_types.js';
import { LockstepClient } from '../../transport/client.js';
import { call } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';
import { mergeTokens, type WriteToken } from '../../transport/write_token.js';
import { groupResource, hostValueMeasure } from '../harness/fixtures.js';
import { streamInfo } from '../harness/stream_info.js';
import { chaosSchedule, victimName, type ChaosEvent } from './schedule.js';
import { daysAgo } from '../harness/days.js';

const S = subjectsFor();
const GROUP = 'chaos';
/** Day-aligned, three days back: inside the groups' 7 d ttl, with room for the days after it. */
const T0 = daysAgo(3);
const HOSTS = 50;
const NODES: [string, string][] = [
  ['l1', 'liaison'],
  ['l2', 'liaison'],
  ['d1', 'data'],
  ['d2', 'data'],
  ['d3', 'data'],
  ['c1', 'claimer'],
  ['c2', 'claimer'],
];
/** Between batches of the writer, queries of the reader, schema changes. */
const WRITE_EVERY_MS = 50;
const QUERY_EVERY_MS = 200;
const SCHEMA_EVERY_MS = 2000;
/** A batch still failing after this is given up (and counted); its points may or may not be stored. */
const BATCH_GIVE_UP_MS = 30_000;
/** Every `REFUSED_EVERY`-th batch is one the server must refuse (a string in a float field). */
const REFUSED_EVERY = 10;
/** Bound on each end check. */
const CHECK_TIMEOUT_MS = 60_000;
/** Nodes trim the WAL every second with no safety window, so "bounded again" is quick to see. */
const NODE_ARGS = ['--wal-keep-flushed', '0s', '--wal-trim-interval', '1s', '--log-level', 'warn'];
/** What the WAL may still hold per acknowledged point once trimmed (an untrimmed WAL: about 30). */
const WAL_SETTLED_BYTES_PER_POINT = 8;

/** Options of one run. */
export interface ChaosOptions {
  seed: number;
  durationMs: number;
  /** Faults the schedule must hold whatever the seed (default 0). */
  minFaults?: number;
  /** Told each step, for a terminal. */
  log?: (line: string) => void;
}

/** What happened to one victim. */
export interface FaultReport {
  victim: string;
  at_s: number;
  down_ms: number;
  /** From its start until it answered again (a node: its control service; NATS: JetStream). */
  recovered_ms: number;
}

/** The run's report. */
export interface ChaosReport {
  seed: number;
  duration_s: number;
  cores: number;
  faults: FaultReport[];
  writes: { batches: number; acked_points: number; attempts_failed: number; given_up: number; error_rate: number };
  refused: { batches: number; present_points: number };
  queries: { calls: number; errors: number; error_rate: number };
  schema_changes: { calls: number; errors: number };
  checks: {
    acked_points_once: boolean;
    refused_absent: boolean;
    barrier_converged: boolean;
    every_node_answers: boolean;
    wal_bounded: boolean;
  };
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until truthy or `timeoutMs` passed (then false). */
async function until(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return true;
    if (performance.now() > deadline) return false;
    await sleep(200);
  }
}

/** Runs the chaos run; resolves with its report (`ok` false when a check failed). */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const dir = mkdtempSync(join(os.tmpdir(), 'lockstep-chaos-'));
  let lc: LocalCluster | undefined;
  const clients: LockstepClient[] = [];
  try {
    lc = await LocalCluster.start({ dir, natsServers: 3, liaisons: 0, dataNodes: 0, claimers: 0 });
    for (const [name, role] of NODES) lc.spawnNode(name, [role], NODE_ARGS);
    for (const [name] of NODES) await lc.waitReady(name);
    const connect = async (name: string) => {
      const c = await LockstepClient.connect({ natsUrl: lc!.natsUrl, name, timeoutMs: 5000 });
      clients.push(c);
      return c;
    };
    const admin = await connect('chaos-admin');
    await admin.create('group', groupResource(GROUP, { shards: 3, replicas: 2 }));
    const m = await admin.create('measure', hostValueMeasure(GROUP, 'cpu'));
    await admin.awaitApplied([`measure:${GROUP}/cpu`], { minRevisions: [m.revision], timeoutMs: 10_000 });
    log(`cluster up: 3 nats-servers, ${NODES.map(([n]) => n).join(' ')}; seed ${opts.seed}`);

    const schedule = chaosSchedule({
      seed: opts.seed,
      durationMs: opts.durationMs,
      settleMs: Math.min(5000, opts.durationMs / 4),
      nodes: NODES.map(([n]) => n),
      natsServers: 3,
      gapMs: [1000, 3000],
      downMs: [500, 3000],
      minFaults: opts.minFaults,
    });
    const start = performance.now();
    const stop = new AbortController();
    const writes = { batches: 0, acked: 0, failed: 0, givenUp: 0, tokens: [] as WriteToken[], refused: 0 };
    const queries = { calls: 0, errors: 0 };
    const schema = { calls: 0, errors: 0, revision: m.revision };

    const writer = (async () => {
      const c = await connect('chaos-writer');
      for (let b = 0; !stop.signal.aborted; b++) {
        const refused = b % REFUSED_EVERY === REFUSED_EVERY - 1;
        const points: WritePoint[] = Array.from({ length: HOSTS }, (_, h) => ({
          tags: { host: `h${h}` },
          fields: { value: refused ? ('not a number' as unknown as number) : b },
          ts: T0 + b * 1000,
        }));
        const began = performance.now();
        for (;;) {
          try {
            const r = await c.writeMeasure(GROUP, 'cpu', points, { batchId: `b${b}`, timeoutMs: 5000 });
            if (refused) throw new Error(`batch ${b} should have been refused`);
            writes.tokens.push(r.write_token);
            writes.acked += HOSTS;
            break;
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (refused && code === 'InvalidArgument') {
              writes.refused++;
              break;
            }
            writes.failed++;
            if (performance.now() - began > BATCH_GIVE_UP_MS) {
              writes.givenUp++;
              break;
            }
            await sleep(100);
          }
        }
        writes.batches++;
        await sleep(WRITE_EVERY_MS);
      }
    })();
    const reader = (async () => {
      const c = await connect('chaos-reader');
      while (!stop.signal.aborted) {
        queries.calls++;
        try {
          await c.queryMeasure({
            group: GROUP,
            name: 'cpu',
            from: T0,
            to: T0 + 86_400_000,
            aggregations: [{ fn: 'count' }],
            timeout_ms: 3000,
          });
        } catch {
          queries.errors++;
        }
        await sleep(QUERY_EVERY_MS);
      }
    })();
    const changer = (async () => {
      const c = await connect('chaos-schema');
      for (let i = 0; !stop.signal.aborted; i++) {
        schema.calls++;
        try {
          const r = await c.create('measure', hostValueMeasure(GROUP, `m${i}`));
          schema.revision = Math.max(schema.revision, r.revision);
        } catch {
          schema.errors++;
        }
        await sleep(SCHEMA_EVERY_MS);
      }
    })();

    const faults: FaultReport[] = [];
    for (const e of schedule) {
      const wait = start + e.atMs - performance.now();
      if (wait > 0) await sleep(wait);
      faults.push(await fault(lc, e, start, log));
    }
    const left = start + opts.durationMs - performance.now();
    if (left > 0) await sleep(left);
    stop.abort();
    await Promise.all([writer, reader, changer]);
    log(`load stopped: ${writes.batches} batches, ${queries.calls} queries, ${schema.calls} schema changes`);

    // End checks, each bounded: the cluster must get there by itself.
    const token = mergeTokens(GROUP, writes.tokens);
    let counted = -1;
    const acked_points_once = await until(async () => {
      const r = await admin.queryMeasure({
        group: GROUP,
        name: 'cpu',
        from: T0,
        to: T0 + 86_400_000,
        aggregations: [{ fn: 'count' }],
        write_token: token,
        timeout_ms: 10_000,
      });
      counted = Number(r.groups![0]?.values.count ?? 0);
      return counted === writes.acked;
    }, CHECK_TIMEOUT_MS);
    log(`points: ${counted} counted, ${writes.acked} acknowledged`);
    let presentRefused = 0;
    for (let b = REFUSED_EVERY - 1; b < writes.batches; b += REFUSED_EVERY) {
      const r = await admin.queryMeasure({ group: GROUP, name: 'cpu', from: T0 + b * 1000, to: T0 + b * 1000 + 1 });
      presentRefused += r.rows!.length;
    }
    const barrier_converged = await until(
      async () => (await admin.awaitRevision(schema.revision, { timeoutMs: 5000 })).applied,
      CHECK_TIMEOUT_MS,
    );
    const bus = await lc.adminBus();
    const every_node_answers = (
      await Promise.all(
        NODES.map(([n]) =>
          call(bus, S.node.control(n, 'actors'), {}, { timeoutMs: 5000 }).then(
            () => true,
            () => false,
          ),
        ),
      )
    ).every(Boolean);
    const wal_bounded = await until(async () => {
      const bytes = (await streamInfo(bus, S.walStream)).state.bytes;
      return bytes <= WAL_SETTLED_BYTES_PER_POINT * Math.max(1, writes.acked);
    }, CHECK_TIMEOUT_MS);

    const checks = {
      acked_points_once,
      refused_absent: presentRefused === 0,
      barrier_converged,
      every_node_answers,
      wal_bounded,
    };
    const attempts = writes.batches + writes.failed;
    return {
      seed: opts.seed,
      duration_s: opts.durationMs / 1000,
      cores: os.cpus().length,
      faults,
      writes: {
        batches: writes.batches,
        acked_points: writes.acked,
        attempts_failed: writes.failed,
        given_up: writes.givenUp,
        error_rate: attempts === 0 ? 0 : round3(writes.failed / attempts),
      },
      refused: { batches: writes.refused, present_points: presentRefused },
      queries: {
        calls: queries.calls,
        errors: queries.errors,
        error_rate: queries.calls === 0 ? 0 : round3(queries.errors / queries.calls),
      },
      schema_changes: { calls: schema.calls, errors: schema.errors },
      checks,
      ok: Object.values(checks).every(Boolean) && writes.givenUp === 0,
    };
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await lc?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Carries out one fault: SIGKILL, wait `downMs`, start again, wait until it answers. */
async function fault(lc: LocalCluster, e: ChaosEvent, start: number, log: (l: string) => void): Promise<FaultReport> {
  const name = victimName(e.victim);
  const at = performance.now();
  log(`t=${((at - start) / 1000).toFixed(1)}s SIGKILL ${name} for ${e.downMs} ms`);
  if (e.victim.kind === 'node') {
    const node = lc.nodes.get(e.victim.name)!;
    lc.kill(e.victim.name, 'SIGKILL');
    await node.exited;
  } else {
    process.kill(lc.natsCluster!.servers[e.victim.index]!.pid, 'SIGKILL');
  }
  await sleep(Math.max(0, at + e.downMs - performance.now()));
  const back = performance.now();
  if (e.victim.kind === 'node') {
    const roles = lc.nodes.get(e.victim.name)!.roles;
    lc.spawnNode(e.victim.name, roles, NODE_ARGS);
    await lc.waitReady(e.victim.name);
  } else {
    await lc.natsCluster!.restart(e.victim.index);
  }
  const recovered = performance.now() - back;
  log(`  ${name} back after ${recovered.toFixed(0)} ms`);
  return { victim: name, at_s: round3((at - start) / 1000), down_ms: e.downMs, recovered_ms: Math.round(recovered) };
}
