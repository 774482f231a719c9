/**
 * `lockstep migrate`'s pure parts: the spec file reader (every shape problem named with the file,
 * before anything is sent) and what plan, status, watch events, list and intents print.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  averageRate,
  eventLine,
  formatShortCount,
  intentLine,
  listLines,
  watchEnds,
  planLines,
  progressBar,
  RATE_WINDOW_MS,
  RateTracker,
  statusLines,
  type RateOf,
} from '../../runtime/cli/migrate_format.js';
import { parseMigrationSpec, readMigrationSpec } from '../../runtime/cli/migrate_spec.js';
import { Code, type LockstepError } from '../../transport/errors.js';
import { checkMigrationId } from '../../transport/migration_client.js';
import {
  completedStatus,
  copyingStatus,
  failedStatus,
  migrationEvent,
  migrationStatus,
  planReply,
  T0,
} from '../harness/migration_fixtures.js';
import { useTempDir } from '../harness/temp_dir.js';

/** Asserts `fn` throws InvalidArgument whose message matches `want`. */
function refuses(fn: () => unknown, want: RegExp): void {
  assert.throws(fn, (err: LockstepError) => {
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.message, want);
    return true;
  });
}

const noRate: RateOf = () => undefined;

describe('cli migrate spec', () => {
  const dir = useTempDir('migrate-spec');

  it('migrate spec - a full file becomes the spec as written; comments and flow style are fine', () => {
    const text = `targets: [metrics_eu, metrics_us, metrics_ap]   # order matters
policy: barrier            # rolling | barrier | parallel (default rolling)
on_failure: pause
defer_cutover: true
change:
  group: { ttl: 14d, shards: 4, placement: { data_nodes: [d1, d2] } }
  measures:
    cpu: { entity: [host], fields: { value: float, errors: int }, tags: { region: string } }
`;
    assert.deepEqual(parseMigrationSpec(text, 'spec.yaml'), {
      targets: ['metrics_eu', 'metrics_us', 'metrics_ap'],
      policy: 'barrier',
      on_failure: 'pause',
      defer_cutover: true,
      change: {
        group: { ttl: '14d', shards: 4, placement: { data_nodes: ['d1', 'd2'] } },
        measures: { cpu: { entity: ['host'], fields: { value: 'float', errors: 'int' }, tags: { region: 'string' } } },
      },
    });
  });

  it("migrate spec - the README's example spec reads as documented", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### `lockstep migrate`'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section);
    assert.ok(yaml, 'no yaml block in the README section');
    const spec = parseMigrationSpec(yaml[1]!, 'README.md');
    assert.deepEqual(spec.targets, ['metrics_eu', 'metrics_us', 'metrics_ap']);
    assert.equal(spec.policy, 'barrier');
  });

  it('migrate spec - keys left out stay out, so the server applies its defaults', () => {
    const spec = parseMigrationSpec('targets:\n  - g1\nchange:\n  group:\n    ttl: 14d\n', 's.yaml');
    assert.deepEqual(spec, { targets: ['g1'], change: { group: { ttl: '14d' } } });
  });

  it('migrate spec - every shape problem is InvalidArgument naming the file and what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['targets: [a, b\npolicy: x\n', /^cannot parse f\.yaml: .* at line 2, column 1$/],
      ['a: 1\na: 2\n', /^cannot parse f\.yaml: Map keys must be unique at line 2, column 1$/],
      ['x: *nowhere\n', /^cannot parse f\.yaml: .*alias/i],
      ['targets: [a]\n---\nchange: {}\n', /^f\.yaml: holds 2 YAML documents; a migration spec is one$/],
      ['', /^f\.yaml: must be a mapping with targets and change, got nothing$/],
      ['just text\n', /^f\.yaml: must be a mapping with targets and change, got "just text"$/],
      ['- a\n', /^f\.yaml: must be a mapping .*, got a list$/],
      [
        'targets: [a]\nchange: {}\nextra: 1\npolcy: x\n',
        /^f\.yaml: unknown keys extra, polcy \(keys: targets, policy, on_failure, defer_cutover, change\)$/,
      ],
      ['change: {}\n', /^f\.yaml: targets is missing/],
      ['targets: a\nchange: {}\n', /^f\.yaml: targets must be a non-empty list of group names, got "a"$/],
      ['targets: []\nchange: {}\n', /^f\.yaml: targets must be a non-empty list of group names, got an empty list$/],
      ['targets: {a: 1}\nchange: {}\n', /^f\.yaml: targets must be a non-empty list .*, got a mapping$/],
      ['targets: [a, 7]\nchange: {}\n', /^f\.yaml: targets\[1\] must be a group name .*, got 7$/],
      ['targets: [a, metrics.eu]\nchange: {}\n', /^f\.yaml: targets\[1\] must be a group name .*, got "metrics\.eu"$/],
      [
        'targets: [a]\npolicy: eager\nchange: {}\n',
        /^f\.yaml: policy must be one of rolling, barrier, parallel, got "eager"$/,
      ],
      ['targets: [a]\npolicy: 3\nchange: {}\n', /^f\.yaml: policy must be one of .*, got 3$/],
      [
        'targets: [a]\non_failure: retry\nchange: {}\n',
        /^f\.yaml: on_failure must be one of halt, continue, pause, got "retry"$/,
      ],
      ['targets: [a]\ndefer_cutover: "no"\nchange: {}\n', /^f\.yaml: defer_cutover must be true or false, got "no"$/],
      ['targets: [a]\ndefer_cutover: 1\nchange: {}\n', /^f\.yaml: defer_cutover must be true or false, got 1$/],
      ['targets: [a]\n', /^f\.yaml: change is missing/],
      ['targets: [a]\nchange:\n', /^f\.yaml: change must be a mapping \(group and\/or measures\), got nothing$/],
      ['targets: [a]\nchange: [ttl]\n', /^f\.yaml: change must be a mapping .*, got a list$/],
    ];
    for (const [text, want] of cases) refuses(() => parseMigrationSpec(text, 'f.yaml'), want);
  });

  it('migrate spec - an unreadable file is named with the reason', () => {
    const missing = join(dir.path, 'missing.yaml');
    refuses(() => readMigrationSpec(missing), new RegExp(`^cannot read ${missing}: ENOENT`));
    refuses(() => readMigrationSpec(dir.path), /^cannot read .*: EISDIR/);
  });

  it('migrate id - one subject token: no dot, wildcard or space', () => {
    assert.equal(checkMigrationId('mmx7ybyb8_729f22fc'), 'mmx7ybyb8_729f22fc');
    for (const bad of ['', 'a.b', 'a*', '>', 'a b', 'm'.repeat(64), 7, 'mig_0001-A', 'Mig_1']) {
      refuses(() => checkMigrationId(bad), /^migration id .* is invalid/);
    }
  });
});

describe('cli migrate output', () => {
  it('migrate output - the bar floors, so 100% means every row; counts shorten to five characters', () => {
    assert.equal(progressBar(0, 1000), '[..........]   0%');
    assert.equal(progressBar(250, 1000), '[##........]  25%');
    assert.equal(progressBar(999, 1000), '[#########.]  99%');
    assert.equal(progressBar(1000, 1000), '[##########] 100%');
    assert.equal(progressBar(5, 0), '[..........]   0%');
    assert.deepEqual([0, 9999, 12_345, 250_000, 1_000_000, 12_345_678, 250_000_000, 3e9].map(formatShortCount), [
      '0',
      '9,999',
      '12.3k',
      '250k',
      '1.0M',
      '12.3M',
      '250M',
      '3.0G',
    ]);
  });

  it('migrate output - plan: policies, one row per target with rows to copy and reason, a total', () => {
    assert.deepEqual(planLines(planReply()), [
      'policy barrier, on_failure halt, cutover automatic',
      'TARGET      KIND     ROWS TO COPY  REASON',
      'metrics_eu  rewrite  1,200,000     shards 2 → 4',
      'metrics_us  rewrite  800,000       shards 2 → 4',
      'metrics_ap  instant  -             ttl 7d → 14d',
      '3 targets: 2 rewrite (2,000,000 rows to copy), 1 instant',
    ]);
    const one = { ...planReply(), defer_cutover: true, targets: [planReply().targets[2]!] };
    assert.equal(planLines(one)[0], 'policy barrier, on_failure halt, cutover on request');
    assert.equal(planLines(one).at(-1), '1 target: 0 rewrite (0 rows to copy), 1 instant');
    // A shard that did not answer leaves its target's rows uncounted, and the total says so.
    const [eu, us, ap] = planReply().targets;
    const lost = planLines({ ...planReply(), targets: [eu!, { ...us!, rows_total: null }, ap!] });
    assert.equal(lost[3], 'metrics_us  rewrite  unknown       shards 2 → 4');
    assert.equal(
      lost.at(-1),
      '3 targets: 2 rewrite (1,200,000 rows to copy, 1 not counted: a shard did not answer), 1 instant',
    );
  });

  it('migrate output - status: headline, policies, per target state, bar, rows, rate, ETA, lease, kind', () => {
    // 150 s after T0, metrics_us copied 250k rows in the 100 s since its copy started: 2500/s.
    assert.deepEqual(statusLines(copyingStatus(), averageRate(T0 + 150_000)), [
      'migration mig_0001 running: copying metrics_us',
      'policy barrier, on_failure halt, cutover automatic, created 2025-05-01T10:00:00Z',
      'TARGET      STATE                PROGRESS           ROWS       RATE    ETA    LEASE       KIND',
      'metrics_eu  waiting_for_cutover  [##########] 100%  1.0M/1.0M  -       -      -           rewrite',
      'metrics_us  running              [##........]  25%  250k/1.0M  2500/s  5m00s  claimer-c1  rewrite',
      'metrics_ap  pending              -                  -          -       -      -           instant',
    ]);
  });

  it('migrate output - status: rate and ETA only while copying; errors under the table', () => {
    const lines = statusLines(failedStatus(), averageRate(T0 + 150_000));
    assert.equal(lines[0], 'migration mig_0001 failed: halted — metrics_us failed: disk full on data-d2');
    assert.match(lines[4]!, /^metrics_us +failed +\[##\.{8}\] +25% +250k\/1\.0M +- +- +- +rewrite$/);
    assert.equal(lines.at(-1), 'metrics_us: disk full on data-d2');
    // No rate to go by: "-", never a made-up number.
    assert.match(statusLines(copyingStatus(), noRate)[4]!, /250k\/1\.0M +- +- +claimer-c1/);
  });

  it('migrate output - rates from successive events over the window, restarting when a count goes down', () => {
    const withUs = (rows: number) => {
      const s = copyingStatus();
      s.operations[1]!.rows_copied = rows;
      return s;
    };
    const r = new RateTracker();
    r.observe(T0, withUs(0));
    assert.equal(r.rate('metrics_us'), undefined, 'one sample is no rate');
    r.observe(T0 + 10_000, withUs(100_000));
    assert.equal(r.rate('metrics_us'), 10_000);
    r.observe(T0 + 5_000, withUs(999_999)); // delivered late: ignored
    assert.equal(r.rate('metrics_us'), 10_000);
    r.observe(T0 + 20_000, withUs(300_000));
    assert.equal(r.rate('metrics_us'), 15_000);
    // Past the window the old samples go, but one at or before its start stays as the anchor.
    r.observe(T0 + 10_000 + RATE_WINDOW_MS, withUs(400_000));
    assert.equal(r.rate('metrics_us'), 300_000 / 30);
    r.observe(T0 + 60_000, withUs(50_000)); // the copy restarted
    assert.equal(r.rate('metrics_us'), undefined);
    // No rate from the events yet: the fallback's.
    assert.equal(r.rateOf(() => 42)(copyingStatus().operations[1]!), 42);
    assert.equal(r.rate('metrics_eu'), 0, 'a finished copy moves no more');
  });

  it('migrate output - a watch event: time, kind, target with its progress, then the headline', () => {
    const s = copyingStatus();
    const ev = migrationEvent('progress', 150_000, s, 'metrics_us');
    assert.equal(
      eventLine(ev, averageRate(ev.at)),
      '2025-05-01T10:02:30Z progress metrics_us running [##........]  25% 250k/1.0M 2500/s ETA 5m00s | ' +
        'migration mig_0001 running: copying metrics_us',
    );
    assert.equal(
      eventLine(migrationEvent('intent', 1000, s), noRate),
      '2025-05-01T10:00:01Z intent | migration mig_0001 running: copying metrics_us',
    );
    assert.equal(
      eventLine(migrationEvent('completed', 2000, s, 'metrics_ap'), noRate),
      '2025-05-01T10:00:02Z completed metrics_ap pending | migration mig_0001 running: copying metrics_us',
    );
  });

  it('migrate output - list and intents', () => {
    assert.deepEqual(listLines([]), ['no migrations']);
    assert.deepEqual(listLines([completedStatus()]), [
      'ID        STATE      TARGETS                               POLICY   CREATED               HEADLINE',
      'mig_0001  completed  3/3 metrics_eu,metrics_us,metrics_ap  barrier  2025-05-01T10:00:00Z  completed — 3 of 3 targets cut over',
    ]);
    assert.equal(
      intentLine(
        'cutover',
        migrationStatus({ state: 'cutting_over', headline: 'cutting over metrics_eu' }),
        'metrics_eu',
      ),
      'cutover of metrics_eu requested for migration mig_0001; now cutting_over: cutting over metrics_eu',
    );
  });

  it('migrate output - a watch ends at completed, failed, cancelled or stopped only', () => {
    for (const s of ['completed', 'failed', 'cancelled', 'stopped'] as const) assert.equal(watchEnds(s), true, s);
    for (const s of [
      'pending',
      'running',
      'waiting_for_cutover',
      'cutting_over',
      'failed_retryable',
      'paused',
      'running_degraded',
    ] as const) {
      assert.equal(watchEnds(s), false, s);
    }
  });
});
