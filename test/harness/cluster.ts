/**
 * A real multi-process cluster for integration tests: its own nats-server, node processes with
 * short membership timings and fault injection on, and typed helpers for the calls tests make.
 */
import type { BarrierReply } from '../../transport/api_types.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, type LocalClusterOptions } from '../../runtime/local_cluster.js';
import type { FaultSpec } from '../../runtime/actor.js';
import type { NatsBus } from '../../transport/nats_bus.js';
import { call } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';
import { groupResource, hostValueMeasure } from './fixtures.js';

/** Membership timings for tests: eviction within about a second. */
export const TEST_NODE_ARGS = [
  '--heartbeat-interval',
  '200ms',
  '--evictable-after',
  '1s',
  '--gone-after',
  '4s',
  '--barrier-fallback-poll',
  '500ms',
  '--enable-fault-injection',
  '--log-level',
  'warn',
];

const S = subjectsFor();

export type { BarrierReply };

/** A test cluster with helpers. */
export class TestCluster {
  private constructor(
    readonly lc: LocalCluster,
    readonly bus: NatsBus,
    private readonly tempDir: string,
  ) {}

  static async start(opts: Partial<LocalClusterOptions> = {}): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-cluster-'));
    let lc: LocalCluster;
    try {
      lc = await LocalCluster.start({
        dir,
        claimers: 0,
        ...opts,
        nodeArgs: [...TEST_NODE_ARGS, ...(opts.nodeArgs ?? [])],
      });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return new TestCluster(lc, await lc.adminBus(), dir);
  }

  /** Calls the public API. */
  api<T = Record<string, unknown>>(subject: string, body: unknown, timeoutMs = 5000): Promise<T> {
    return call<T>(this.bus, subject, body, { timeoutMs });
  }

  /** Creates a measure group (fixtures `groupResource`: 2 shards, 1 d segments, 7 d ttl), `extra` overriding. */
  createGroup(name: string, extra: Record<string, unknown> = {}): Promise<{ revision: number }> {
    return this.api(S.api.schema('group', 'create'), { resource: groupResource(name, extra) });
  }

  /** Creates the smallest measure to write to (fixtures `hostValueMeasure`: a `host` tag, a float `value`). */
  createMeasure(group: string, name: string): Promise<{ revision: number }> {
    return this.api(S.api.schema('measure', 'create'), { resource: hostValueMeasure(group, name) });
  }

  /** True once every member applied measure `group/name` at `revision` or later (barrier `applied`). */
  async measureApplied(group: string, name: string, revision: number): Promise<boolean> {
    return (await this.barrier('applied', { keys: [`measure:${group}/${name}`], min_revisions: [revision] })).applied;
  }

  deleteMeasure(group: string, name: string): Promise<{ revision: number }> {
    return this.api(S.api.schema('measure', 'delete'), { group, name });
  }

  barrier(
    kind: 'revision' | 'applied' | 'deleted',
    body: Record<string, unknown>,
    timeoutMs = 5000,
  ): Promise<BarrierReply> {
    return this.api<BarrierReply>(S.api.barrier(kind), { timeout_ms: timeoutMs, ...body }, timeoutMs + 5000);
  }

  control<T = Record<string, unknown>>(node: string, op: string, body: unknown = {}): Promise<T> {
    return call<T>(this.bus, S.node.control(node, op), body, { timeoutMs: 5000 });
  }

  status<T = Record<string, unknown>>(node: string, method: string, body: unknown = {}): Promise<T> {
    return call<T>(this.bus, S.node.status(node, method), body, { timeoutMs: 5000 });
  }

  injectFault(node: string, fault: FaultSpec): Promise<unknown> {
    return this.control(node, 'inject_fault', { fault });
  }

  /** The node's log so far. */
  log(node: string): string {
    return readFileSync(this.lc.nodes.get(node)!.logFile, 'utf8');
  }

  async stop(): Promise<void> {
    await this.lc.stop();
    rmSync(this.tempDir, { recursive: true, force: true });
  }
}
