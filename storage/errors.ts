/**
 * Storage failures. Corrupt data and unsupported on-disk versions are permanent (no retry can fix
 * them): a node that meets them stops instead of serving partially. Both name the file.
 */
import { Code } from '../transport/errors.js';
import { fromFailureInfo, PermanentError, type FailureInfo } from '../runtime/errors.js';

/** Data on disk failed a check (checksum, bounds, magic): names the file and what failed. */
export class CorruptDataError extends PermanentError {
  override readonly name: string = 'CorruptDataError';
  readonly path: string;
  constructor(path: string, what: string, opts: { cause?: unknown } = {}) {
    super(`corrupt data in ${path}: ${what}`, { code: Code.Internal, cause: opts.cause, details: { path, what } });
    this.path = path;
  }
}

/** Data written in a storage version this build cannot read. */
export class UnsupportedVersionError extends PermanentError {
  override readonly name: string = 'UnsupportedVersionError';
  readonly path: string;
  constructor(path: string, found: string, supported: readonly string[]) {
    super(
      `unsupported storage version ${JSON.stringify(found)} in ${path} (this build reads ${supported.join(', ')})`,
      {
        code: Code.FailedPrecondition,
        details: { path, found, supported: [...supported] },
      },
    );
    this.path = path;
  }
}

/** The data directory is held by another process (its lock file exists and is live). */
export class DataDirLockedError extends PermanentError {
  override readonly name: string = 'DataDirLockedError';
  constructor(path: string, holder: string) {
    super(`data directory lock ${path} is held by ${holder}`, { code: Code.FailedPrecondition, details: { path } });
  }
}

/**
 * The error a failure that crossed a thread stands for: a CorruptDataError stays one (naming its
 * file); any other keeps its code, permanence and details (see runtime/thread_envelope.ts).
 */
export function storageErrorOf(f: FailureInfo): Error {
  const { path, what } = f.details ?? {};
  if (f.name === 'CorruptDataError' && typeof path === 'string' && typeof what === 'string') {
    return new CorruptDataError(path, what);
  }
  return fromFailureInfo(f);
}
