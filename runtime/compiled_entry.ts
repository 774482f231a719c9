/**
 * Worker threads always run compiled JavaScript from `dist/`: nothing compiles or bundles at run
 * time. From the TypeScript sources (the test suite runs them through tsx) a worker entry resolves
 * to its build output, so `npm run build` must have run first (the test command does).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assert } from './assert.js';
import { PermanentError } from './errors.js';

/**
 * The compiled module of a worker entry given by its path beside the caller
 * (`new URL('./part_worker.js', import.meta.url)`). From the compiled build that is the path
 * itself; from the sources (this file is `runtime/compiled_entry.ts`) it is the same path under `dist/`.
 */
export function compiledEntry(entry: URL): URL {
  if (!import.meta.url.endsWith('.ts')) return entry;
  const root = new URL('../', import.meta.url).href;
  assert(entry.href.startsWith(root), `worker entry ${entry.href} lies inside the checkout ${root}`);
  const built = new URL(`dist/${entry.href.slice(root.length).replace(/\.ts$/, '.js')}`, root);
  if (!existsSync(built)) {
    throw new PermanentError(`worker entry ${fileURLToPath(built)} is not built: run \`npm run build\` first`);
  }
  return built;
}

/** `argv` without tsx's loader flags: compiled workers need no loader (and tsx would start esbuild). */
export function withoutTsx(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--import' || a === '--require' || a === '--loader' || a === '-r') && /tsx/.test(argv[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (/^--(import|require|loader)=.*tsx/.test(a)) continue;
    out.push(a);
  }
  return out;
}
