/**
 * `lockstep write` end to end: the CLI process streams JSON lines to a real liaison (no data node),
 * and the WAL stream is checked for exactly what the CLI said it wrote.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { TestCluster } from '../harness/cluster.js';
import { ptyAvailable, runCli, runCliInPty } from '../harness/child.js';
import { decodeWalRecord } from '../../transport/wal_record.js';
import { subjectsFor, WAL_STREAM } from '../../transport/subjects.js';

const CLI_TIMEOUT_MS = 60_000;
const S = subjectsFor();

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('cli write (1 liaison, no data node)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let tmp: string;
  const now = Date.now();
  const line = (i: number, host = `h${i % 50}`) =>
    JSON.stringify({ ts: now - 20_000 + i, tags: { host }, fields: { value: i + 0.25 } });

  /** Runs the CLI to its end, feeding `input` on stdin when given. */
  const cli = (args: string[], input?: string): Promise<CliResult> =>
    runCli(c.lc.natsUrl, args, { input, timeoutMs: CLI_TIMEOUT_MS });

  function ok(r: CliResult): CliResult {
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  }

  function tempFile(name: string, lines: string[]): string {
    const file = join(tmp, name);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  const walLastSeq = async () => (await jsm.streams.info(WAL_STREAM)).state.last_seq;

  /** Rows in the WAL messages after sequence `after`, per resource name. */
  async function walRowsSince(after: number): Promise<Map<string, number>> {
    const rows = new Map<string, number>();
    const last = await walLastSeq();
    for (let seq = after + 1; seq <= last; seq++) {
      const m = (await jsm.streams.getMessage(WAL_STREAM, { seq }))!;
      const rec = decodeWalRecord(m.data) as { name: string; cols: { ts: Float64Array } };
      rows.set(rec.name, (rows.get(rec.name) ?? 0) + rec.cols.ts.length);
    }
    return rows;
  }

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 0, nodeArgs: ['--schema-wait', '200ms'] });
    nc = await connect({ servers: c.lc.natsUrl });
    jsm = await jetstreamManager(nc);
    tmp = mkdtempSync(join(tmpdir(), 'lockstep-cli-write-'));
    await c.createGroup('cw', { shards: 2, placement: { data_nodes: ['d1'] } });
    const cpu = await c.createMeasure('cw', 'cpu');
    await c.createGroup('cs', { catalog: 'stream', shards: 2, placement: { data_nodes: ['d1'] } });
    const logs = await c.api<{ revision: number }>(S.api.schema('stream', 'create'), {
      resource: {
        group: 'cs',
        name: 'logs',
        entity: ['host'],
        tag_families: [{ name: 'default', tags: [{ name: 'host', type: 'string' }] }],
      },
    });
    const applied = await c.barrier('applied', {
      keys: ['measure:cw/cpu', 'stream:cs/logs'],
      min_revisions: [cpu.revision, logs.revision],
    });
    assert.equal(applied.applied, true);
  });

  after(async () => {
    await nc?.close();
    await c?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('write - 12 000 points from a file in batches of 5 000 are all in the WAL', async () => {
    const file = tempFile(
      'points.jsonl',
      Array.from({ length: 12_000 }, (_, i) => line(i)),
    );
    const before = await walLastSeq();
    const r = ok(await cli(['write', 'measure', 'cw/cpu', file, '--batch-size', '5000']));
    assert.match(r.stdout, /^wrote 12000 points in 3 batches \(write token: 0→\d+ 1→\d+\)\n$/);
    // Piped: no progress at all (no lines, no escape codes), only the summary.
    assert.equal(r.stderr, '');
    assert.deepEqual(await walRowsSince(before), new Map([['cpu', 12_000]]));
  });

  it('write - on a terminal, progress shows points sent, rate and ETA, then leaves only the summary', async function () {
    if (!ptyAvailable()) this.skip(); // util-linux `script` gives the pseudo-terminal
    const file = tempFile(
      'big.jsonl',
      Array.from({ length: 12_000 }, (_, i) => line(i)),
    );
    const before = await walLastSeq();
    const r = await runCliInPty(c.lc.natsUrl, ['write', 'measure', 'cw/cpu', file, '--batch-size', '1000'], {
      timeoutMs: CLI_TIMEOUT_MS,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /writing \[[#.]+\] +\d+% \| [\d,]+ points sent \| [\d.]+k?\/s \| ETA (-|\d+s)/);
    assert.ok(r.stdout.includes('\x1b['), 'redrawn with escape codes');
    assert.match(r.stdout, /wrote 12000 points in 12 batches \(write token: /);
    assert.deepEqual(await walRowsSince(before), new Map([['cpu', 12_000]]));
    // --json on a terminal: the document only.
    const j = await runCliInPty(c.lc.natsUrl, ['--json', 'write', 'measure', 'cw/cpu', file], {
      timeoutMs: CLI_TIMEOUT_MS,
    });
    assert.equal(j.code, 0, j.stdout);
    assert.ok(!j.stdout.includes('\x1b') && !j.stdout.includes('points sent'), JSON.stringify(j.stdout));
    assert.equal((JSON.parse(j.stdout) as { points: number }).points, 12_000);
  });

  it('write - stdin input with --json answers one document whose tokens match the WAL', async () => {
    const before = await walLastSeq();
    const input = Array.from({ length: 10 }, (_, i) => line(i)).join('\n');
    const r = ok(await cli(['--json', 'write', 'measure', 'cw/cpu'], input));
    const doc = JSON.parse(r.stdout) as {
      points: number;
      batches: number;
      write_tokens: { group: string; shards: Record<string, number> }[];
    };
    assert.equal(doc.points, 10);
    assert.equal(doc.batches, 1);
    assert.equal(doc.write_tokens.length, 1);
    assert.equal(doc.write_tokens[0]!.group, 'cw');
    const seqs = Object.values(doc.write_tokens[0]!.shards);
    assert.equal(await walLastSeq(), before + seqs.length);
    assert.equal(Math.max(...seqs), before + seqs.length);
    // `-` reads stdin too.
    ok(await cli(['write', 'measure', 'cw/cpu', '-'], line(1)));
  });

  it('write - a stream reads elements from stdin', async () => {
    const before = await walLastSeq();
    const input = ['a', 'b', 'c']
      .map((id, i) => JSON.stringify({ ts: new Date(now - i).toISOString(), element_id: id, tags: { host: 'h1' } }))
      .join('\n');
    const r = ok(await cli(['write', 'stream', 'cs/logs'], input));
    assert.match(r.stdout, /^wrote 3 elements in 1 batch \(write token: \d+→\d+\)\n$/);
    assert.deepEqual(await walRowsSince(before), new Map([['logs', 3]]));
  });

  it('write - a malformed line exits 2 naming its line; earlier batches stay written, its batch is not sent', async () => {
    const before = await walLastSeq();
    // Line 2 is blank (skipped, still counted); lines 1 and 3 are the first batch.
    const file = tempFile('bad.jsonl', [line(1, 'a'), '', line(2, 'a'), '{"ts": 1,', line(3, 'a')]);
    const r = await cli(['write', 'measure', 'cw/cpu', file, '--batch-size', '2']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^error: InvalidArgument: ${file}:4: not valid JSON: .*; 2 points in 1 batch \\(input through line 3\\) were acknowledged before the failure`,
      ),
    );
    assert.equal(r.stdout, '');
    assert.deepEqual(await walRowsSince(before), new Map([['cpu', 2]]));
  });

  it('write - a row the server refuses is reported at its input line', async () => {
    const before = await walLastSeq();
    const bad = JSON.stringify({ ts: now, tags: { host: 'a' }, fields: { temp: 1 } });
    const file = tempFile('unknown_field.jsonl', [line(1), line(2), bad]);
    const r = await cli(['write', 'measure', 'cw/cpu', file, '--batch-size', '2']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^error: InvalidArgument: ${file}:3: points\\[0\\]\\.fields\\.temp: unknown field`),
    );
    assert.match(r.stderr, /2 points in 1 batch .*were acknowledged before the failure/);
    assert.deepEqual(await walRowsSince(before), new Map([['cpu', 2]]));
  });

  it('write - an unknown measure exits 2 with NotFound and nothing acknowledged', async () => {
    const before = await walLastSeq();
    const r = await cli(['write', 'measure', 'cw/nope'], line(1));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: NotFound: .*; 0 points in 0 batches were acknowledged before the failure/);
    const json = await cli(['--json', 'write', 'measure', 'cw/nope'], line(1));
    assert.equal(json.code, 2);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'NotFound');
    assert.equal(await walLastSeq(), before);
  });

  it('write - bad flags exit 2 before reading; --help describes the input', async () => {
    const r1 = await cli(['write', 'measure', 'cw/cpu', '--batch-size', '10001'], line(1));
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /^error: InvalidArgument: --batch-size must be an integer from 1 to 10000/);
    const r2 = await cli(['write', 'measure', 'cw/cpu', join(tmp, 'missing.jsonl')]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /^error: InvalidArgument: cannot read .*missing\.jsonl/);
    const help = ok(await cli(['write', 'stream', '--help'])).stdout;
    for (const s of [
      '<GROUP/NAME> [FILE]',
      '--batch-size <n>',
      '--schema-revision <n>',
      '--retries <n>',
      '--run-id <id>',
      '"element_id"',
    ]) {
      assert.ok(help.includes(s), `help lacks ${s}:\n${help}`);
    }
  });
});
