// Spec reporter that also prints the slowest tests and the wall time (so growth is seen early), then
// `N passed, N failed, N skipped` alone on the last line (read by CI).
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_BEGIN, EVENT_RUN_END, EVENT_TEST_FAIL, EVENT_TEST_PASS } = Mocha.Runner.constants;

/** How many of the slowest tests the summary lists. */
const SLOWEST_SHOWN = 10;

/** `12.3 s` or `2 min 05.1 s`. */
function formatSeconds(ms) {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${(s - m * 60).toFixed(1).padStart(4, '0')} s`;
}

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    /** Tests that ran, with their durations; hooks are left out (a failing hook reports as a fail too). */
    const timed = [];
    let runStartedMs = performance.now();
    const record = (test) => {
      if (test.type !== 'test' || typeof test.duration !== 'number') return;
      // In --parallel runs the test is a deserialized copy whose fullTitle() still works.
      const title = typeof test.fullTitle === 'function' ? test.fullTitle() : test.title;
      timed.push({ title, ms: test.duration });
    };
    runner.on(EVENT_TEST_PASS, record);
    runner.on(EVENT_TEST_FAIL, record);
    runner.once(EVENT_RUN_BEGIN, () => {
      runStartedMs = performance.now();
    });
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      const runMs = performance.now() - runStartedMs;
      // After the spec reporter's own epilogue, which also runs on EVENT_RUN_END.
      process.nextTick(() => {
        const slowest = timed.sort((a, b) => b.ms - a.ms).slice(0, SLOWEST_SHOWN);
        const out = [`\nslowest ${slowest.length} tests:`];
        for (const t of slowest) out.push(`  ${String(Math.round(t.ms)).padStart(7)} ms  ${t.title}`);
        // Wall time covers loading the files too (tsx compiles them), not just running the tests.
        out.push(`wall time ${formatSeconds(process.uptime() * 1000)} (tests ran ${formatSeconds(runMs)})`);
        out.push('');
        out.push(`${s.passes || 0} passed, ${s.failures || 0} failed, ${s.pending || 0} skipped`);
        process.stdout.write(`${out.join('\n')}\n`);
      });
    });
  }
}
module.exports = SummaryReporter;
