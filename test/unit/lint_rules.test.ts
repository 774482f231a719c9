/**
 * The lint rules that hold the architecture (eslint.config.js) really refuse what they promise to:
 * each case lints a snippet as if it were a file at the given path and expects the named rule.
 */
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const eslint = new ESLint({ cwd: root });

async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? 'parse-error');
}

describe('lint rules', function () {
  this.timeout(30_000);

  it('lint - an actor role folder cannot import another role folder', async () => {
    const bad = `import { x } from '../data_shard/memtable.js';\nexport const y = x;\n`;
    assert.deepEqual(await ruleIds('actors/liaison/example.ts', bad), ['no-restricted-imports']);
    const ok = `import { x } from '../../storage/placement.js';\nexport const y = x;\n`;
    assert.deepEqual(await ruleIds('actors/liaison/example.ts', ok), []);
  });

  it('lint - storage and transport never import actors; transport imports only itself', async () => {
    const actorImport = `import { x } from '../actors/liaison/gates.js';\nexport const y = x;\n`;
    assert.deepEqual(await ruleIds('storage/example.ts', actorImport), ['no-restricted-imports']);
    const upward = `import { x } from '../runtime/clock.js';\nexport const y = x;\n`;
    assert.deepEqual(await ruleIds('transport/example.ts', upward), ['no-restricted-imports']);
    const sibling = `import { x } from './errors.js';\nexport const y = x;\n`;
    assert.deepEqual(await ruleIds('transport/example.ts', sibling), []);
  });

  it('lint - process.env and the system clock only in composition roots', async () => {
    const env = `export const u = process.env.X;\n`;
    assert.deepEqual(await ruleIds('actors/data_shard/example.ts', env), ['no-restricted-properties']);
    assert.deepEqual(await ruleIds('runtime/cli/example.ts', env), []);
    const clock = `export const a = Date.now();\nexport const b = new Date();\nexport const c = performance.now();\nexport const d = new Date(0);\n`;
    assert.deepEqual(await ruleIds('storage/example.ts', clock), [
      'no-restricted-syntax',
      'no-restricted-syntax',
      'no-restricted-syntax',
    ]);
    assert.deepEqual(await ruleIds('runtime/clock.ts', clock), []);
  });
});
