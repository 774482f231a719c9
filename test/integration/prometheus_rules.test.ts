/**
 * The Prometheus files in deploy/prometheus/ as Debian's promtool sees them: the scrape config and
 * the alert rules are valid, and every alert fires on the series it is for and on no other
 * (test/prometheus/alerts_test.yml, run by `promtool test rules`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function promtool(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`promtool did not run (npm run ensure-test-tools installs it): ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('prometheus rules (promtool)', function () {
  this.timeout(60_000);

  it('promtool - the alert rules and the scrape config are valid', () => {
    const rules = promtool('check', 'rules', 'deploy/prometheus/alerts.yml');
    assert.equal(rules.code, 0, rules.out);
    assert.match(rules.out, /SUCCESS: 7 rules found/);
    const config = promtool('check', 'config', 'deploy/prometheus/prometheus.yml');
    assert.equal(config.code, 0, config.out);
  });

  it('promtool - each alert fires on its series, after its delay, and stays quiet on healthy ones', () => {
    const r = promtool('test', 'rules', 'test/prometheus/alerts_test.yml');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });
});
