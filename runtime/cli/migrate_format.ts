/**
 * What `lockstep migrate …` prints, as pure functions of the replies (and of a time for rates),
 * so every layout is tested without a server or a terminal. Rates come from successive events
 * while watching (RateTracker), else from the average since the copy started.
 */
import {
  migrationEnded,
  type MigrationEvent,
  type MigrationState,
  type MigrationStatus,
  type OperationStatus,
  type PlanReply,
} from '../../transport/migration_types.js';
import { table } from './output.js';
import { formatCount, formatEta, formatRate } from './progress.js';

/** Characters of a target's progress bar between its brackets. */
export const BAR_WIDTH = 10;
/** Rates while watching are over the events of this last stretch of time (server time, from `at`). */
export const RATE_WINDOW_MS = 30_000;

/** True when a watch of a migration in `state` ends: it is over, or stopped (it waits for `resume`). */
export function watchEnds(state: MigrationState): boolean {
  return migrationEnded(state) || state === 'stopped';
}

/** `[#####...............]  25%`; the percent is floored, so 100% means every row. */
export function progressBar(done: number, total: number, width = BAR_WIDTH): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.floor(fraction * width);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}`;
}

/** A row count in at most five characters: 9,999 → "9,999", 12,345 → "12.3k", 250,000 → "250k", 1.2e6 → "1.2M". */
export function formatShortCount(n: number): string {
  if (n < 10_000) return formatCount(n);
  if (n < 1e6) return n < 1e5 ? `${(n / 1e3).toFixed(1)}k` : `${Math.floor(n / 1e3)}k`;
  if (n < 1e9) return n < 1e8 ? `${(n / 1e6).toFixed(1)}M` : `${Math.floor(n / 1e6)}M`;
  return `${(n / 1e9).toFixed(1)}G`;
}

/** Epoch ms as RFC 3339 to the second. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function cutoverMode(r: { defer_cutover: boolean }): string {
  return r.defer_cutover ? 'cutover on request' : 'cutover automatic';
}

/** `plan`: the policies, then per target its kind, rows to copy and why. */
export function planLines(r: PlanReply): string[] {
  const rewrites = r.targets.filter((t) => t.kind === 'rewrite');
  const rows = rewrites.reduce((n, t) => n + (t.rows_total ?? 0), 0);
  const uncounted = rewrites.filter((t) => t.rows_total === null).length;
  const instant = r.targets.length - rewrites.length;
  const rowsOf = (t: PlanReply['targets'][number]) =>
    t.kind !== 'rewrite' ? '-' : t.rows_total === null ? 'unknown' : formatCount(t.rows_total);
  return [
    `policy ${r.policy}, on_failure ${r.on_failure}, ${cutoverMode(r)}`,
    ...table(
      ['TARGET', 'KIND', 'ROWS TO COPY', 'REASON'],
      r.targets.map((t) => [t.target, t.kind, rowsOf(t), t.reason]),
    ),
    `${r.targets.length} target${r.targets.length === 1 ? '' : 's'}: ${rewrites.length} rewrite ` +
      `(${formatCount(rows)} rows to copy${uncounted > 0 ? `, ${uncounted} not counted: a shard did not answer` : ''}), ` +
      `${instant} instant`,
  ];
}

/** Rows per second of one target's copy, or undefined when there is nothing to go by. */
export type RateOf = (op: OperationStatus) => number | undefined;

/** The average rate of a copy from its start to `nowMs` (or to its end, once it ended). */
export function averageRate(nowMs: number): RateOf {
  return (op) => {
    if (op.copy_started_at === null || op.rows_copied <= 0) return undefined;
    const end = op.copy_completed_at === null ? nowMs : Date.parse(op.copy_completed_at);
    const ms = end - Date.parse(op.copy_started_at);
    return ms > 0 ? (op.rows_copied * 1000) / ms : undefined;
  };
}

/**
 * Rates from successive events: per target, the rows copied at each event's time (`at`, the
 * server's clock, like the operations' own times), over the last RATE_WINDOW_MS. A count that goes
 * down (a copy that restarted) starts over.
 */
export class RateTracker {
  private readonly samples = new Map<string, { at: number; rows: number }[]>();

  /** Records every operation of `status` as of `at`. */
  observe(at: number, status: MigrationStatus): void {
    for (const op of status.operations) {
      let s = this.samples.get(op.target) ?? [];
      const last = s[s.length - 1];
      if (last && at <= last.at) continue; // an event delivered late says nothing newer
      if (last && op.rows_copied < last.rows) s = [];
      s.push({ at, rows: op.rows_copied });
      // Keep one sample at or before the window's start as the anchor the rate is measured from.
      while (s.length > 2 && s[1]!.at <= at - RATE_WINDOW_MS) s.shift();
      this.samples.set(op.target, s);
    }
  }

  /** The rate over the window, or undefined before two samples apart in time. */
  rate(target: string): number | undefined {
    const s = this.samples.get(target);
    if (!s || s.length < 2) return undefined;
    const a = s[0]!;
    const b = s[s.length - 1]!;
    return b.at > a.at ? ((b.rows - a.rows) * 1000) / (b.at - a.at) : undefined;
  }

  /** Rates from the events, and where they have none yet, the average of `fallback`. */
  rateOf(fallback: RateOf): RateOf {
    return (op) => this.rate(op.target) ?? fallback(op);
  }
}

// Rate and ETA mean something only while a copy runs.
function rateAndEta(op: OperationStatus, rateOf: RateOf): [string, string] {
  if (op.kind !== 'rewrite' || op.state !== 'running') return ['-', '-'];
  const rate = rateOf(op);
  if (rate === undefined) return ['-', '-'];
  const eta = rate > 0 ? Math.max(0, op.rows_total - op.rows_copied) / rate : undefined;
  return [formatRate(rate), formatEta(eta)];
}

/** One target's progress: its bar, rows, rate and ETA (`-` for an instant change: it copies nothing). */
export function progressCells(op: OperationStatus, rateOf: RateOf): [string, string, string, string] {
  if (op.kind !== 'rewrite') return ['-', '-', '-', '-'];
  const [rate, eta] = rateAndEta(op, rateOf);
  return [
    progressBar(op.rows_copied, op.rows_total),
    `${formatShortCount(op.rows_copied)}/${formatShortCount(op.rows_total)}`,
    rate,
    eta,
  ];
}

/** The first line of a status: id, state and the server's headline. */
export function statusHeadline(s: MigrationStatus): string {
  return `migration ${s.id} ${s.state}: ${s.headline}`;
}

/**
 * `status`: the headline, the policies, one row per target; failed targets' errors below. The
 * columns that move come first, so an 80-column terminal (where the live view cuts lines) shows
 * them; lease and kind follow.
 */
export function statusLines(s: MigrationStatus, rateOf: RateOf): string[] {
  const rows = s.operations.map((op) => {
    const [bar, rows, rate, eta] = progressCells(op, rateOf);
    return [op.target, op.state, bar, rows, rate, eta, op.lease_owner ?? '-', op.kind];
  });
  return [
    statusHeadline(s),
    `policy ${s.policy}, on_failure ${s.on_failure}, ${cutoverMode(s)}, created ${s.created_at}`,
    ...table(['TARGET', 'STATE', 'PROGRESS', 'ROWS', 'RATE', 'ETA', 'LEASE', 'KIND'], rows),
    ...s.operations.filter((op) => op.error !== null).map((op) => `${op.target}: ${op.error}`),
  ];
}

/**
 * One plain line per event while watching without a terminal: time, kind, the event's target
 * with its progress, then the migration's state and headline.
 */
export function eventLine(ev: MigrationEvent, rateOf: RateOf): string {
  const op = ev.target === undefined ? undefined : ev.status.operations.find((o) => o.target === ev.target);
  const parts = [formatTime(ev.at), ev.kind];
  if (ev.target !== undefined) parts.push(op ? `${ev.target} ${op.state}` : ev.target);
  if (op && op.kind === 'rewrite') {
    const [bar, rows, rate, eta] = progressCells(op, rateOf);
    parts.push(bar, rows, rate, `ETA ${eta}`);
  }
  return `${parts.join(' ')} | ${statusHeadline(ev.status)}`;
}

/** `list`: one row per migration, newest first as the server sends them. */
export function listLines(ms: readonly MigrationStatus[]): string[] {
  if (ms.length === 0) return ['no migrations'];
  return table(
    ['ID', 'STATE', 'TARGETS', 'POLICY', 'CREATED', 'HEADLINE'],
    ms.map((m) => {
      const done = m.operations.filter((o) => o.state === 'completed').length;
      return [
        m.id,
        m.state,
        `${done}/${m.operations.length} ${m.operations.map((o) => o.target).join(',')}`,
        m.policy,
        m.created_at,
        m.headline,
      ];
    }),
  );
}

/** The line an intent (`cutover`, `stop`, `resume`, `cancel`, `release`) prints: what was asked, and where things stand. */
export function intentLine(verb: string, s: MigrationStatus, target?: string): string {
  const what = target === undefined ? verb : `${verb} of ${target}`;
  return `${what} requested for migration ${s.id}; now ${s.state}: ${s.headline}`;
}
