/**
 * What a new user meets first: `--help` on every command shows an example and the global options;
 * `--version` is the package's; the NATS URL comes from the flag, the environment, the running
 * local cluster or the default, in that order, and messages say which (never with a password).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OWN_EXAMPLES } from '../../runtime/cli/examples.js';
import { DEFAULT_NATS_URL, describeNatsUrl, resolveNatsUrl } from '../../runtime/cli/global_options.js';
import { allCommands, buildProgram, commandPath } from '../../runtime/cli/program.js';
import { packageVersion } from '../../runtime/package_version.js';
import type { ClusterFile } from '../../runtime/local_cluster.js';

/** The full help of a command as `--help` prints it (with the text added after it). */
function helpOf(path: string): string {
  const program = buildProgram('0.0.0-test');
  const cmd = allCommands(program).find((c) => commandPath(c) === path)!;
  let text = '';
  for (const c of allCommands(program)) c.configureOutput({ writeOut: (s) => (text += s), writeErr: () => {} });
  cmd.outputHelp();
  return text;
}

describe('cli help', () => {
  const paths = allCommands(buildProgram('0.0.0-test')).map(commandPath);

  it('cli help - every command has one (the tree is what the user sees)', () => {
    assert.ok(paths.length > 30, `only ${paths.length} commands`);
    for (const p of ['cluster up', 'node status', 'schema create measure', 'barrier applied', 'write measure'])
      assert.ok(paths.includes(p), `no command ${p}`);
  });

  for (const path of allCommands(buildProgram('0.0.0-test')).map(commandPath)) {
    it(`cli help - "lockstep ${path}" --help shows an example and the global options`, () => {
      const text = helpOf(path);
      assert.match(text, /\nExamples:\n {2}lockstep /, `no example in:\n${text}`);
      const examples = text.slice(text.indexOf('\nExamples:'));
      if (!OWN_EXAMPLES.has(path)) assert.ok(examples.includes(`lockstep ${path}`), `no example of ${path}`);
      assert.match(text, /--nats-url <url>/);
      assert.match(text, /--json/);
      if (path !== '') {
        assert.ok(text.includes('Global Options:'), `no global options in:\n${text}`);
        const at = text.indexOf('Global Options:');
        const globals = text.slice(at, text.indexOf('\n\n', at));
        // `node`'s own flags configure a node to run: not global under its admin commands.
        assert.ok(!globals.includes('--data-dir'), `node flags listed as global:\n${globals}`);
      }
    });
  }

  it('cli version - the version of package.json, found from the module in sources, dist/ or an installed package', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(packageVersion(), pkg.version);
    assert.equal(packageVersion(new URL('../../dist/runtime/package_version.js', import.meta.url)), pkg.version);
    // An installed package: node_modules/lockstep/dist/runtime/cli/, under a project of another name.
    const root = mkdtempSync(join(tmpdir(), 'lockstep-version-'));
    try {
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'some-app', version: '1.0.0' }));
      const installed = join(root, 'node_modules', 'lockstep');
      mkdirSync(join(installed, 'dist', 'runtime', 'cli'), { recursive: true });
      writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: 'lockstep', version: '9.8.7' }));
      const mod = pathToFileURL(join(installed, 'dist', 'runtime', 'cli', 'version.js'));
      assert.equal(packageVersion(mod), '9.8.7');
      assert.throws(() => packageVersion(pathToFileURL(join(root, 'elsewhere', 'x.js'))), /cannot find/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('cli nats url - flag, then environment, then a running local cluster, then the default', () => {
    const file: ClusterFile = { natsUrl: 'nats://u:pw@127.0.0.1:4999', nodes: [] };
    assert.deepEqual(
      resolveNatsUrl({ flag: 'nats://f:1', env: 'nats://e:1', clusterFile: file, clusterRunning: true }),
      {
        natsUrl: 'nats://f:1',
        natsUrlSource: 'flag',
      },
    );
    assert.equal(resolveNatsUrl({ env: 'nats://e:1', clusterFile: file, clusterRunning: true }).natsUrlSource, 'env');
    const fromFile = resolveNatsUrl({ env: '', clusterFile: file, clusterRunning: true });
    assert.deepEqual(fromFile, { natsUrl: file.natsUrl, natsUrlSource: 'cluster_file' });
    assert.deepEqual(resolveNatsUrl({}), { natsUrl: DEFAULT_NATS_URL, natsUrlSource: 'default' });
    // A cluster file whose processes are gone is stale: not used, but said.
    const stale = resolveNatsUrl({ clusterFile: file, clusterRunning: false });
    assert.deepEqual(stale, { natsUrl: DEFAULT_NATS_URL, natsUrlSource: 'default', staleClusterFile: true });
    assert.equal(
      describeNatsUrl(fromFile),
      'nats://u:***@127.0.0.1:4999 (URL from ./.lockstep/cluster.json)',
      'never the password',
    );
    assert.match(describeNatsUrl(stale), /no longer running/);
  });
});
