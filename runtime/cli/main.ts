/** The `lockstep` command line. */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { packageVersion } from '../package_version.js';

// A reader of stdout that stops early (`lockstep --help | head`) is no error of ours: end quietly,
// not with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

let version: string;
try {
  version = packageVersion();
} catch {
  version = 'unknown (no package.json found)'; // every other command still works
}

try {
  await buildProgram(version).parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; usage errors exit 2 (commander already printed the message).
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`lockstep: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
