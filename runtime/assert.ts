/**
 * Assertions for invariants only a bug can break (TigerBeetle's habit): a failed one is an
 * `Internal` error naming the invariant, never `InvalidArgument` — bad input from outside gets
 * its own typed error where it enters; these guard what our own code promised.
 */
import { Code, LockstepError } from '../transport/errors.js';

/** A broken invariant: always a bug in Lockstep, never the caller's input. */
export class InvariantError extends LockstepError {
  override readonly name: string = 'InvariantError';
  constructor(invariant: string, details?: Record<string, unknown>) {
    super(Code.Internal, `invariant broken: ${invariant}`, details ? { details } : {});
  }
}

/** Throws `InvariantError` naming `invariant` unless `cond` holds. */
export function assert(cond: unknown, invariant: string, details?: Record<string, unknown>): asserts cond {
  if (!cond) throw new InvariantError(invariant, details);
}

/** For the impossible branch of an exhaustive switch: names what had an unexpected value. */
export function assertNever(value: never, what: string): never {
  throw new InvariantError(`unexpected ${what} ${JSON.stringify(value)}`);
}
