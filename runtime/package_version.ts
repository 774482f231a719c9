/** The version of the installed `lockstep` package, read from its package.json at run time (for `--version` and traces). */
import { readFileSync } from 'node:fs';

/** The package whose version `--version` prints. */
export const PACKAGE_NAME = 'lockstep';
/** Folders searched upwards from this module: runtime/ in sources, dist/runtime/ in a build. */
const MAX_LEVELS_UP = 6;

/**
 * The version in the nearest package.json named `lockstep` above `moduleUrl`. Found relative to
 * the module rather than the working directory, so it is right in a checkout (sources or dist/)
 * and in an installed package alike.
 */
export function packageVersion(moduleUrl: string | URL = import.meta.url): string {
  let dir = new URL('.', moduleUrl);
  for (let i = 0; i < MAX_LEVELS_UP; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No (readable) package.json here: look one folder up.
    }
    const parent = new URL('..', dir);
    if (parent.href === dir.href) break;
    dir = parent;
  }
  throw new Error(`cannot find the package.json of ${PACKAGE_NAME} above ${String(moduleUrl)}`);
}
