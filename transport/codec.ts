import { Packr } from 'msgpackr';
import { checkDecodedBody, msgpackNestsDeeper, tooDeep } from './body_check.js';
import { errors } from './errors.js';
import { MAX_BODY_NESTING } from './limits.js';

/** Header naming the body encoding; `application/json` switches a request and its reply to JSON. */
export const CONTENT_TYPE_HEADER = 'Content-Type';
export const JSON_CONTENT_TYPE = 'application/json';
export const MSGPACK_CONTENT_TYPE = 'application/msgpack';

// moreTypes: without it typed arrays are packed as garbage bytes (ECOSYSTEM.md). Plain maps, not
// records, so that any msgpack client can read our bodies. int64 'auto': clients that encode every
// integer at 64 bits (Go, Java) get plain numbers when safe, BigInt (refused by decode) beyond.
// No structured-clone references: they let a small body decode to a cycle or a shared subtree,
// which every walk downstream would follow forever or exponentially.
const packr = new Packr({
  moreTypes: true,
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'auto' as 'number',
  structuredClone: false,
});
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** The two body encodings of the wire protocol. */
export type Encoding = 'msgpack' | 'json';

/** Picks the encoding named by a Content-Type header value (msgpack when absent). */
export function encodingOf(contentType: string | undefined): Encoding {
  return contentType && contentType.toLowerCase().startsWith(JSON_CONTENT_TYPE) ? 'json' : 'msgpack';
}

/** Encodes a value. The result is a fresh copy (msgpackr returns views into a shared arena). */
export function encode(value: unknown, encoding: Encoding = 'msgpack'): Uint8Array {
  if (encoding === 'json') return textEncoder.encode(JSON.stringify(value ?? null));
  return Uint8Array.from(packr.pack(value ?? null));
}

/**
 * Decodes a body we or a peer node wrote (WAL records, KV entries, replies); an empty body is
 * `undefined`, a malformed one `InvalidArgument`. Public requests go through `decodeRequest`.
 */
export function decode(data: Uint8Array, encoding: Encoding = 'msgpack'): unknown {
  if (data.length === 0) return undefined;
  let value: unknown;
  try {
    value = encoding === 'json' ? JSON.parse(textDecoder.decode(data)) : packr.unpack(data);
  } catch (err) {
    // msgpackr reads recursively: deep nesting overflows its stack before anything can check it.
    if (encoding === 'msgpack' && msgpackNestsDeeper(data, MAX_BODY_NESTING)) throw tooDeep('body');
    throw errors.invalidArgument(`malformed ${encoding} body: ${(err as Error).message}`);
  }
  return value;
}

/**
 * Decodes a request from any client: as `decode`, and a body nested deeper than MAX_BODY_NESTING
 * or holding an integer beyond ±2^53 is `InvalidArgument` naming where (body_check.ts). Only here:
 * walking every WAL record and reply on the hot paths would cost for nothing our own code wrote.
 */
export function decodeRequest(data: Uint8Array, encoding: Encoding = 'msgpack'): unknown {
  const value = decode(data, encoding);
  checkDecodedBody(value);
  return value;
}
