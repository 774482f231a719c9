/**
 * Fakes for unit tests of one barrier call (actors/barrier/scatter.ts), with no NATS: scripted
 * members answering probes, member signals driven by hand, and helpers that start a call on a fake
 * clock or run it to its end.
 */
import assert from 'node:assert/strict';
import type { Role } from '../../runtime/roles.js';
import { errors, LockstepError } from '../../transport/errors.js';
import { formatKey, type SchemaKey } from '../../transport/schema_types.js';
import type { StatusMethod } from '../../transport/status_types.js';
import {
  parseBarrierRequest,
  scatter,
  type BarrierCall,
  type MemberSignal,
  type MemberSignals,
  type ScatterOutcome,
  type WatchedMember,
} from '../../actors/barrier/index.js';
import { FakeClock } from './fake_clock.js';

type Behaviour = 'ok' | 'unimplemented' | 'fail' | 'hang';

/** A scripted member: its applied revision, its keys, and how it answers. */
export interface FakeNode {
  revision: number;
  keys: Map<string, { present: boolean; mod_revision: number }>;
  behaviour: Behaviour;
  /** Fails this many probes with Unavailable before answering normally. */
  failNext: number;
  calls: Array<{ method: StatusMethod; keys: number }>;
}

/** Scripted members answering the probes of a call (`probe`), counting every call. */
export class FakeCluster {
  readonly nodes = new Map<string, FakeNode>();
  add(name: string, init: Partial<FakeNode> = {}): FakeNode {
    const node: FakeNode = { revision: 0, keys: new Map(), behaviour: 'ok', failNext: 0, calls: [], ...init };
    this.nodes.set(name, node);
    return node;
  }
  totalCalls(): number {
    let n = 0;
    for (const node of this.nodes.values()) n += node.calls.length;
    return n;
  }
  probe = async (member: WatchedMember, method: StatusMethod, keys: SchemaKey[] | undefined): Promise<unknown> => {
    await Promise.resolve();
    const node = this.nodes.get(member.name);
    if (!node) throw errors.unavailable(`no responders on ${member.name}`);
    node.calls.push({ method, keys: keys?.length ?? 0 });
    if (node.behaviour === 'unimplemented') throw errors.unimplemented(`unknown status method ${method}`);
    if (node.behaviour === 'hang') return new Promise(() => undefined);
    if (node.behaviour === 'fail' || node.failNext > 0) {
      node.failNext = Math.max(0, node.failNext - 1);
      throw errors.unavailable(`no responders on ${member.name}`);
    }
    if (method === 'max_revision') return { node: member.name, revision: node.revision };
    const ks = keys ?? [];
    const state = (k: SchemaKey) => node.keys.get(formatKey(k)) ?? { present: false, mod_revision: 0 };
    if (method === 'key_revisions') return { node: member.name, revision: node.revision, keys: ks.map(state) };
    return {
      node: member.name,
      revision: node.revision,
      absent: ks.filter((k) => !state(k).present),
      still_present: ks.filter((k) => state(k).present),
    };
  };
}

/** Signals driven by hand (for tests that need no MemberTable). */
export class ManualSignals implements MemberSignals {
  private readonly listeners = new Set<(s: MemberSignal) => void>();
  readonly states = new Map<string, 'active' | 'evictable' | 'absent'>();
  subscribe(l: (s: MemberSignal) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  stateOf(node: string) {
    return this.states.get(node) ?? 'active';
  }
  emit(s: MemberSignal) {
    for (const l of [...this.listeners]) l(s);
  }
}

/** A watched member `name` of one role, labelled `<role>-<name>`. */
export const member = (name: string, role: Role = 'data'): WatchedMember => ({
  name,
  roles: [role],
  label: `${role}-${name}`,
});
export const key = (i: number) => `measure:g1/m${i}`;
export const keysOf = (n: number) => Array.from({ length: n }, (_, i) => key(i));

/** How `start` and `run` run a call: the watched members, and optionally the clock, signals, abort signal and fallback poll. */
export interface RunOpts {
  members: WatchedMember[];
  clock?: FakeClock;
  signals?: MemberSignals;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Validates and starts a call the way the actor does; the deadline comes from the request. */
export function start(cluster: FakeCluster, call: BarrierCall, body: unknown, o: RunOpts): Promise<ScatterOutcome> {
  const clock = o.clock ?? new FakeClock();
  const spec = parseBarrierRequest(call, body);
  return scatter(spec, {
    members: o.members,
    probe: cluster.probe,
    clock,
    deadlineMs: clock.monotonic() + spec.timeoutMs,
    fallbackPollMs: o.pollMs ?? 200,
    signal: o.signal,
    signals: o.signals,
  });
}

/**
 * Starts a call on `members` with a fresh fake clock and member signals the test emits by hand. The
 * fallback poll defaults to 5 s, so that within a test's few steps only the signals drive the call.
 */
export function startWatched(cluster: FakeCluster, call: BarrierCall, body: unknown, members: string[], pollMs = 5000) {
  const clock = new FakeClock();
  const signals = new ManualSignals();
  const p = start(cluster, call, body, { members: members.map((n) => member(n)), clock, signals, pollMs });
  return { p, clock, signals };
}

/** Runs a call to its end, advancing fake time in steps until it answers. */
export async function run(cluster: FakeCluster, call: BarrierCall, body: unknown, o: RunOpts): Promise<ScatterOutcome> {
  const clock = o.clock ?? new FakeClock();
  return clock.until(start(cluster, call, body, { ...o, clock }), 'the barrier call', 50, 10_000);
}

/** An assert.throws/rejects predicate: a LockstepError with `code`. */
export function assertCode(err: unknown, code: string): true {
  assert.ok(err instanceof LockstepError, `expected a LockstepError, got ${String(err)}`);
  assert.equal(err.code, code);
  return true;
}
