/**
 * The data-directory lock (DESIGN §8): `<data-dir>/<node>/lock` holds `{pid, started_at}` of the
 * process that owns the directory, so a second node started on the same directory by mistake stops
 * instead of writing next to the first.
 *
 * Ownership: whoever acquires the lock releases it, on close and on every failed open path (the
 * caller releases the lock on every failed open path), so that a retry after fixing the cause
 * succeeds. A lock left by a process that died is stale and taken over.
 *
 * Limits: liveness is a pid probe (`process.kill(pid, 0)`), so a lock whose pid was reused by an
 * unrelated process reads as held (the error says how to clear it), and two processes taking over
 * the same stale lock at the same instant are only narrowed, not excluded, by the re-read below.
 */
import { resolve } from 'node:path';
import { systemClock, type Clock } from '../runtime/clock.js';
import { DataDirLockedError } from './errors.js';
import type { StorageFs } from './fs.js';

/** The lock file's name inside the node's data directory. */
export const LOCK_FILE = 'lock';

/** What the lock file records about its holder. */
export interface LockHolder {
  pid: number;
  /** ISO 8601 time the holder acquired the lock. */
  started_at: string;
}

/** A held lock; `release()` removes the file and may be called any number of times. */
export interface DataDirLock {
  readonly path: string;
  readonly holder: LockHolder;
  readonly released: boolean;
  release(): Promise<void>;
}

// Lock paths this process holds. A lock file naming our own pid is ours only if listed here;
// otherwise it was left by an earlier process that had the same pid (a container's pid 1 restarts
// with pid 1), and is stale.
const held_here = new Set<string>();

// Bounded: each round either creates the file or finds it and decides; a round repeats only when
// the file vanished between the two (its holder released it meanwhile).
const ACQUIRE_ROUNDS_MAX = 3;

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

function encodeHolder(h: LockHolder): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(h)}\n`);
}

/** The holder recorded at `path`; `null` if the file is unreadable as a lock, `undefined` if absent. */
async function readHolder(fs: StorageFs, path: string): Promise<LockHolder | null | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockHolder> | null;
    if (v && Number.isSafeInteger(v.pid) && (v.pid as number) > 0 && typeof v.started_at === 'string') {
      return { pid: v.pid as number, started_at: v.started_at };
    }
  } catch {
    // Falls through: a lock file torn by a crash between create and write is not a live holder.
  }
  return null;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user; it is alive all the same.
    return errCode(err) === 'EPERM';
  }
}

function isLiveHolder(path: string, h: LockHolder): boolean {
  if (h.pid === process.pid) return held_here.has(path);
  return isProcessAlive(h.pid);
}

function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} (started ${h.started_at}; if no such node runs, remove the lock file)`;
}

function sameHolder(a: LockHolder | null | undefined, b: LockHolder): boolean {
  return !!a && a.pid === b.pid && a.started_at === b.started_at;
}

/** Creates `path` exclusively with `body`; false if it already exists. */
async function createExclusive(fs: StorageFs, dir: string, path: string, body: Uint8Array): Promise<boolean> {
  let h;
  try {
    h = await fs.open(path, 'wx');
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    try {
      await h.write(body, 0);
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.syncDir(dir);
  } catch (err) {
    // The file is ours but unwritten: remove it so the failure does not leave a torn lock behind.
    await fs.rm(path).catch(() => undefined);
    throw err;
  }
  return true;
}

function heldLock(fs: StorageFs, path: string, holder: LockHolder): DataDirLock {
  held_here.add(path);
  let released = false;
  return {
    path,
    holder,
    get released() {
      return released;
    },
    async release() {
      if (released) return;
      // Remove the file only while it still names us, so a release never deletes another's lock.
      const now = await readHolder(fs, path);
      if (sameHolder(now, holder)) await fs.rm(path);
      released = true;
      held_here.delete(path);
    },
  };
}

/**
 * Takes `<dir>/lock` for this process: creates it exclusively, or takes over a stale one (dead
 * pid, unreadable file). Throws DataDirLockedError naming the holder when a live process holds it.
 * The caller releases the returned lock on close and on every failed open path.
 */
export async function acquireDataDirLock(fs: StorageFs, dir: string, clock: Clock = systemClock): Promise<DataDirLock> {
  const path = resolve(dir, LOCK_FILE);
  const holder: LockHolder = { pid: process.pid, started_at: new Date(clock.now()).toISOString() };
  const body = encodeHolder(holder);
  for (let round = 0; round < ACQUIRE_ROUNDS_MAX; round++) {
    if (await createExclusive(fs, dir, path, body)) return heldLock(fs, path, holder);
    const existing = await readHolder(fs, path);
    if (existing === undefined) continue;
    if (existing !== null && isLiveHolder(path, existing)) throw new DataDirLockedError(path, describeHolder(existing));
    // Stale: rewrite it atomically, then re-read so that of two processes taking it over at once,
    // the one whose write lost sees the winner and backs off.
    await fs.writeFileAtomic(path, body);
    const after = await readHolder(fs, path);
    if (sameHolder(after, holder)) return heldLock(fs, path, holder);
    throw new DataDirLockedError(path, after ? describeHolder(after) : 'another process');
  }
  throw new DataDirLockedError(path, `a process that keeps creating and removing it (${ACQUIRE_ROUNDS_MAX} attempts)`);
}
