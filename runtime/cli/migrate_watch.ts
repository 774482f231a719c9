/**
 * `lockstep migrate status ID --watch`: follows a migration's events until it ends (completed,
 * failed, cancelled or stopped). Three views of the same events: on a terminal the status table
 * redrawn in place; piped, the table once and then one plain line per event (no escape codes);
 * with `--json`, one MigrationEvent per line, the first being the status at the start as a `state`
 * event. Exit 0 when the migration completed, EXIT_NOT_COMPLETED when it ended otherwise.
 */
import type { LockstepError } from '../../transport/errors.js';
import type { MigrationClient } from '../../transport/migration_client.js';
import type { MigrationEvent, MigrationStatus } from '../../transport/migration_types.js';
import { averageRate, eventLine, RateTracker, statusLines, watchEnds } from './migrate_format.js';
import { LiveLines, type ProgressStream } from './progress.js';

/** Exit code of `status --watch` when the migration ended failed, cancelled or stopped. */
export const EXIT_NOT_COMPLETED = 1;

/**
 * Without an event for this long, the watch asks for the status: events are core NATS messages
 * (lost on a reconnect), and a change made without one must still end the watch.
 */
export const WATCH_POLL_MS = 5_000;

/** How a watch shows what it sees. */
type ViewMode = 'json' | 'live' | 'plain';

/** What a watch needs from its command. */
export interface WatchOptions {
  mode: ViewMode;
  /** Where the result goes (stdout in real runs). */
  stream: ProgressStream;
  /** Warnings (an undecodable event) go here, never into the result. */
  warn: (line: string) => void;
  /** The client's clock, for the first status's rates and the first JSON line's time. */
  now: () => number;
}

interface View {
  start(s: MigrationStatus): void;
  event(ev: MigrationEvent): void;
  end(s: MigrationStatus): void;
  /** Releases the terminal; safe to call more than once. */
  close(): void;
}

function makeView(o: WatchOptions): View {
  const print = (lines: readonly string[]) => {
    o.stream.write(`${lines.join('\n')}\n`);
  };
  const rates = new RateTracker();
  // Rates from the events (server time), else the average since each copy started as of the event.
  const rateAt = (ev: MigrationEvent) => {
    rates.observe(ev.at, ev.status);
    return rates.rateOf(averageRate(ev.at));
  };
  switch (o.mode) {
    case 'json':
      return {
        start: (s) => print([JSON.stringify({ id: s.id, at: o.now(), kind: 'state', status: s })]),
        event: (ev) => print([JSON.stringify(ev)]),
        end: () => undefined,
        close: () => undefined,
      };
    case 'plain':
      return {
        start: (s) => print(statusLines(s, averageRate(o.now()))),
        event: (ev) => print([eventLine(ev, rateAt(ev))]),
        end: () => undefined,
        close: () => undefined,
      };
    case 'live': {
      const live = new LiveLines(o.stream);
      let closed = false;
      const close = () => {
        if (!closed) live.stop();
        closed = true;
      };
      return {
        start: (s) => live.show(statusLines(s, averageRate(o.now()))),
        event: (ev) => live.show(statusLines(ev.status, rateAt(ev))),
        // The live lines are cleared; what stays on the terminal is the final status.
        end: (s) => {
          close();
          print(statusLines(s, averageRate(o.now())));
        },
        close,
      };
    }
  }
}

/**
 * Watches migration `id` until it ends and returns the exit code. Subscribes before reading the
 * status, so no event in between is lost; events that arrive before the status are shown after it.
 */
export async function watchMigration(migrations: MigrationClient, id: string, o: WatchOptions): Promise<number> {
  const queue: MigrationEvent[] = [];
  let wake: (() => void) | undefined;
  const watch = migrations.watch(
    id,
    (ev) => {
      queue.push(ev);
      wake?.();
    },
    (err: LockstepError) => o.warn(`warning: skipped an event of migration ${id}: ${err.code}: ${err.message}`),
  );
  let view: View | undefined;
  try {
    let status = await migrations.status(id);
    view = makeView(o);
    view.start(status);
    while (!watchEnds(status.state)) {
      if (queue.length === 0) {
        let timer: NodeJS.Timeout | undefined;
        const heard = await new Promise<boolean>((resolve) => {
          wake = () => resolve(true);
          timer = setTimeout(() => resolve(false), WATCH_POLL_MS);
        });
        clearTimeout(timer);
        if (!heard) {
          const polled = await migrations.status(id);
          if (JSON.stringify(polled) !== JSON.stringify(status))
            queue.push({ id, at: o.now(), kind: 'state', status: polled });
        }
      }
      wake = undefined;
      const ev = queue.shift();
      if (ev === undefined) continue;
      status = ev.status;
      view.event(ev);
    }
    view.end(status);
    return status.state === 'completed' ? 0 : EXIT_NOT_COMPLETED;
  } finally {
    watch.stop();
    view?.close();
  }
}
