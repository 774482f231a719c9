#!/usr/bin/env node
// The `lockstep` command: runs the compiled build in dist/ (`npm run build` makes it; `npm install`
// in a checkout runs it through the prepare script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/runtime/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'lockstep: the build is missing (dist/runtime/cli/main.js): run `npm run build` in the checkout\n',
  );
  process.exit(2);
}
await import(main.href);
