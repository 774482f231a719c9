/**
 * Request/reply with status codes, deadlines and trace context (DESIGN §2).
 * Errors travel as header `Lockstep-Status: <code>` plus body `{code, message, details?}`.
 */
import { context, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { headerOf, type Bus, type BusMessage, type Headers, type Subscription } from './bus.js';
import {
  CONTENT_TYPE_HEADER,
  decode,
  decodeRequest,
  encode,
  encodingOf,
  JSON_CONTENT_TYPE,
  MSGPACK_CONTENT_TYPE,
  type Encoding,
} from './codec.js';
import { Code, errors, LockstepError, toLockstepError } from './errors.js';
import { extractTrace, injectTrace } from './trace_context.js';

/** Reply header carrying an error code; absent on success. */
export const STATUS_HEADER = 'Lockstep-Status';

const tracer = trace.getTracer('lockstep.transport');

/** A decoded request as a handler sees it. */
export interface RpcRequest {
  subject: string;
  body: unknown;
  headers: Headers;
  encoding: Encoding;
  /** The trace context of the server span of this request. */
  ctx: Context;
  /** Where the requester waits for the answer (`forward` passes it on). */
  reply?: string;
}

/**
 * What a handler returns when it passed its request on (`forward`): the server it went to answers
 * the requester, so nothing is sent from here — unless `unanswered` settles to an error, which is
 * then the reply (nobody was there to answer: NATS tells no one but the publisher of a request).
 */
export class ForwardedReply {
  constructor(
    readonly subject: string,
    readonly unanswered?: Promise<LockstepError | undefined>,
  ) {}
}

/**
 * A reply body a handler already encoded (in the request's encoding), sent as it is: a handler that
 * had to measure its reply does not pay for encoding it twice.
 */
export class EncodedReply {
  constructor(
    readonly bytes: Uint8Array,
    /** Headers sent with it, beside the content type. */
    readonly headers?: Headers,
  ) {}
}

/** A request handler: its result is the reply body; a thrown LockstepError becomes an error reply. */
export type RpcHandler = (req: RpcRequest) => Promise<unknown> | unknown;

/** Options of `serve`. */
export interface ServeOptions {
  queue?: string;
  /** Span name; defaults to the subject. */
  spanName?: string;
  /** Extra span attributes. */
  attributes?: Record<string, string | number>;
  /** Called with every error reply (for metrics and logs). */
  onError?: (err: LockstepError, req: { subject: string }) => void;
  /**
   * The handler gets the request's bytes as they came (a text protocol), and replies in JSON unless
   * the request says `Content-Type: application/msgpack`.
   */
  rawBody?: boolean;
}

function replyHeaders(encoding: Encoding, code?: string): Headers {
  const h: Headers = {};
  if (encoding === 'json') h[CONTENT_TYPE_HEADER] = JSON_CONTENT_TYPE;
  if (code) h[STATUS_HEADER] = code;
  return h;
}

/** Serves requests on `subject`; each message is handled concurrently. */
export function serve(bus: Bus, subject: string, handler: RpcHandler, opts: ServeOptions = {}): Subscription {
  return bus.subscribe(subject, (msg) => void handleOne(bus, msg, handler, opts), { queue: opts.queue });
}

function tooLarge(what: string, bytes: number, limit: number): LockstepError {
  return new LockstepError(
    Code.ResourceExhausted,
    `${what} of ${bytes} bytes exceeds the server's message limit of ${limit} bytes`,
    {
      details: { bytes, limit },
    },
  );
}

async function handleOne(bus: Bus, msg: BusMessage, handler: RpcHandler, opts: ServeOptions): Promise<void> {
  const contentType = headerOf(msg.headers, CONTENT_TYPE_HEADER);
  const encoding: Encoding = opts.rawBody
    ? contentType?.toLowerCase().startsWith(MSGPACK_CONTENT_TYPE)
      ? 'msgpack'
      : 'json'
    : encodingOf(contentType);
  const parent = extractTrace(msg.headers);
  const span = tracer.startSpan(
    opts.spanName ?? msg.subject,
    { kind: SpanKind.SERVER, attributes: { 'messaging.destination.name': msg.subject, ...opts.attributes } },
    parent,
  );
  const ctx = trace.setSpan(parent, span);
  try {
    const body = opts.rawBody ? msg.data : decodeRequest(msg.data, encoding);
    const result = await context.with(ctx, () =>
      handler({ subject: msg.subject, body, headers: msg.headers, encoding, ctx, reply: msg.reply }),
    );
    if (result instanceof ForwardedReply) {
      span.setAttribute('lockstep.forwarded_to', result.subject);
      const failed = await result.unanswered;
      if (failed) throw failed;
      return;
    }
    const reply = result instanceof EncodedReply ? result.bytes : encode(result ?? {}, encoding);
    if (reply.length > bus.maxPayload()) throw tooLarge('the reply', reply.length, bus.maxPayload());
    const headers = replyHeaders(encoding);
    if (result instanceof EncodedReply) Object.assign(headers, result.headers);
    msg.respond(reply, headers);
  } catch (err) {
    const le = toLockstepError(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: le.message });
    span.setAttribute('lockstep.status', le.code);
    opts.onError?.(le, { subject: msg.subject });
    msg.respond(encode(le.toBody(), encoding), replyHeaders(encoding, le.code));
  } finally {
    span.end();
  }
}

/** Options of `call`. */
export interface CallOptions {
  timeoutMs: number;
  encoding?: Encoding;
  headers?: Headers;
  /** Trace context to propagate (the active one by default). */
  ctx?: Context;
}

/** Turns a reply into its body, or throws the LockstepError it carries. */
export function unwrapReply(msg: BusMessage, encoding: Encoding): unknown {
  const status = headerOf(msg.headers, STATUS_HEADER);
  const replyEncoding = encodingOf(headerOf(msg.headers, CONTENT_TYPE_HEADER)) === 'json' ? 'json' : encoding;
  let body: unknown;
  try {
    body = decode(msg.data, replyEncoding);
  } catch (err) {
    throw errors.internal(`undecodable reply on ${msg.subject}: ${(err as Error).message}`);
  }
  if (status) throw LockstepError.fromBody(body ?? { code: status, message: status });
  return body;
}

/** Sends a request and returns the decoded reply; error replies are thrown as LockstepError. */
export async function call<T = unknown>(bus: Bus, subject: string, body: unknown, opts: CallOptions): Promise<T> {
  const reply = await request(bus, subject, body, opts);
  return unwrapReply(reply, opts.encoding ?? 'msgpack') as T;
}

/**
 * As `call`, but a successful reply is returned as it came, undecoded (a caller that may pass it
 * on as it is); error replies are thrown as LockstepError.
 */
export async function callUndecoded(bus: Bus, subject: string, body: unknown, opts: CallOptions): Promise<BusMessage> {
  const reply = await request(bus, subject, body, opts);
  if (headerOf(reply.headers, STATUS_HEADER)) unwrapReply(reply, opts.encoding ?? 'msgpack');
  return reply;
}

async function request(bus: Bus, subject: string, body: unknown, opts: CallOptions): Promise<BusMessage> {
  const encoding = opts.encoding ?? 'msgpack';
  const headers: Headers = { ...opts.headers };
  if (encoding === 'json') headers[CONTENT_TYPE_HEADER] = JSON_CONTENT_TYPE;
  injectTrace(headers, opts.ctx ?? context.active());
  const data = encode(body ?? {}, encoding);
  if (data.length > bus.maxPayload()) throw tooLarge('the request', data.length, bus.maxPayload());
  return bus.request(subject, data, { timeoutMs: opts.timeoutMs, headers });
}

/**
 * Passes request `req` on to `subject` as `body` (msgpack, with the trace context): the server
 * there answers `req`'s requester itself, which NATS lets it do (`allow_responses`) because the
 * message it received names that reply subject. `unanswered` (see ForwardedReply) says when nobody
 * could. Return the result from the handler.
 */
export function forward(
  bus: Bus,
  subject: string,
  body: unknown,
  req: RpcRequest,
  unanswered?: Promise<LockstepError | undefined>,
): ForwardedReply {
  if (!req.reply) throw errors.internal(`a request on ${req.subject} without a reply subject cannot be forwarded`);
  const headers: Headers = {};
  injectTrace(headers, req.ctx);
  const data = encode(body ?? {}, 'msgpack');
  if (data.length > bus.maxPayload()) throw tooLarge('the request', data.length, bus.maxPayload());
  bus.publish(subject, data, headers, req.reply);
  return new ForwardedReply(subject, unanswered);
}

/** True when an error is one the caller may retry (the server was unreachable or slow). */
export function isTransientCode(code: Code): boolean {
  return code === Code.Unavailable || code === Code.DeadlineExceeded;
}
