/**
 * The error codes of the wire protocol (DESIGN §2). Across threads and NATS, match on `code`,
 * never on `instanceof` or message text.
 */
export const Code = {
  InvalidArgument: 'InvalidArgument',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  FailedPrecondition: 'FailedPrecondition',
  Unavailable: 'Unavailable',
  DeadlineExceeded: 'DeadlineExceeded',
  Unimplemented: 'Unimplemented',
  ResourceExhausted: 'ResourceExhausted',
  PermissionDenied: 'PermissionDenied',
  Internal: 'Internal',
  SchemaNotApplied: 'SchemaNotApplied',
  ExpiredSchema: 'ExpiredSchema',
} as const;

/** One of the wire error codes. */
export type Code = (typeof Code)[keyof typeof Code];

const CODES = new Set<string>(Object.values(Code));

/** True when `s` names a wire error code. */
export function isCode(s: unknown): s is Code {
  return typeof s === 'string' && CODES.has(s);
}

/** The error body sent on the wire with header `Lockstep-Status: <code>`. */
export interface ErrorBody {
  code: Code;
  message: string;
  details?: Record<string, unknown>;
}

/** An error with a wire code; the only kind of error that crosses NATS or a thread boundary. */
export class LockstepError extends Error {
  override readonly name: string = 'LockstepError';
  readonly code: Code;
  readonly details?: Record<string, unknown>;

  constructor(code: Code, message: string, opts: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    if (opts.details !== undefined) this.details = opts.details;
  }

  /** The wire form of this error. */
  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }

  /** Rebuilds an error from its wire form; an unknown code becomes `Internal`. */
  static fromBody(body: unknown): LockstepError {
    const b = (body ?? {}) as Partial<ErrorBody>;
    const code = isCode(b.code) ? b.code : Code.Internal;
    const message = typeof b.message === 'string' ? b.message : `remote error ${String(b.code)}`;
    return new LockstepError(code, message, b.details ? { details: b.details } : {});
  }
}

/** `details.reason` of the `Unavailable` a request gets when nobody serves its subject. */
export const NO_RESPONDERS = 'no_responders';

/**
 * Nobody serves the subject of a request (NATS answered at once). An `Unavailable` whose
 * `details.reason` says so, so the fact survives a thread or the wire: test it with `isNoResponders`.
 */
export class NoRespondersError extends LockstepError {
  override readonly name: string = 'NoRespondersError';
  constructor(subject: string, cause?: unknown) {
    super(Code.Unavailable, `no responders on ${subject}`, { details: { reason: NO_RESPONDERS, subject }, cause });
  }
}

/** True when `err` says nobody serves a subject (see NoRespondersError). */
export function isNoResponders(err: unknown): boolean {
  const e = err as { code?: unknown; details?: { reason?: unknown } } | null;
  return !!e && e.code === Code.Unavailable && e.details?.reason === NO_RESPONDERS;
}

/** Shorthand constructors, so call sites read as the failure they report. */
export const errors = {
  invalidArgument: (m: string, details?: Record<string, unknown>) =>
    new LockstepError(Code.InvalidArgument, m, { details }),
  notFound: (m: string, details?: Record<string, unknown>) => new LockstepError(Code.NotFound, m, { details }),
  alreadyExists: (m: string, details?: Record<string, unknown>) =>
    new LockstepError(Code.AlreadyExists, m, { details }),
  failedPrecondition: (m: string, details?: Record<string, unknown>) =>
    new LockstepError(Code.FailedPrecondition, m, { details }),
  unavailable: (m: string, cause?: unknown) => new LockstepError(Code.Unavailable, m, { cause }),
  deadlineExceeded: (m: string, cause?: unknown) => new LockstepError(Code.DeadlineExceeded, m, { cause }),
  unimplemented: (m: string) => new LockstepError(Code.Unimplemented, m),
  internal: (m: string, cause?: unknown) => new LockstepError(Code.Internal, m, { cause }),
};

/** The code of any thrown value: a LockstepError's own code, or `Internal`. */
export function codeOf(err: unknown): Code {
  if (err && typeof err === 'object' && isCode((err as { code?: unknown }).code)) return (err as { code: Code }).code;
  return Code.Internal;
}

/** Converts any thrown value to a LockstepError, keeping the original as `cause`. */
export function toLockstepError(err: unknown): LockstepError {
  if (err instanceof LockstepError) return err;
  if (err && typeof err === 'object' && isCode((err as { code?: unknown }).code)) {
    const e = err as { code: Code; message?: string; details?: Record<string, unknown> };
    return new LockstepError(e.code, e.message ?? e.code, { details: e.details, cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new LockstepError(Code.Internal, message, { cause: err });
}
