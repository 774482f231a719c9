/**
 * Progress of long commands, drawn by cli-progress on stderr, and only when stderr is a terminal
 * and the output is not `--json`: piped, redirected or machine-read output gets no progress at all
 * (no lines, no escape codes). The bar is cleared when it stops, so what stays on the terminal is
 * the command's own result. Rate and ETA are computed here (pure functions, tested without a
 * terminal); cli-progress renders, throttles and clears.
 */
import cliProgress from 'cli-progress';

/** Redraws per second at most. */
export const PROGRESS_FPS = 8;
/** No ETA before this much of the run: the first batches say little about the rate. */
export const ETA_MIN_ELAPSED_MS = 1000;

/** Where progress is drawn; a TTY write stream in real runs, a fake one in tests. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Whether progress may be drawn: a terminal on `stream`, no `--json`, and a terminal that can redraw. */
export function progressEnabled(json: boolean, stream: ProgressStream, term: string | undefined): boolean {
  return !json && stream.isTTY === true && term !== 'dumb';
}

/** `n` with thousands separators: 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A rate per second, short: 950 → "950/s", 12345 → "12.3k/s", 2.5e6 → "2.5M/s". */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond < 0) return '-';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M/s`;
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(1)}k/s`;
  return `${Math.round(perSecond)}/s`;
}

/** Seconds as "42s", "3m05s" or "1h02m"; "-" when unknown. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Seconds left at the average rate so far; undefined until there is a rate to go by. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | undefined {
  if (done <= 0 || total <= 0 || elapsedMs < ETA_MIN_ELAPSED_MS) return undefined;
  return (Math.max(0, total - done) * elapsedMs) / done / 1000;
}

/** The text after the bar of a write in progress. */
export function writeProgressText(p: {
  sent: number;
  noun: string;
  elapsedMs: number;
  bytesRead: number;
  totalBytes?: number;
}): string {
  const rate = p.elapsedMs > 0 ? formatRate((p.sent * 1000) / p.elapsedMs) : '-';
  const parts = [`${formatCount(p.sent)} ${p.noun} sent`, rate];
  if (p.totalBytes !== undefined) parts.push(`ETA ${formatEta(etaSeconds(p.bytesRead, p.totalBytes, p.elapsedMs))}`);
  return parts.join(' | ');
}

// Lines are cut at the terminal's width instead of switching wrapping off: nothing to restore
// if the command is killed mid-way. The cursor is left alone for the same reason.
const BAR_OPTIONS = {
  fps: PROGRESS_FPS,
  barsize: 20, // with the text, within 80 columns
  clearOnComplete: true,
  linewrap: true,
  hideCursor: false,
  barCompleteChar: '#',
  barIncompleteChar: '.',
} as const;

function bar(stream: ProgressStream, format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar({ ...BAR_OPTIONS, stream, format });
}

/**
 * Lines redrawn in place on a terminal, one cli-progress bar per line showing text made by the
 * caller (`migrate status --watch` draws its own per-target bars, so the live view and the plain
 * output are the same tested text). cli-progress redraws, throttles, and clears them at `stop`.
 */
export class LiveLines {
  private readonly multi: cliProgress.MultiBar;
  private readonly bars: cliProgress.SingleBar[] = [];

  constructor(stream: ProgressStream) {
    this.multi = new cliProgress.MultiBar({ ...BAR_OPTIONS, stream, format: '{line}' });
  }

  /** Shows `lines` from the next redraw on; lines no longer given are left blank. */
  show(lines: readonly string[]): void {
    while (this.bars.length < lines.length) this.bars.push(this.multi.create(0, 0, { line: '' }));
    this.bars.forEach((b, i) => b.update(0, { line: lines[i] ?? '' }));
  }

  /** Clears the lines; call on every path (the redraw timer keeps the process alive). */
  stop(): void {
    this.multi.stop();
  }
}

/** Progress of `lockstep write`: points sent, their rate and, when the input size is known, a bar and ETA. */
export class WriteProgress {
  private readonly bar?: cliProgress.SingleBar;
  private readonly startMs: number;

  /** A progress that draws on `stream` when `enabled`, and otherwise does nothing. */
  constructor(
    enabled: boolean,
    private readonly opts: { noun: string; totalBytes?: number; stream: ProgressStream; now: () => number },
  ) {
    this.startMs = opts.now();
    if (!enabled) return;
    const known = opts.totalBytes !== undefined && opts.totalBytes > 0;
    this.bar = bar(opts.stream, known ? 'writing [{bar}] {percentage}% | {text}' : 'writing | {text}');
    this.bar.start(known ? opts.totalBytes! : 0, 0, { text: this.text(0, 0) });
  }

  /** Input bytes read so far and points (or elements) acknowledged so far. */
  update(bytesRead: number, sent: number): void {
    this.bar?.update(bytesRead, { text: this.text(bytesRead, sent) });
  }

  /** Clears the bar; call on every path (its redraw timer keeps the process alive). */
  stop(): void {
    this.bar?.stop();
  }

  private text(bytesRead: number, sent: number): string {
    const { noun, totalBytes } = this.opts;
    return writeProgressText({ sent, noun, elapsedMs: this.opts.now() - this.startMs, bytesRead, totalBytes });
  }
}

/** Progress of `lockstep cluster up`: NATS, then each node as it becomes ready. */
export class StartProgress {
  private readonly bar?: cliProgress.SingleBar;
  private readonly ready: string[] = [];

  constructor(enabled: boolean, total: number, stream: ProgressStream) {
    if (!enabled) return;
    this.bar = bar(stream, 'starting cluster [{bar}] {value}/{total} nodes ready | {text}');
    this.bar.start(total, 0, { text: 'starting NATS' });
  }

  /** NATS is up (its URL is printed with the result; the bar stays within 80 columns). */
  natsUp(): void {
    this.bar?.update(0, { text: 'NATS up; starting nodes' });
  }

  /** Node `name` answers; `ready` of the nodes do. */
  nodeReady(name: string, ready: number): void {
    this.ready.push(name);
    this.bar?.update(ready, { text: `ready: ${this.ready.join(', ')}` });
  }

  /** Clears the bar; call on every path. */
  stop(): void {
    this.bar?.stop();
  }
}

/**
 * Progress of a command in phases over a known amount of work (`lockstep backup`): a bar with the
 * phase's label, done/total in its unit, the rate and the ETA.
 */
export class PhaseProgress {
  private bar?: cliProgress.SingleBar;
  private total = 0;
  private done = 0;
  private startMs = 0;
  private label = '';
  private unit: (n: number) => string = formatCount;

  constructor(
    private readonly enabled: boolean,
    private readonly stream: ProgressStream,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts a phase: `label`, `total` units, shown by `unit` (counts by default). */
  phase(label: string, total: number, unit: (n: number) => string = formatCount): void {
    this.bar?.stop();
    if (!this.enabled) return;
    Object.assign(this, { label, total, done: 0, startMs: this.now(), unit });
    this.bar = bar(this.stream, '{label} [{bar}] {percentage}% | {text}');
    this.bar.start(Math.max(total, 1), 0, { label, text: this.text() });
  }

  /** Adds `n` units done (the total grows when the work turned out larger). */
  add(n: number): void {
    if (!this.bar) return;
    this.done += n;
    if (this.done > this.total) this.bar.setTotal((this.total = this.done));
    this.bar.update(this.done, { label: this.label, text: this.text() });
  }

  /** Clears the bar; call on every path (its redraw timer keeps the process alive). */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private text(): string {
    const elapsed = this.now() - this.startMs;
    const rate = elapsed > 0 ? `${this.unit((this.done * 1000) / elapsed)}/s` : '-';
    return `${this.unit(this.done)} of ${this.unit(this.total)} | ${rate} | ETA ${formatEta(etaSeconds(this.done, this.total, elapsed))}`;
  }
}

/** Bytes, short: 950 → "950 B", 12345 → "12.1 KiB", 3e6 → "2.9 MiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}
