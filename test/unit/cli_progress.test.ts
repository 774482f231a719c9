/**
 * CLI progress: the pure parts (rate, ETA, the text), and what the bars write on a terminal and
 * (nothing) elsewhere. A fake stream stands in for the terminal; the real one is driven through a
 * pseudo-terminal in cli_write.test.ts.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import {
  etaSeconds,
  formatBytes,
  formatEta,
  formatRate,
  PhaseProgress,
  progressEnabled,
  StartProgress,
  WriteProgress,
  writeProgressText,
  type ProgressStream,
} from '../../runtime/cli/progress.js';

/** A writable that records what is written and claims to be (or not to be) a terminal. */
function fakeStream(isTTY: boolean): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return Object.assign(w, { isTTY, columns: 120, text: () => chunks.join('') });
}

describe('cli progress', () => {
  it('cli progress - drawn only on a terminal, without --json, on a terminal that can redraw', () => {
    assert.equal(progressEnabled(false, fakeStream(true), 'xterm'), true);
    assert.equal(progressEnabled(true, fakeStream(true), 'xterm'), false);
    assert.equal(progressEnabled(false, fakeStream(false), 'xterm'), false);
    assert.equal(progressEnabled(false, fakeStream(true), 'dumb'), false);
    assert.equal(progressEnabled(false, fakeStream(true), undefined), true);
  });

  it('cli progress - rate and ETA read well and say "-" while unknown', () => {
    assert.equal(formatRate(950), '950/s');
    assert.equal(formatRate(12_345), '12.3k/s');
    assert.equal(formatRate(2_500_000), '2.5M/s');
    assert.equal(formatRate(Number.NaN), '-');
    assert.equal(formatEta(undefined), '-');
    assert.equal(formatEta(42.4), '42s');
    assert.equal(formatEta(185), '3m05s');
    assert.equal(formatEta(3720), '1h02m');
    // A quarter done in 2 s: 6 s to go. Too early, or nothing done yet: unknown.
    assert.equal(etaSeconds(250, 1000, 2000), 6);
    assert.equal(etaSeconds(250, 1000, 500), undefined);
    assert.equal(etaSeconds(0, 1000, 5000), undefined);
    assert.equal(
      writeProgressText({ sent: 25_000, noun: 'points', elapsedMs: 2000, bytesRead: 250, totalBytes: 1000 }),
      '25,000 points sent | 12.5k/s | ETA 6s',
    );
    assert.equal(
      writeProgressText({ sent: 10, noun: 'elements', elapsedMs: 1000, bytesRead: 250 }),
      '10 elements sent | 10/s',
    );
  });

  it('cli progress - a write draws points, rate and ETA on a terminal, then clears its line', () => {
    const stream = fakeStream(true);
    let now = 0;
    const p = new WriteProgress(true, { noun: 'points', totalBytes: 1000, stream, now: () => now });
    now = 2000;
    p.update(250, 25_000);
    p.stop();
    const text = stream.text();
    assert.match(text, /writing \[#+\.+\] 25% \| 25,000 points sent \| 12\.5k\/s \| ETA 6s/);
    assert.ok(text.includes('\x1b['), 'redraws with escape codes');
    assert.ok(text.endsWith('\x1b[2K'), `the line is not cleared at the end: ${JSON.stringify(text.slice(-20))}`);
  });

  it('cli progress - cluster start shows each node as it becomes ready', () => {
    const stream = fakeStream(true);
    const p = new StartProgress(true, 3, stream);
    p.natsUp();
    p.nodeReady('l1', 1);
    p.nodeReady('d1', 2);
    p.stop();
    assert.match(stream.text(), /starting cluster \[#+\.+\] 2\/3 nodes ready \| ready: l1, d1/);
  });

  it('cli progress - a backup draws each phase with its unit, rate and ETA, then clears its line', () => {
    const stream = fakeStream(true);
    let now = 0;
    const p = new PhaseProgress(true, stream, () => now);
    try {
      p.phase('checking', 4 * 1024 * 1024, formatBytes);
      now = 2000;
      p.add(1024 * 1024);
      // The next phase ends this one (a bar draws its last state when it stops).
      p.phase('writing', 10_000);
      assert.match(stream.text(), /checking \[#+\.+\] 25% \| 1\.0 MiB of 4\.0 MiB \| 512\.0 KiB\/s \| ETA 6s/);
      now = 3000;
      p.add(12_000); // more than planned: the total follows
    } finally {
      p.stop();
    }
    assert.match(stream.text(), /writing \[#+\] 100% \| 12,000 of 12,000 \| 12,000\/s/);
    assert.ok(stream.text().endsWith('\x1b[2K'), 'the line is cleared at the end');
  });

  it('cli progress - disabled progress writes nothing at all', () => {
    const stream = fakeStream(true);
    const w = new WriteProgress(false, { noun: 'points', totalBytes: 10, stream, now: () => 0 });
    w.update(5, 5);
    w.stop();
    const s = new StartProgress(false, 2, stream);
    s.natsUp();
    s.nodeReady('l1', 1);
    s.stop();
    const b = new PhaseProgress(false, stream, () => 0);
    b.phase('writing', 10);
    b.add(5);
    b.stop();
    assert.equal(stream.text(), '');
  });
});
