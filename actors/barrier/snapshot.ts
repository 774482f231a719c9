/**
 * The member side of a barrier call: the frozen snapshot of watched members, and the hub that
 * tells running calls about membership changes and applied-revision advances.
 */
import type { Member, MemberTable } from '../../runtime/membership.js';
import { memberLabel, type Role } from '../../runtime/roles.js';
import { errors } from '../../transport/errors.js';
import type { MemberSignal, MemberSignals, WatchedMember } from './scatter.js';

/** This node as the barrier sees it: always watched, never evicted by its own table. */
export interface SelfMember {
  name: string;
  roles: Role[];
}

/**
 * The watched set of one call: self plus every Active member holding a schema cache, deduplicated
 * by node name, sorted by name. Empty → `Unavailable`.
 */
export function freezeSnapshot(table: Pick<MemberTable, 'active'>, self?: SelfMember): WatchedMember[] {
  const byName = new Map<string, WatchedMember>();
  // Self comes from our own config, which is authoritative over whatever our heartbeats said.
  if (self)
    byName.set(self.name, { name: self.name, roles: [...self.roles], label: memberLabel(self.roles, self.name) });
  for (const m of table.active()) {
    if (m.state !== 'active' || !m.schemaCache || byName.has(m.name)) continue;
    byName.set(m.name, { name: m.name, roles: [...m.roles], label: m.label });
  }
  if (byName.size === 0) throw errors.unavailable('no member holds a schema cache: the barrier has nothing to watch');
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Fans membership changes of a MemberTable and applied-revision advances out to the running calls. */
export class MemberSignalHub implements MemberSignals {
  private readonly listeners = new Set<(signal: MemberSignal) => void>();
  private readonly detachers: Array<() => void> = [];

  constructor(
    private readonly table: MemberTable,
    private readonly selfName?: string,
  ) {
    for (const type of ['evictable', 'gone', 'left'] as const) {
      const handler = (m: Member) => this.emit({ type, node: m.name });
      table.on(type, handler);
      this.detachers.push(() => table.off(type, handler));
    }
  }

  /** Reports that `node` applied up to `revision` (from `P.events.schema`). */
  advance(node: string, revision: number): void {
    this.emit({ type: 'advance', node, revision });
  }

  subscribe(listener: (signal: MemberSignal) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stateOf(node: string): 'active' | 'evictable' | 'absent' {
    // Self is always watched: our own heartbeats may not even reach our own table.
    if (node === this.selfName) return 'active';
    return this.table.get(node)?.state ?? 'absent';
  }

  /** Detaches from the table and drops every listener. */
  close(): void {
    for (const d of this.detachers.splice(0)) d();
    this.listeners.clear();
  }

  /** How many calls are listening (for health). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  private emit(signal: MemberSignal): void {
    if (signal.node === this.selfName && signal.type !== 'advance') return;
    for (const listener of [...this.listeners]) {
      try {
        listener(signal);
      } catch {
        // One call's bug must not stop the others from hearing the signal.
      }
    }
  }
}
