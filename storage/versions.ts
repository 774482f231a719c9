/**
 * The on-disk storage version (DESIGN §8). `versions.json` holds two facts:
 * - `current`: the version this build stamps into every segment it creates;
 * - `compatible`: every version this build can read (always including `current`).
 * A format change bumps `current`; an old version stays in `compatible` only while the readers still
 * handle it. Opening data of any other version is a permanent error naming the path and both sides.
 */
import versions from './versions.json' with { type: 'json' };
import { UnsupportedVersionError } from './errors.js';

function loadVersions(raw: unknown): { current: string; compatible: readonly string[] } {
  const v = raw as { current?: unknown; compatible?: unknown };
  const ok =
    typeof v?.current === 'string' &&
    Array.isArray(v.compatible) &&
    v.compatible.every((c) => typeof c === 'string') &&
    v.compatible.includes(v.current);
  // A broken versions.json is a build defect: fail at module load, before any data is touched.
  if (!ok)
    throw new Error(
      'storage/versions.json must be {"current": string, "compatible": string[]} with current in compatible',
    );
  return { current: v.current as string, compatible: Object.freeze([...(v.compatible as string[])]) };
}

const loaded = loadVersions(versions);

/** The version stamped into data this build writes. */
export const STORAGE_VERSION: string = loaded.current;

/** The versions this build can read, `STORAGE_VERSION` included. */
export const COMPATIBLE_VERSIONS: readonly string[] = loaded.compatible;

/** True when this build can read data stamped with `found`. */
export function isCompatibleVersion(found: string): boolean {
  return COMPATIBLE_VERSIONS.includes(found);
}

/** Throws UnsupportedVersionError (naming `path`, `found` and the supported versions) unless readable. */
export function checkVersion(path: string, found: string): void {
  if (!isCompatibleVersion(found)) throw new UnsupportedVersionError(path, found, COMPATIBLE_VERSIONS);
}
