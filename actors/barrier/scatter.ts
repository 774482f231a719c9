/**
 * The core of one barrier call (DESIGN §5), independent of NATS: request validation, then rounds of
 * probes over a frozen member snapshot until every member converged, the deadline passed, or the
 * call was aborted. Probing, time and membership signals are injected so unit tests drive them.
 */
import type { BarrierReply, Laggard } from '../../transport/api_types.js';
import type { Clock, TimerHandle } from '../../runtime/clock.js';
import type { Role } from '../../runtime/roles.js';
import { Code, codeOf, errors, toLockstepError } from '../../transport/errors.js';
import { formatKey, parseKey, type SchemaKey } from '../../transport/schema_types.js';
import {
  type AbsentKeysReply,
  type KeyRevisionsReply,
  type MaxRevisionReply,
  type StatusMethod,
} from '../../transport/status_types.js';

/** The three barrier calls, each served on `P.api.barrier.<call>`. */
export { EVICTED_REASON, type BarrierReply, type Laggard } from '../../transport/api_types.js';
import { EVICTED_REASON } from '../../transport/api_types.js';
import {
  DEFAULT_BARRIER_TIMEOUT_MS,
  MAX_BARRIER_TIMEOUT_MS,
  MAX_KEYS_PER_BARRIER_CALL,
  MAX_KEYS_PER_LAGGARD,
  MAX_KEYS_PER_STATUS_CALL,
} from '../../transport/limits.js';

export const BARRIER_CALLS = ['revision', 'applied', 'deleted'] as const;
/** A barrier call. */
export type BarrierCall = (typeof BARRIER_CALLS)[number];

/** A member as one call watches it. */
export interface WatchedMember {
  name: string;
  roles: Role[];
  /** `<role>-<name>`, how laggards name it. */
  label: string;
}

/** A validated barrier request. */
export type BarrierSpec =
  | { call: 'revision'; minRevision: number; timeoutMs: number }
  | { call: 'applied'; keys: SchemaKey[]; minRevisions: number[]; timeoutMs: number }
  | { call: 'deleted'; keys: SchemaKey[]; timeoutMs: number };

/** Sends one status request to a member; `deadlineMs` is on `clock.monotonic()`. Rejects with a coded error. */
export type ProbeFn = (
  member: WatchedMember,
  method: StatusMethod,
  keys: SchemaKey[] | undefined,
  deadlineMs: number,
) => Promise<unknown>;

/** A membership change or an applied-revision advance heard while a call runs. */
export type MemberSignal =
  { type: 'advance'; node: string; revision: number } | { type: 'evictable' | 'gone' | 'left'; node: string };

/** Where a call hears about members while it runs. */
export interface MemberSignals {
  /** Registers a listener; returns its remover. */
  subscribe(listener: (signal: MemberSignal) => void): () => void;
  /** A member's state now; `absent` once it is gone or left. */
  stateOf(node: string): 'active' | 'evictable' | 'absent';
}

/** What one call needs besides its request. */
export interface ScatterDeps {
  /** The frozen snapshot (see snapshot.ts); never empty. */
  members: readonly WatchedMember[];
  probe: ProbeFn;
  clock: Clock;
  /** The call's one deadline on `clock.monotonic()`. */
  deadlineMs: number;
  /** Re-probe interval for laggards when no change notification arrives. */
  fallbackPollMs: number;
  signal?: AbortSignal;
  signals?: MemberSignals;
}

/** The answer plus, for metrics, the member behind each laggard (same order). */
export interface ScatterOutcome extends BarrierReply {
  laggardMembers: WatchedMember[];
}

function nonNegativeInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw errors.invalidArgument(`${what} must be a non-negative integer (got ${JSON.stringify(v)})`, { field: what });
  }
  return v;
}

function timeoutOf(v: unknown): number {
  if (v === undefined || v === null) return DEFAULT_BARRIER_TIMEOUT_MS;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw errors.invalidArgument(`timeout_ms must be a number of milliseconds (got ${JSON.stringify(v)})`, {
      field: 'timeout_ms',
    });
  }
  if (v <= 0) return DEFAULT_BARRIER_TIMEOUT_MS;
  return Math.min(v, MAX_BARRIER_TIMEOUT_MS);
}

function keysOf(v: unknown): SchemaKey[] {
  if (!Array.isArray(v)) throw errors.invalidArgument('keys must be an array of schema keys', { field: 'keys' });
  // Checked before parsing, so an oversized request costs nothing.
  if (v.length > MAX_KEYS_PER_BARRIER_CALL) {
    throw errors.invalidArgument(`at most ${MAX_KEYS_PER_BARRIER_CALL} keys per barrier call (got ${v.length})`, {
      field: 'keys',
    });
  }
  return v.map((k, i) => {
    try {
      return parseKey(k);
    } catch (err) {
      throw errors.invalidArgument(`keys[${i}]: ${(err as Error).message}`, { field: `keys[${i}]` });
    }
  });
}

/** Validates a request body; every failure is `InvalidArgument`, thrown before anything is probed. */
export function parseBarrierRequest(call: BarrierCall, body: unknown): BarrierSpec {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b !== 'object' || Array.isArray(b)) throw errors.invalidArgument('a barrier request must be an object');
  switch (call) {
    case 'revision':
      return { call, minRevision: nonNegativeInt(b.min_revision, 'min_revision'), timeoutMs: timeoutOf(b.timeout_ms) };
    case 'applied': {
      const keys = keysOf(b.keys);
      const raw = b.min_revisions ?? [];
      if (!Array.isArray(raw))
        throw errors.invalidArgument('min_revisions must be an array of integers', { field: 'min_revisions' });
      if (raw.length > keys.length) {
        throw errors.invalidArgument(`min_revisions has ${raw.length} entries but keys has ${keys.length}`, {
          field: 'min_revisions',
        });
      }
      // A missing entry (or null) means "present at any revision", like 0.
      const minRevisions = keys.map((_, i) =>
        raw[i] === undefined || raw[i] === null ? 0 : nonNegativeInt(raw[i], `min_revisions[${i}]`),
      );
      return { call, keys, minRevisions, timeoutMs: timeoutOf(b.timeout_ms) };
    }
    case 'deleted':
      return { call, keys: keysOf(b.keys), timeoutMs: timeoutOf(b.timeout_ms) };
    default:
      throw errors.invalidArgument(`unknown barrier call ${JSON.stringify(call)}`);
  }
}

/** Runs one call to its end. Timeout and abort are normal answers (`applied: false`), not errors. */
export async function scatter(spec: BarrierSpec, deps: ScatterDeps): Promise<ScatterOutcome> {
  if (deps.members.length === 0) throw errors.unavailable('no member to watch: the member snapshot is empty');
  if (spec.call !== 'revision' && spec.keys.length === 0) return { applied: true, laggards: [], laggardMembers: [] };
  return new ScatterRun(spec, deps).run();
}

/** One member's progress within a call. */
interface MemberRun {
  member: WatchedMember;
  /** Set once the member needs no more probes; a converged one is still watched for eviction (§5). */
  done?: 'converged' | 'evicted' | 'left';
  inFlight: boolean;
  /** A change notification arrived during the in-flight probe: probe again when it returns. */
  again: boolean;
  /** At least one probe got a reply. */
  answered: boolean;
  revision?: number;
  /** Indices of keys not yet confirmed (present at the wanted revision, or absent). */
  pending: Set<number>;
  /** Why the last probe failed; cleared by the next good answer. */
  reason?: string;
}

class ScatterRun {
  private readonly runs = new Map<string, MemberRun>();
  private finished = false;
  private resolve!: (outcome: ScatterOutcome) => void;
  private deadlineTimer?: TimerHandle;
  private pollTimer?: TimerHandle;
  private unsubscribe?: () => void;
  private readonly onAbort = () => this.finish(false);

  constructor(
    private readonly spec: BarrierSpec,
    private readonly deps: ScatterDeps,
  ) {
    const keyCount = spec.call === 'revision' ? 0 : spec.keys.length;
    for (const member of deps.members) {
      if (this.runs.has(member.name)) continue;
      const pending = new Set<number>();
      for (let i = 0; i < keyCount; i++) pending.add(i);
      this.runs.set(member.name, { member, inFlight: false, again: false, answered: false, pending });
    }
  }

  run(): Promise<ScatterOutcome> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      const { signal, clock } = this.deps;
      if (signal?.aborted) return this.finish(false);
      signal?.addEventListener('abort', this.onAbort, { once: true });
      // Subscribed in the same synchronous step as the snapshot was frozen, so no change is missed.
      this.unsubscribe = this.deps.signals?.subscribe((s) => this.onSignal(s));
      this.deadlineTimer = clock.setTimer(Math.max(0, this.deps.deadlineMs - clock.monotonic()), () =>
        this.finish(false),
      );
      this.schedulePoll();
      for (const r of this.runs.values()) this.launch(r);
    });
  }

  private schedulePoll(): void {
    this.pollTimer = this.deps.clock.setTimer(this.deps.fallbackPollMs, () => {
      if (this.finished) return;
      // A new round: drop members (converged too) that turned Evictable unheard, re-probe the rest.
      for (const r of this.runs.values()) {
        if (!this.watched(r) || this.dropIfNotActive(r)) continue;
        if (!r.done && !r.inFlight) this.launch(r);
      }
      if (!this.finished) this.schedulePoll();
    });
  }

  private onSignal(s: MemberSignal): void {
    const r = this.runs.get(s.node);
    if (this.finished || !r || !this.watched(r)) return;
    if (s.type !== 'advance') {
      r.done = s.type === 'left' ? 'left' : 'evicted';
      this.checkDone();
    } else if (r.done) {
      return; // Converged: an advance tells nothing the call still needs.
    } else if (this.spec.call === 'revision') {
      // The advance itself tells the member's applied revision: no probe needed either way.
      r.revision = Math.max(r.revision ?? 0, s.revision);
      if (r.revision >= this.spec.minRevision) {
        r.done = 'converged';
        this.checkDone();
      }
    } else {
      this.launch(r);
    }
  }

  /** True while the member may still be reported evicted: not dropped yet (converged or not). */
  private watched(r: MemberRun): boolean {
    return r.done === undefined || r.done === 'converged';
  }

  /** True (and the member dropped) when it is no longer Active. */
  private dropIfNotActive(r: MemberRun): boolean {
    const state = this.deps.signals?.stateOf(r.member.name) ?? 'active';
    if (state === 'active') return false;
    // A graceful leave arrives as a 'left' signal first; vanishing without one means it went silent.
    r.done = 'evicted';
    this.checkDone();
    return true;
  }

  /** Probes a member now, or right after its in-flight probe returns (at most one in flight). */
  private launch(r: MemberRun): void {
    if (this.finished || r.done) return;
    if (r.inFlight) {
      r.again = true;
      return;
    }
    if (this.dropIfNotActive(r)) return;
    r.inFlight = true;
    r.again = false;
    void this.probeMember(r).then(() => {
      r.inFlight = false;
      if (this.finished) return;
      if (r.done) this.checkDone();
      else if (r.again) this.launch(r);
    });
  }

  /** True when a probe result must be ignored: the call ended or the member was dropped meanwhile. */
  private stale(r: MemberRun): boolean {
    return this.finished || r.done !== undefined;
  }

  /** One probe of one member (all its chunks); never rejects. */
  private async probeMember(r: MemberRun): Promise<void> {
    const { spec } = this;
    if (spec.call === 'revision') {
      try {
        const reply = (await this.deps.probe(
          r.member,
          'max_revision',
          undefined,
          this.deps.deadlineMs,
        )) as MaxRevisionReply;
        if (this.stale(r)) return;
        if (!reply || typeof reply.revision !== 'number')
          throw errors.internal(`malformed max_revision reply from ${r.member.label}`);
        r.answered = true;
        r.revision = reply.revision;
        r.reason = undefined;
        if (reply.revision >= spec.minRevision) r.done = 'converged';
      } catch (err) {
        if (!this.stale(r)) this.recordFailure(r, err);
      }
      return;
    }
    const method: StatusMethod = spec.call === 'applied' ? 'key_revisions' : 'absent_keys';
    const indices = [...r.pending];
    const chunks: number[][] = [];
    for (let i = 0; i < indices.length; i += MAX_KEYS_PER_STATUS_CALL)
      chunks.push(indices.slice(i, i + MAX_KEYS_PER_STATUS_CALL));
    // Chunks go in parallel and share the call's one deadline.
    const results = await Promise.allSettled(
      chunks.map(async (chunk) => {
        const reply = await this.deps.probe(
          r.member,
          method,
          chunk.map((i) => spec.keys[i]!),
          this.deps.deadlineMs,
        );
        if (!this.stale(r)) this.applyChunk(r, chunk, reply);
      }),
    );
    if (this.stale(r)) return;
    let failure: unknown;
    for (const res of results) {
      if (res.status === 'fulfilled') r.answered = true;
      else if (codeOf(res.reason) === Code.Unimplemented) return this.recordFailure(r, res.reason);
      else failure ??= res.reason;
    }
    if (failure !== undefined) this.recordFailure(r, failure);
    else r.reason = undefined;
    if (r.pending.size === 0) r.done = 'converged';
  }

  /** Confirms the keys of one chunk that a reply shows converged; a malformed reply throws. */
  private applyChunk(r: MemberRun, chunk: number[], reply: unknown): void {
    const { spec } = this;
    if (spec.call === 'applied') {
      const keys = (reply as KeyRevisionsReply | undefined)?.keys;
      if (!Array.isArray(keys) || keys.length !== chunk.length) {
        throw errors.internal(`malformed key_revisions reply from ${r.member.label}: expected ${chunk.length} keys`);
      }
      chunk.forEach((idx, j) => {
        const k = keys[j];
        const min = spec.minRevisions[idx] ?? 0;
        if (k && k.present === true && (min === 0 || k.mod_revision >= min)) r.pending.delete(idx);
      });
    } else if (spec.call === 'deleted') {
      const absent = (reply as AbsentKeysReply | undefined)?.absent;
      if (!Array.isArray(absent)) throw errors.internal(`malformed absent_keys reply from ${r.member.label}`);
      const absentSet = new Set(absent.map((k) => formatKey(k)));
      for (const idx of chunk) if (absentSet.has(formatKey(spec.keys[idx]!))) r.pending.delete(idx);
    }
  }

  /** Unimplemented (an older member) counts as ready; anything else makes a laggard for this round. */
  private recordFailure(r: MemberRun, err: unknown): void {
    const le = toLockstepError(err);
    if (le.code === Code.Unimplemented) {
      r.done = 'converged';
      return;
    }
    r.reason = `probe failed: ${le.code}: ${le.message}`;
  }

  private checkDone(): void {
    if (this.finished) return;
    for (const r of this.runs.values()) if (!r.done) return;
    this.finish(true);
  }

  private finish(applied: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.deadlineTimer?.cancel();
    this.pollTimer?.cancel();
    this.unsubscribe?.();
    this.deps.signal?.removeEventListener('abort', this.onAbort);
    const laggards: Laggard[] = [];
    const laggardMembers: WatchedMember[] = [];
    for (const r of this.runs.values()) {
      if (r.done === 'evicted') laggards.push({ node: r.member.label, reason: EVICTED_REASON });
      else if (!r.done) laggards.push(this.laggardOf(r));
      else continue;
      laggardMembers.push(r.member);
    }
    this.resolve({ applied, laggards, laggardMembers });
  }

  /** A not-converged member's last known state. */
  private laggardOf(r: MemberRun): Laggard {
    const { spec } = this;
    const l: Laggard = { node: r.member.label };
    if (spec.call === 'revision') {
      if (r.revision !== undefined) l.current_revision = r.revision;
    } else {
      const all = [...new Set([...r.pending].sort((a, b) => a - b).map((i) => formatKey(spec.keys[i]!)))];
      // Bounded so that a reply naming many laggards stays under the server's payload limit.
      const keys = all.slice(0, MAX_KEYS_PER_LAGGARD);
      if (spec.call === 'applied') l.missing_keys = keys;
      else l.still_present_keys = keys;
      if (all.length > keys.length) l.keys_not_listed = all.length - keys.length;
    }
    const reason = r.reason ?? (r.answered ? undefined : 'no reply before the call ended');
    if (reason !== undefined) l.reason = reason;
    return l;
  }
}
