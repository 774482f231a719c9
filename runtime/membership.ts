/**
 * Membership from heartbeats: Active → Evictable (no heartbeat for `evictableAfterMs`) → gone
 * (none for `goneAfterMs`). A heartbeat with state `leaving` removes the member at once (graceful).
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from './clock.js';
import { memberLabel, type Role } from './roles.js';

/** What a node publishes on `members.heartbeat`. */
export interface Heartbeat {
  name: string;
  roles: Role[];
  state: 'active' | 'leaving';
  /** The node runs a schema watcher (every node today; older nodes may not). */
  schema_cache: boolean;
  pid: number;
  started_at: number;
  metrics_port?: number;
}

/** Membership timing; defaults suit a LAN. */
export interface MembershipTiming {
  heartbeatIntervalMs: number;
  evictableAfterMs: number;
  goneAfterMs: number;
}

export const DEFAULT_MEMBERSHIP_TIMING: MembershipTiming = {
  heartbeatIntervalMs: 1000,
  evictableAfterMs: 3000,
  goneAfterMs: 10_000,
};

/** A member as the table sees it. */
export interface Member {
  name: string;
  roles: Role[];
  /** `<role>-<name>`. */
  label: string;
  state: 'active' | 'evictable';
  schemaCache: boolean;
  lastSeenMs: number;
  startedAt: number;
  pid: number;
  metricsPort?: number;
}

/** Events: `active` (joined or came back), `evictable`, `gone`, `left` (graceful). */
export interface MemberTableEvents {
  active: [Member];
  evictable: [Member];
  gone: [Member];
  left: [Member];
}

/** The membership table one actor keeps from heartbeats it hears. */
export class MemberTable extends EventEmitter<MemberTableEvents> {
  private readonly members = new Map<string, Member>();
  private timer?: TimerHandle;

  constructor(
    private readonly clock: Clock,
    private readonly timing: MembershipTiming,
  ) {
    super();
  }

  /**
   * Starts the periodic state check. A check that runs more than one interval behind its schedule
   * means this thread did not run meanwhile (CPU starvation, a long GC): the heartbeats of that
   * time may still wait unread, so the pause is not counted as the members' silence.
   */
  start(): void {
    const everyMs = Math.max(50, Math.floor(this.timing.heartbeatIntervalMs / 2));
    const tick = (dueMs: number) => {
      const now = this.clock.monotonic();
      const pausedMs = now - dueMs;
      if (pausedMs > everyMs)
        for (const m of this.members.values()) m.lastSeenMs = Math.min(now, m.lastSeenMs + pausedMs);
      this.tick();
      const next = this.clock.monotonic() + everyMs;
      this.timer = this.clock.setTimer(everyMs, () => tick(next));
    };
    tick(this.clock.monotonic());
  }

  stop(): void {
    this.timer?.cancel();
  }

  /** Records a heartbeat. */
  observe(hb: Heartbeat): void {
    if (!hb || typeof hb.name !== 'string' || !Array.isArray(hb.roles)) return;
    const existing = this.members.get(hb.name);
    if (hb.state === 'leaving') {
      if (existing) {
        this.members.delete(hb.name);
        this.emit('left', existing);
      }
      return;
    }
    const now = this.clock.monotonic();
    const m: Member = {
      name: hb.name,
      roles: hb.roles,
      label: memberLabel(hb.roles, hb.name),
      state: 'active',
      schemaCache: hb.schema_cache !== false,
      lastSeenMs: now,
      startedAt: hb.started_at,
      pid: hb.pid,
      metricsPort: hb.metrics_port,
    };
    this.members.set(hb.name, m);
    if (!existing || existing.state !== 'active') this.emit('active', m);
  }

  /** Moves silent members along Active → Evictable → gone. */
  tick(): void {
    const now = this.clock.monotonic();
    for (const m of [...this.members.values()]) {
      const silent = now - m.lastSeenMs;
      if (silent >= this.timing.goneAfterMs) {
        this.members.delete(m.name);
        this.emit('gone', m);
      } else if (silent >= this.timing.evictableAfterMs && m.state === 'active') {
        m.state = 'evictable';
        this.emit('evictable', m);
      }
    }
  }

  /** A member by name. */
  get(name: string): Member | undefined {
    return this.members.get(name);
  }

  /** Every known member, sorted by name. */
  all(): Member[] {
    return [...this.members.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Active members, sorted by name. */
  active(): Member[] {
    return this.all().filter((m) => m.state === 'active');
  }
}
