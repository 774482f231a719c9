/**
 * The README's quick start, run as written against a real cluster: the shell block after "In
 * another shell" is run by `sh`, command by command in one shell, and each command must exit as its
 * comment says (`# exit N`; 0 otherwise) and print what the README promises. Only `npx` is shimmed
 * (the block runs in a temp dir, where `npx lockstep` would not find this checkout); that `npx
 * lockstep` finds it in the checkout is checked on its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestCluster } from '../harness/cluster.js';
import { LOCKSTEP_BIN, type ChildResult } from '../harness/child.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RUN_TIMEOUT_MS = 120_000;

/** The commands of the README's quick-start block (continued lines joined), in order. */
function quickStartCommands(readme: string): string[] {
  const from = readme.indexOf('In another shell');
  assert.ok(from >= 0, 'no "In another shell" in the README');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(from));
  assert.ok(block, 'no sh block after "In another shell"');
  const commands: string[] = [];
  let pending = '';
  for (const line of block[1]!.split('\n')) {
    if (line.trim() === '') continue;
    pending += pending ? `\n${line}` : line;
    if (!line.endsWith('\\')) {
      commands.push(pending);
      pending = '';
    }
  }
  return commands;
}

/** Runs `script` with sh in `cwd` to its end (SIGKILL past the bound); both streams in `stdout`. */
function sh(script: string, cwd: string, env: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `exec 2>&1\n${script}`], {
      cwd,
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** What each quick-start command must print, by a piece of its text. */
const PROMISES: [string, RegExp][] = [
  ['schema create group g1', /^created group:g1 at revision 1$/m],
  ['schema create measure g1/cpu', /^created measure:g1\/cpu at revision 2$/m],
  ['barrier applied', /^applied: measure:g1\/cpu present on every member$/m],
  ['--token', /^time +host +region +value\n(.*Z +h[123] +eu +[012]\.5\n){3}$/],
  ['--agg mean:value', /^region +mean\(value\) +count\neu +1\.5 +3$/m],
  ['node pause-watch d1', /^paused the schema watch of d1/m],
  ['schema update group g1', /^updated group:g1 at revision 3$/m],
  // d1 lags; another member slower than the 1 s timeout under load would be named too.
  ['barrier revision', /^NOT APPLIED: revision 3 not reached on (.*, )?data-d1 \(at 2\)/m],
  ['node resume-watch d1', /^resumed the schema watch of d1/m],
];

describe('quick start', function () {
  this.timeout(240_000);
  let c: TestCluster;
  let tmp: string;

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 2 });
    tmp = mkdtempSync(join(tmpdir(), 'lockstep-quick-start-'));
  });
  after(async () => {
    await c?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("quick start - the README's commands work as written, each exiting as its comment says", async () => {
    const commands = quickStartCommands(readFileSync(join(REPO, 'README.md'), 'utf8'));
    assert.ok(commands.length >= 10, `only ${commands.length} commands`);
    const shim = 'npx() { if [ "$1" = lockstep ]; then shift; node "$LOCKSTEP_BIN" "$@"; else command npx "$@"; fi; }';
    const script = [shim, ...commands.flatMap((cmd) => [cmd, `printf '\\n__exit %s\\n' "$?"`])].join('\n');
    const r = await sh(script, tmp, { LOCKSTEP_NATS_URL: c.lc.natsUrl, LOCKSTEP_BIN });
    assert.equal(r.signal, null, `killed: ${r.stdout}`);
    const parts = r.stdout.split(/\n__exit (\d+)\n/);
    // [out0, code0, out1, code1, …, rest]
    assert.equal((parts.length - 1) / 2, commands.length, r.stdout);
    commands.forEach((cmd, i) => {
      const out = parts[2 * i]!.replace(/^\n+/, '');
      const code = Number(parts[2 * i + 1]);
      const expected = Number(/# exit (\d+)/.exec(cmd)?.[1] ?? 0);
      assert.equal(code, expected, `${cmd}\nexited ${code}:\n${out}`);
      const promise = PROMISES.find(([piece]) => cmd.includes(piece));
      if (promise) assert.match(out, promise[1], `${cmd}\nprinted:\n${out}`);
    });
    for (const [piece] of PROMISES)
      assert.ok(
        commands.some((cmd) => cmd.includes(piece)),
        `the quick start lost its "${piece}" command`,
      );
  });

  it('quick start - `npx lockstep` in the checkout runs this checkout', async () => {
    const r = await sh('npx --no -- lockstep --version', REPO, {});
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, new RegExp(`^${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
  });
});
