/**
 * W3C trace context in message headers, so one request is one trace across NATS and threads.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { headerOf, type Headers } from './bus.js';

const setter: TextMapSetter<Headers> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  // Header lookup is case-insensitive on the wire; an empty value means absent.
  get: (carrier, key) => headerOf(carrier, key) || undefined,
};

/** Adds `traceparent`/`tracestate` of `ctx` (the active context by default) to `headers`. */
export function injectTrace(headers: Headers = {}, ctx: Context = context.active()): Headers {
  propagation.inject(ctx, headers, setter);
  return headers;
}

/** The context carried by `headers` (the root context when none). */
export function extractTrace(headers: Headers | undefined): Context {
  if (!headers) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, getter);
}
