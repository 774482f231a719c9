/**
 * Reading SPEC.yaml for `lockstep migrate plan|start -f`. Only the shape is checked here, so a
 * malformed file fails before anything is sent, naming the file and what is wrong; the server
 * validates the rest (unknown groups, duplicate targets, a change that changes nothing, …).
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { errors } from '../../transport/errors.js';
import {
  ON_FAILURE,
  POLICIES,
  type MigrationChange,
  type MigrationSpec,
  type OnFailure,
  type Policy,
} from '../../transport/migration_types.js';
import { isValidName } from '../../transport/schema_types.js';

/** The top-level keys of a spec file. */
export const SPEC_KEYS = ['targets', 'policy', 'on_failure', 'defer_cutover', 'change'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses the text of a spec file named `file` (the name is only used in messages). Keys the file
 * leaves out stay out, so the server applies its own defaults. `InvalidArgument` naming the file.
 */
export function parseMigrationSpec(text: string, file: string): MigrationSpec {
  const bad = (what: string) => errors.invalidArgument(`${file}: ${what}`, { file });
  const docs = parseAllDocuments(text);
  if (docs.length > 1) throw bad(`holds ${docs.length} YAML documents; a migration spec is one`);
  const doc = docs[0];
  const first = doc?.errors[0];
  if (first) {
    throw errors.invalidArgument(`cannot parse ${file}: ${first.message.split('\n')[0]!.replace(/:$/, '')}`, {
      file,
    });
  }
  let v: unknown;
  try {
    v = doc?.toJS();
  } catch (err) {
    // An alias to no anchor, or too many aliases: the document parsed but has no value.
    throw errors.invalidArgument(`cannot parse ${file}: ${(err as Error).message}`, { file });
  }
  if (!isObj(v)) throw bad(`must be a mapping with targets and change, got ${describe(v)}`);

  const unknown = Object.keys(v).filter((k) => !(SPEC_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw bad(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (keys: ${SPEC_KEYS.join(', ')})`);
  }

  const spec: MigrationSpec = { targets: targetsOf(v.targets, bad), change: changeOf(v.change, bad) };
  if (v.policy !== undefined) spec.policy = oneOf<Policy>(v.policy, POLICIES, 'policy', bad);
  if (v.on_failure !== undefined) spec.on_failure = oneOf<OnFailure>(v.on_failure, ON_FAILURE, 'on_failure', bad);
  if (v.defer_cutover !== undefined) {
    if (typeof v.defer_cutover !== 'boolean') {
      throw bad(`defer_cutover must be true or false, got ${describe(v.defer_cutover)}`);
    }
    spec.defer_cutover = v.defer_cutover;
  }
  return spec;
}

/** Reads and parses a spec file; an unreadable file is `InvalidArgument` naming it. */
export function readMigrationSpec(file: string): MigrationSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw errors.invalidArgument(`cannot read ${file}: ${(err as Error).message}`, { file });
  }
  return parseMigrationSpec(text, file);
}

type Bad = (what: string) => Error;

function targetsOf(v: unknown, bad: Bad): string[] {
  if (v === undefined) throw bad('targets is missing: list the groups to migrate, in cutover order');
  if (!Array.isArray(v) || v.length === 0) {
    throw bad(`targets must be a non-empty list of group names, got ${describe(v)}`);
  }
  v.forEach((t, i) => {
    if (!isValidName(t)) {
      throw bad(`targets[${i}] must be a group name (a-z first, then a-z, 0-9 or _), got ${describe(t)}`);
    }
  });
  return v as string[];
}

// Only that it is a mapping: what may change, and whether it changes anything, is the server's call.
function changeOf(v: unknown, bad: Bad): MigrationChange {
  if (v === undefined) throw bad('change is missing: say what changes (group and/or measures)');
  if (!isObj(v)) throw bad(`change must be a mapping (group and/or measures), got ${describe(v)}`);
  return v as MigrationChange;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], key: string, bad: Bad): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw bad(`${key} must be one of ${allowed.join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

// A value as a message shows it: a short JSON rendering, or its kind when it has none.
function describe(v: unknown): string {
  if (v === undefined || v === null) return 'nothing';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
