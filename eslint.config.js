// Lint rules, run by the test command. Beyond the recommended sets, three rules hold the
// architecture (see docs/architecture.md):
// - no imports between actors/<role>/ folders: what two roles share lives in a module both import;
//   storage/ and transport/ never import actors/, transport/ imports nothing of ours but itself;
// - process.env only in composition roots (the CLI, the local cluster) — everything else gets config;
// - the system clock (Date.now, new Date(), performance.now) only in runtime/clock.ts and composition
//   roots — everything else takes the injected Clock, so tests can drive time.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { readdirSync } from 'node:fs';

const ROLES = readdirSync(new URL('./actors/', import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

/** Composition roots: the only files that read the environment and the system clock directly. */
const ROOTS = [
  'runtime/cli/**',
  'runtime/local_cluster.ts',
  'runtime/nats_server.ts',
  'runtime/nats_cluster.ts',
  'runtime/clock.ts',
  'bin/**',
];

const SYSTEM_CLOCK = [
  {
    selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
    message: 'Read time from the injected Clock (runtime/clock.ts), not Date.now().',
  },
  {
    selector: "NewExpression[callee.name='Date'][arguments.length=0]",
    message: 'Read time from the injected Clock (runtime/clock.ts), not new Date().',
  },
  {
    selector: "CallExpression[callee.object.name='performance'][callee.property.name='now']",
    message: 'Read time from the injected Clock (runtime/clock.ts), not performance.now().',
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.lockstep/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A closure may read a variable assigned after it is created (shutdown hooks, say).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Production code: the environment and the clock come from the composition root.
  {
    files: ['actors/**/*.ts', 'runtime/**/*.ts', 'storage/**/*.ts', 'transport/**/*.ts'],
    ignores: ROOTS,
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Only composition roots read process.env; take a config value.',
        },
      ],
      'no-restricted-syntax': ['error', ...SYSTEM_CLOCK],
    },
  },
  // No imports between actor role folders.
  ...ROLES.map((role) => ({
    files: [`actors/${role}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ROLES.filter((r) => r !== role).map((other) => ({
            group: [`../${other}/*`, `../../actors/${other}/*`],
            message: `actors/${role} must not import actors/${other}: move what both need to a module both import (transport/, storage/ or runtime/).`,
          })),
        },
      ],
    },
  })),
  {
    files: ['storage/**/*.ts', 'transport/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/actors/*', '**/actors/**'], message: 'storage/ and transport/ never import actors/.' },
          ],
        },
      ],
    },
  },
  {
    files: ['transport/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*', '!../transport/*'],
              message: 'transport/ is the bottom layer: it imports nothing of ours outside transport/.',
            },
          ],
        },
      ],
    },
  },
  prettier,
);
