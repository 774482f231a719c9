/**
 * deploy/Dockerfile's build, without Docker (no engine runs where the tests run): the build
 * stage's COPY lines make a context from the repository, its RUN lines run there with the Node and
 * npm majors of the image's base (`node:22-…` ships npm 10; both come from the npm registry), and
 * the runtime stage's files then start the CLI with only the production dependencies. This is what
 * broke before: a lock file one npm accepts and the image's npm refuses.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The npm major each Node major's official image ships. */
const IMAGE_NPM: Record<string, string> = { '20': '10', '22': '10', '24': '11' };

/** One instruction of a stage that matters here, in file order. */
/** A COPY from the build context, or (with `from`) from an earlier stage (paths absolute in it). */
type Step = { kind: 'copy'; from?: string; src: string[]; dest: string } | { kind: 'run'; cmd: string };

interface Stage {
  from: string;
  steps: Step[];
}

/**
 * The stages of a Dockerfile with their COPY-from-context and RUN lines, in order; a base given as
 * `${ARG}` reads as that build argument's default (`ARG NAME=default`).
 */
function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  const args = new Map<string, string>();
  for (const raw of dockerfile.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)/i.exec(line);
    if (arg) args.set(arg[1]!, arg[2]!);
    const from = /^FROM\s+(\S+)/i.exec(line);
    if (from)
      out.push({ from: from[1]!.replace(/^\$\{(\w+)\}$/, (m, name: string) => args.get(name) ?? m), steps: [] });
    const cur = out.at(-1);
    if (!cur) continue;
    const copy = /^COPY\s+(?:--from=(\S+)\s+)?(.+)$/i.exec(line);
    if (copy) {
      const parts = copy[2]!.trim().split(/\s+/);
      cur.steps.push({
        kind: 'copy',
        ...(copy[1] ? { from: copy[1] } : {}),
        src: parts.slice(0, -1),
        dest: parts.at(-1)!,
      });
    }
    const run = /^RUN\s+(.+)$/i.exec(line);
    if (run) cur.steps.push({ kind: 'run', cmd: run[1]! });
  }
  return out;
}

/** Docker's COPY of paths under `context` into `root` (a directory source copies its contents). */
function copy(step: { src: string[]; dest: string }, context: string, root: string): void {
  for (const src of step.src) {
    const into = step.dest.endsWith('/') || step.src.length > 1;
    const name = src.replace(/\/$/, '').split('/').at(-1)!;
    const target = into && !src.endsWith('/') ? join(root, step.dest, name) : join(root, step.dest);
    cpSync(join(context, src), target, { recursive: true });
  }
}

function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): string {
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', cmd], { cwd, env, encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.status, 0, `\`${cmd}\` failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('deploy: the Dockerfile builds with its base image Node and npm', function () {
  this.timeout(600_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-docker-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('docker - the build stage installs and builds with the image npm; the runtime stage starts the CLI', () => {
    const all = stages(readFileSync(join(REPO, 'deploy', 'Dockerfile'), 'utf8'));
    assert.equal(all.length, 2, 'a build stage and a runtime stage');
    const [build, runtime] = all as [Stage, Stage];
    const major = /^node:(\d+)-/.exec(build.from)?.[1];
    assert.ok(major && IMAGE_NPM[major], `the build stage starts from an official Node image, got ${build.from}`);
    assert.equal(runtime.from, build.from, 'both stages use the same base');

    // The image's Node and npm, from the npm registry, behind `node` and `npm` on PATH.
    const tools = join(dir, 'tools');
    mkdirSync(tools);
    sh(
      `npm install --no-audit --no-fund --prefer-offline --prefix . node@${major} npm@${IMAGE_NPM[major]}`,
      tools,
      process.env,
      300_000,
    );
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const nodeBin = join(tools, 'node_modules', 'node', 'bin', 'node');
    const npmCli = join(tools, 'node_modules', 'npm', 'bin', 'npm-cli.js');
    writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec "${nodeBin}" "$@"\n`);
    writeFileSync(join(bin, 'npm'), `#!/bin/sh\nexec "${nodeBin}" "${npmCli}" "$@"\n`);
    chmodSync(join(bin, 'node'), 0o755);
    chmodSync(join(bin, 'npm'), 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NODE_OPTIONS: '' };
    const versions = sh('node --version && npm --version', dir, env, 30_000).trim().split('\n');
    assert.match(versions[0]!, new RegExp(`^v${major}\\.`));
    assert.match(versions[1]!, new RegExp(`^${IMAGE_NPM[major]}\\.`));

    // The build stage, as Docker runs it: COPY from the context and RUN, in file order.
    const app = join(dir, 'app');
    mkdirSync(app);
    for (const step of build.steps) {
      if (step.kind === 'copy') copy(step, REPO, app);
      else sh(step.cmd, app, env, 300_000);
    }
    assert.ok(existsSync(join(app, 'dist', 'runtime', 'cli', 'main.js')), 'the build stage compiled dist/');
    assert.ok(!existsSync(join(app, 'node_modules', 'typescript')), 'development dependencies are pruned');

    // The runtime stage's files (COPY --from=build plus bin/ from the context) run the CLI.
    const image = join(dir, 'image');
    mkdirSync(image);
    // The runtime stage as written: COPY --from=build takes from the build stage (WORKDIR /app), the
    // rest from the context; a missing line there breaks the CLI below.
    for (const step of runtime.steps) {
      if (step.kind !== 'copy') continue;
      if (step.from === undefined) copy(step, REPO, image);
      else copy({ ...step, src: step.src.map((p) => p.replace(/^\/app\//, '')) }, app, image);
    }
    const help = sh('node bin/lockstep.js --help', image, { ...env, NODE_ENV: 'production' }, 60_000);
    assert.match(help, /Usage: lockstep/);
  });
});
