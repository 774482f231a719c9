/**
 * Permanence is a type, read by one classifier: a permanent error ends the node with a clear
 * message and a non-zero exit; anything else is transient and retried with a bound.
 */
import { Code, isCode, LockstepError, type Code as CodeT } from '../transport/errors.js';

/** An error no retry can fix (bad data on disk, an unsupported version, a broken config). */
export class PermanentError extends LockstepError {
  override readonly name: string = 'PermanentError';
  readonly permanent = true;
  constructor(message: string, opts: { code?: CodeT; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(opts.code ?? Code.FailedPrecondition, message, opts);
  }
}

/** A failure expected to clear by itself (a peer down, a timeout). */
export class TransientError extends LockstepError {
  override readonly name: string = 'TransientError';
  readonly permanent = false;
  constructor(message: string, opts: { code?: CodeT; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(opts.code ?? Code.Unavailable, message, opts);
  }
}

/** The serialisable form of a failure, for crossing a thread boundary (see thread_envelope.ts). */
export interface FailureInfo {
  /** The error's class name (`CorruptDataError`, `PermanentError`, …), so a receiver can rebuild it. */
  name: string;
  code: CodeT;
  message: string;
  permanent: boolean;
  details?: Record<string, unknown>;
  /** Set when the failure was injected (fault injection), with the phase it was injected at. */
  injected?: 'init' | 'apply' | 'crash';
  /** Set when the actor lost its schema view (restarted) and needs a snapshot before events. */
  needsInit?: boolean;
}

/** The one classifier: true only for errors marked permanent (also after crossing a thread). */
export function isPermanent(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { permanent?: unknown }).permanent === true;
}

/** Serialisable form of any thrown value. */
export function toFailureInfo(err: unknown): FailureInfo {
  const e = (err ?? {}) as { name?: unknown; code?: unknown; details?: unknown; injected?: FailureInfo['injected'] };
  const details = e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : undefined;
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    code: isCode(e.code) ? e.code : Code.Internal,
    message: err instanceof Error ? err.message : String(err),
    permanent: isPermanent(err),
    ...(details ? { details } : {}),
    ...(e.injected ? { injected: e.injected } : {}),
  };
}

/** Rebuilds an error from its serialised form, keeping its code, permanence and details. */
export function fromFailureInfo(f: FailureInfo): LockstepError {
  const opts = { code: f.code, ...(f.details ? { details: f.details } : {}) };
  return f.permanent ? new PermanentError(f.message, opts) : new TransientError(f.message, opts);
}
