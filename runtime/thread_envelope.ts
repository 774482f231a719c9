/**
 * The one envelope for everything that crosses a thread: a value, or a failure as data (an Error
 * loses its class and code in a structured clone). Actor control calls, part tasks and query tasks
 * all answer `Result<T>`; the receiver rebuilds the error with `unwrap`.
 */
import { fromFailureInfo, toFailureInfo, type FailureInfo } from './errors.js';

/** A call's outcome as it crosses a thread. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: FailureInfo };

/** A successful outcome. */
export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** A failed outcome carrying `err` as data. */
export function failed(err: unknown): { ok: false; error: FailureInfo } {
  return { ok: false, error: toFailureInfo(err) };
}

/** Runs `f` and wraps what it returns or throws; never throws. */
export async function settle<T>(f: () => T | Promise<T>): Promise<Result<T>> {
  try {
    return ok(await f());
  } catch (err) {
    return failed(err);
  }
}

/** The value of an outcome; a failure is rethrown as the error `rebuild` makes of it. */
export function unwrap<T>(r: Result<T>, rebuild: (f: FailureInfo) => Error = fromFailureInfo): T {
  if (r.ok) return r.value;
  throw rebuild(r.error);
}
