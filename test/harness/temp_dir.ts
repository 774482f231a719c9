/**
 * The temp-dir fixture: one call in a `describe` body gives its tests a fresh directory under the
 * OS temp dir, removed by the matching after hook even when a test fails, so no test file keeps
 * its own mkdtemp/rm pair (and none forgets the rm).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A directory that exists while the tests of the describe block run. */
export interface TempDir {
  /** The directory's absolute path; throws outside the hooks' lifetime (a programmer error). */
  readonly path: string;
}

/** Options of `useTempDir`. */
export interface TempDirOptions {
  /** A fresh directory for every test (beforeEach/afterEach) instead of one for the block. */
  each?: boolean;
}

/**
 * Registers hooks in the calling describe block that create `lockstep-<name>-XXXXXX` before its
 * tests and remove it after. Mocha runs hooks of one kind in the order they were registered, so
 * call it above the block's `before` hooks that use the path, and register an `after` hook that
 * must finish first (stopping a node that writes into the directory) above it too.
 */
export function useTempDir(name: string, opts: TempDirOptions = {}): TempDir {
  let current: string | undefined;
  const create = async () => {
    current = await mkdtemp(join(tmpdir(), `lockstep-${name}-`));
  };
  const remove = async () => {
    const dir = current;
    current = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  if (opts.each) {
    beforeEach(create);
    afterEach(remove);
  } else {
    before(create);
    after(remove);
  }
  return {
    get path(): string {
      if (current === undefined) throw new Error(`temp dir '${name}' used outside the tests of its describe block`);
      return current;
    },
  };
}
