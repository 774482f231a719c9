/**
 * `lockstep migrate …` end to end against a fake migration API: this process serves the nine
 * `lockstep.api.migration.<verb>` subjects on a real nats-server with canned replies and records
 * every request, then runs the compiled CLI and checks what it sent, printed and exited with.
 * Watches are driven by publishing events once the CLI's status request arrived (it subscribes
 * before asking, on the same connection, so the server already routes its events by then).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from '../../transport/bus.js';
import { encode } from '../../transport/codec.js';
import { errors } from '../../transport/errors.js';
import type { MigrationEvent, MigrationStatus } from '../../transport/migration_types.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { serve } from '../../transport/rpc.js';
import { MIGRATION_VERBS, subjectsFor, type MigrationVerb } from '../../transport/subjects.js';
import { ptyAvailable, runCli, runCliInPty, type ChildResult } from '../harness/child.js';
import {
  completedStatus,
  copyingStatus,
  failedStatus,
  MIGRATION_ID,
  migrationEvent,
  migrationStatus,
  planReply,
} from '../harness/migration_fixtures.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';
import { waitFor } from '../harness/wait.js';

const CLI_TIMEOUT_MS = 20_000;
const S = subjectsFor();

/** The spec of DESIGN §9's example, as a user writes it. */
const SPEC_YAML = `targets: [metrics_eu, metrics_us, metrics_ap]   # order matters
policy: barrier
on_failure: halt
defer_cutover: false
change:
  group: { ttl: 14d, shards: 4 }
  measures:
    cpu: { fields: { value: float, errors: int }, tags: { region: string } }
`;
/** SPEC_YAML as the CLI must send it. */
const SPEC = {
  targets: ['metrics_eu', 'metrics_us', 'metrics_ap'],
  policy: 'barrier',
  on_failure: 'halt',
  defer_cutover: false,
  change: {
    group: { ttl: '14d', shards: 4 },
    measures: { cpu: { fields: { value: 'float', errors: 'int' }, tags: { region: 'string' } } },
  },
};

type Handler = (body: unknown) => unknown;

describe('cli migrate (fake migration API)', function () {
  this.timeout(60_000);
  let server: NatsServer;
  let bus: NatsBus;
  let subs: Subscription[] = [];
  let tmp: string;
  /** Every request the fake API received, in order. */
  let received: { verb: MigrationVerb; body: unknown }[] = [];
  /** The fake's reply per verb (a thrown LockstepError becomes an error reply). */
  let replies: Partial<Record<MigrationVerb, Handler>> = {};

  const cli = (...args: string[]): Promise<ChildResult> => runCli(server.url, args, { timeoutMs: CLI_TIMEOUT_MS });

  function exits(r: ChildResult, code: number): ChildResult {
    assert.equal(r.code, code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  }

  function specFile(name: string, text: string): string {
    const file = join(tmp, name);
    writeFileSync(file, text);
    return file;
  }

  const publish = (ev: MigrationEvent) => bus.publish(S.events.migration(ev.id), encode(ev));
  const lines = (text: string) => text.trimEnd().split('\n');

  before(async () => {
    server = await startNatsServer();
    bus = await NatsBus.connect({ url: server.url, name: 'cli-migrate-fake-api' });
    subs = MIGRATION_VERBS.map((verb) =>
      serve(bus, S.api.migration(verb), (req) => {
        received.push({ verb, body: req.body });
        const h = replies[verb];
        if (!h) throw errors.unimplemented(`the fake serves no ${verb} in this test`);
        return h(req.body);
      }),
    );
    await bus.flush();
    tmp = mkdtempSync(join(tmpdir(), 'lockstep-cli-migrate-'));
  });

  beforeEach(() => {
    received = [];
    replies = {};
  });

  after(async () => {
    for (const s of subs) s.unsubscribe();
    await bus?.close();
    await server?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('migrate plan - sends the spec read from the file and prints kind, rows and reason per target', async () => {
    replies.plan = () => planReply();
    const file = specFile('plan.yaml', SPEC_YAML);
    const r = exits(await cli('migrate', 'plan', '-f', file), 0);
    assert.deepEqual(received, [{ verb: 'plan', body: { spec: SPEC } }]);
    assert.deepEqual(lines(r.stdout), [
      'policy barrier, on_failure halt, cutover automatic',
      'TARGET      KIND     ROWS TO COPY  REASON',
      'metrics_eu  rewrite  1,200,000     shards 2 → 4',
      'metrics_us  rewrite  800,000       shards 2 → 4',
      'metrics_ap  instant  -             ttl 7d → 14d',
      '3 targets: 2 rewrite (2,000,000 rows to copy), 1 instant',
    ]);
    const j = exits(await cli('--json', 'migrate', 'plan', '-f', file), 0);
    assert.deepEqual(JSON.parse(j.stdout), planReply());
  });

  it('migrate plan - keys the file leaves out are not sent, so the server applies its defaults', async () => {
    replies.plan = () => planReply();
    const file = specFile('minimal.yaml', 'targets: [metrics_eu]\nchange:\n  group: { ttl: 14d }\n');
    exits(await cli('migrate', 'plan', '-f', file), 0);
    assert.deepEqual(received, [
      { verb: 'plan', body: { spec: { targets: ['metrics_eu'], change: { group: { ttl: '14d' } } } } },
    ]);
  });

  it('migrate start - prints the id alone; --json prints the status', async () => {
    replies.start = () => migrationStatus();
    const file = specFile('start.yaml', SPEC_YAML);
    const r = exits(await cli('migrate', 'start', '-f', file), 0);
    assert.equal(r.stdout, `${MIGRATION_ID}\n`);
    assert.deepEqual(received, [{ verb: 'start', body: { spec: SPEC } }]);
    const j = exits(await cli('--json', 'migrate', 'start', '-f', file), 0);
    assert.deepEqual(JSON.parse(j.stdout), migrationStatus());
  });

  it('migrate - the server refusing a spec prints its code and message, naming the file, exit 2', async () => {
    replies.start = () => {
      throw errors.invalidArgument('targets[1]: group metrics_us does not exist');
    };
    const file = specFile('unknown_group.yaml', SPEC_YAML);
    const r = exits(await cli('migrate', 'start', '-f', file), 2);
    assert.equal(r.stderr, `error: InvalidArgument: ${file}: targets[1]: group metrics_us does not exist\n`);
    assert.equal(r.stdout, '');
  });

  it('migrate - malformed spec files exit 2 naming the file and the problem, sending nothing', async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ['missing.yaml', undefined, /cannot read .*missing\.yaml: ENOENT/],
      ['syntax.yaml', 'targets: [a, b\npolicy: barrier\n', /cannot parse .*syntax\.yaml: .* at line 2, column 1$/],
      ['list.yaml', '- metrics_eu\n', /list\.yaml: must be a mapping with targets and change, got a list$/],
      ['key.yaml', 'targets: [a]\nchange: {}\npolcy: barrier\n', /key\.yaml: unknown key polcy \(keys: targets,/],
      ['notargets.yaml', 'targets: []\nchange: {}\n', /targets must be a non-empty list of group names/],
      ['badname.yaml', 'targets: [a, Metrics.EU]\nchange: {}\n', /targets\[1\] must be a group name/],
      ['policy.yaml', 'targets: [a]\npolicy: eager\nchange: {}\n', /policy must be one of rolling, barrier, parallel/],
      [
        'onfail.yaml',
        'targets: [a]\non_failure: retry\nchange: {}\n',
        /on_failure must be one of halt, continue, pause/,
      ],
      ['defer.yaml', 'targets: [a]\ndefer_cutover: "yes"\nchange: {}\n', /defer_cutover must be true or false/],
      ['nochange.yaml', 'targets: [a]\n', /nochange\.yaml: change is missing/],
      ['change.yaml', 'targets: [a]\nchange: [ttl]\n', /change must be a mapping/],
    ];
    // Every case through plan; start reads the file the same way (two cases show it). The runs are
    // independent processes, so they run side by side.
    const runs = cases.flatMap(([name, text, want]) => {
      const file = text === undefined ? join(tmp, name) : specFile(name, text);
      const verbs = name === 'syntax.yaml' || name === 'key.yaml' ? ['plan', 'start'] : ['plan'];
      return verbs.map(async (verb) => ({ name, file, want, r: await cli('migrate', verb, '-f', file) }));
    });
    for (const { name, file, want, r } of await Promise.all(runs)) {
      exits(r, 2);
      assert.match(r.stderr.trimEnd(), /^error: InvalidArgument: /, name);
      assert.match(r.stderr.trimEnd(), want, name);
      assert.ok(r.stderr.includes(file), `${name}: the message names the file: ${r.stderr}`);
    }
    assert.deepEqual(received, []);
  });

  it('migrate status - per target state, bar, rows, rate, ETA and lease under the headline', async () => {
    replies.status = () => copyingStatus();
    const r = exits(await cli('migrate', 'status', MIGRATION_ID), 0);
    assert.deepEqual(received, [{ verb: 'status', body: { id: MIGRATION_ID } }]);
    const out = lines(r.stdout);
    assert.equal(out[0], 'migration mig_0001 running: copying metrics_us');
    assert.equal(out[1], 'policy barrier, on_failure halt, cutover automatic, created 2025-05-01T10:00:00Z');
    assert.match(out[2]!, /^TARGET +STATE +PROGRESS +ROWS +RATE +ETA +LEASE +KIND$/);
    assert.match(out[3]!, /^metrics_eu +waiting_for_cutover +\[#{10}\] 100% +1\.0M\/1\.0M +- +- +- +rewrite$/);
    // The rate is the average since the copy started (2025): small, with a long ETA.
    assert.match(out[4]!, /^metrics_us +running +\[##\.{8}\] +25% +250k\/1\.0M +\d+\/s +\S+ +claimer-c1 +rewrite$/);
    assert.match(out[5]!, /^metrics_ap +pending +- +- +- +- +- +instant$/);
    assert.equal(out.length, 6);
    const j = exits(await cli('--json', 'migrate', 'status', MIGRATION_ID), 0);
    assert.deepEqual(JSON.parse(j.stdout), copyingStatus());
  });

  it('migrate status - a failed target shows its error; status alone exits 0 whatever the state', async () => {
    replies.status = () => failedStatus();
    const r = exits(await cli('migrate', 'status', MIGRATION_ID), 0);
    const out = lines(r.stdout);
    assert.equal(out[0], 'migration mig_0001 failed: halted — metrics_us failed: disk full on data-d2');
    assert.equal(out[out.length - 1], 'metrics_us: disk full on data-d2');
  });

  it("migrate - an unknown id is the server's NotFound, exit 2; a malformed one fails before sending", async () => {
    replies.status = () => {
      throw errors.notFound('migration mig_9 not found');
    };
    const r = exits(await cli('migrate', 'status', 'mig_9'), 2);
    assert.equal(r.stderr, 'error: NotFound: migration mig_9 not found\n');
    const j = exits(await cli('--json', 'migrate', 'status', 'mig_9'), 2);
    assert.deepEqual(JSON.parse(j.stdout), { error: { code: 'NotFound', message: 'migration mig_9 not found' } });
    received = [];
    for (const args of [
      ['status', 'mig.1'],
      ['cancel', 'a*'],
      ['cutover', 'mig_1', '--target', 'Bad.Group'],
    ]) {
      const bad = exits(await cli('migrate', ...args), 2);
      assert.match(bad.stderr, /^error: InvalidArgument: (migration id|target) /, bad.stderr);
    }
    assert.deepEqual(received, []);
  });

  it('migrate list - one row per migration, newest first as sent; --json prints the reply', async () => {
    const listed = [copyingStatus(), { ...completedStatus(), id: 'mig_0000', created_at: '2025-04-30T09:00:00Z' }];
    replies.list = () => ({ migrations: listed });
    const r = exits(await cli('migrate', 'list'), 0);
    assert.deepEqual(received, [{ verb: 'list', body: {} }]);
    assert.deepEqual(lines(r.stdout), [
      'ID        STATE      TARGETS                               POLICY   CREATED               HEADLINE',
      'mig_0001  running    0/3 metrics_eu,metrics_us,metrics_ap  barrier  2025-05-01T10:00:00Z  copying metrics_us',
      'mig_0000  completed  3/3 metrics_eu,metrics_us,metrics_ap  barrier  2025-04-30T09:00:00Z  completed — 3 of 3 targets cut over',
    ]);
    const j = exits(await cli('--json', 'migrate', 'list'), 0);
    assert.deepEqual(JSON.parse(j.stdout), { migrations: listed });
    replies.list = () => ({ migrations: [] });
    assert.equal(exits(await cli('migrate', 'list'), 0).stdout, 'no migrations\n');
  });

  it('migrate cutover - sends the id and the target when given, prints where things stand', async () => {
    const parked = migrationStatus({ state: 'waiting_for_cutover', headline: 'ready for cutover — next: metrics_eu' });
    replies.cutover = () => ({ ...parked, state: 'cutting_over', headline: 'cutting over metrics_eu' });
    const r = exits(await cli('migrate', 'cutover', MIGRATION_ID), 0);
    assert.equal(r.stdout, 'cutover requested for migration mig_0001; now cutting_over: cutting over metrics_eu\n');
    const t = exits(await cli('migrate', 'cutover', MIGRATION_ID, '--target', 'metrics_eu'), 0);
    assert.equal(
      t.stdout,
      'cutover of metrics_eu requested for migration mig_0001; now cutting_over: cutting over metrics_eu\n',
    );
    assert.deepEqual(received, [
      { verb: 'cutover', body: { id: MIGRATION_ID } },
      { verb: 'cutover', body: { id: MIGRATION_ID, target: 'metrics_eu' } },
    ]);
    replies.cutover = () => {
      throw errors.failedPrecondition('metrics_us is not next: metrics_eu cuts over first');
    };
    const refused = exits(await cli('migrate', 'cutover', MIGRATION_ID, '--target', 'metrics_us'), 2);
    assert.equal(refused.stderr, 'error: FailedPrecondition: metrics_us is not next: metrics_eu cuts over first\n');
  });

  for (const verb of ['stop', 'resume', 'cancel', 'release'] as const) {
    it(`migrate ${verb} - sends the id, prints the state after it; --json the status`, async () => {
      const after = migrationStatus({ state: 'running', headline: `${verb} recorded` });
      replies[verb] = () => after;
      const r = exits(await cli('migrate', verb, MIGRATION_ID), 0);
      assert.equal(r.stdout, `${verb} requested for migration mig_0001; now running: ${verb} recorded\n`);
      const j = exits(await cli('--json', 'migrate', verb, MIGRATION_ID), 0);
      assert.deepEqual(JSON.parse(j.stdout), after);
      assert.deepEqual(received, [
        { verb, body: { id: MIGRATION_ID } },
        { verb, body: { id: MIGRATION_ID } },
      ]);
    });
  }

  /**
   * Starts `migrate status ID --watch …` and resolves once its status request reached the fake,
   * with the run in an object (an async function returning the promise itself would wait for it).
   */
  async function startWatch(args: string[]): Promise<{ run: Promise<ChildResult> }> {
    const run = cli(...args);
    await waitFor(() => received.some((x) => x.verb === 'status'), { what: 'the watch to ask for the status' });
    return { run };
  }

  it('migrate status --watch --json - one event per line until the migration completes, exit 0', async () => {
    replies.status = () => copyingStatus();
    const { run } = await startWatch(['--json', 'migrate', 'status', MIGRATION_ID, '--watch']);
    const progress = copyingStatus();
    progress.operations[1]!.rows_copied = 500_000;
    const events = [
      migrationEvent('progress', 200_000, progress, 'metrics_us'),
      migrationEvent('parked', 210_000, { ...progress, state: 'waiting_for_cutover' }, 'metrics_us'),
      migrationEvent('completed', 300_000, completedStatus(), 'metrics_ap'),
    ];
    for (const ev of events) publish(ev);
    const r = exits(await run, 0);
    const out = lines(r.stdout).map((l) => JSON.parse(l) as MigrationEvent);
    // First the status at the start, as a `state` event; then each event as published.
    assert.equal(out[0]!.kind, 'state');
    assert.deepEqual(out[0]!.status, copyingStatus());
    assert.deepEqual(out.slice(1), events);
    assert.equal(r.stderr, '');
  });

  it('migrate status --watch - piped: the table, then one plain line per event; failed exits 1', async () => {
    replies.status = () => copyingStatus();
    const { run } = await startWatch(['migrate', 'status', MIGRATION_ID, '--watch']);
    const at = (copied: number) => {
      const s = copyingStatus();
      s.operations[1]!.rows_copied = copied;
      return s;
    };
    publish(migrationEvent('progress', 200_000, at(300_000), 'metrics_us'));
    publish(migrationEvent('progress', 210_000, at(400_000), 'metrics_us'));
    publish(migrationEvent('failed', 220_000, failedStatus(), 'metrics_us'));
    const r = exits(await run, 1);
    assert.ok(!r.stdout.includes('\x1b'), `escape codes in piped output: ${JSON.stringify(r.stdout)}`);
    const out = lines(r.stdout);
    assert.equal(out[0], 'migration mig_0001 running: copying metrics_us');
    assert.equal(out.length, 6 + 3);
    // The first event's rate is the average since the copy started; the second's, between the two events.
    assert.match(
      out[6]!,
      /^2025-05-01T10:03:20Z progress metrics_us running \[###\.{7}\] +30% 300k\/1\.0M 2000\/s ETA 5m50s \| migration mig_0001 running: /,
    );
    assert.match(
      out[7]!,
      /^2025-05-01T10:03:30Z progress metrics_us running \[####\.{6}\] +40% 400k\/1\.0M 10\.0k\/s ETA 1m00s \| /,
    );
    assert.equal(
      out[8],
      '2025-05-01T10:03:40Z failed metrics_us failed [##........]  25% 250k/1.0M - ETA - | ' +
        'migration mig_0001 failed: halted — metrics_us failed: disk full on data-d2',
    );
  });

  it('migrate status --watch - a migration that already ended is shown once, with its exit code', async () => {
    replies.status = () => completedStatus();
    const r = exits(await cli('--json', 'migrate', 'status', MIGRATION_ID, '--watch'), 0);
    assert.equal(lines(r.stdout).length, 1);
    assert.deepEqual((JSON.parse(r.stdout) as MigrationEvent).status, completedStatus());
    replies.status = (): MigrationStatus => ({ ...failedStatus(), state: 'cancelled', headline: 'cancelled' });
    exits(await cli('migrate', 'status', MIGRATION_ID, '--watch'), 1);
  });

  it('migrate status --watch - on a terminal the table is redrawn in place, then the final status stays', async function () {
    if (!ptyAvailable()) this.skip(); // util-linux `script` gives the pseudo-terminal
    replies.status = () => copyingStatus();
    const run = runCliInPty(server.url, ['migrate', 'status', MIGRATION_ID, '--watch'], { timeoutMs: CLI_TIMEOUT_MS });
    await waitFor(() => received.some((x) => x.verb === 'status'), { what: 'the watch to ask for the status' });
    publish(migrationEvent('completed', 300_000, completedStatus(), 'metrics_ap'));
    const r = exits(await run, 0);
    assert.ok(r.stdout.includes('\x1b['), 'redrawn with escape codes');
    assert.match(r.stdout, /migration mig_0001 completed: completed — 3 of 3 targets cut over/);
    assert.match(r.stdout, /metrics_us +completed +\[#{10}\] 100% +1\.0M\/1\.0M +- +- +- +rewrite/);
  });
});
