#!/usr/bin/env node
// The `lockstep` command: runs the TypeScript sources through tsx (a runtime dependency), so the
// CLI works straight from a checkout without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../runtime/cli/main.ts');
