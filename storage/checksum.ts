/**
 * CRC-32 (IEEE 802.3, the zlib/gzip polynomial) for block, index and part checks. Node ≥ 20.15
 * ships `zlib.crc32` in native code; the table-driven fallback keeps older runtimes working and
 * yields the same values, so files stay readable whichever one wrote them.
 */
import * as zlib from 'node:zlib';
import { CorruptDataError } from './errors.js';

type Crc32Fn = (data: Uint8Array, value?: number) => number;

/** The standard reflected table for polynomial 0xEDB88320, built once. */
function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

let table: Uint32Array | null = null;

/** Table-driven CRC-32, continuing from `value` like zlib's. Exported for tests of the fallback. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  const t = (table ??= makeTable());
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// Looked up dynamically: the typings of older @types/node lack it, and the runtime may too.
const native = (zlib as unknown as { crc32?: Crc32Fn }).crc32;

/** CRC-32 of `data` (optionally continuing a running `value`), as an unsigned 32-bit number. */
export const crc32: Crc32Fn =
  typeof native === 'function' ? (data, value = 0) => native(data, value) >>> 0 : crc32Portable;

/** True when the native zlib implementation is in use (for benchmarks and reports). */
export const CRC32_NATIVE = typeof native === 'function';

/**
 * Throws `CorruptDataError` naming `path` unless crc32(`data`) equals `expected`; `what` says which
 * thing was checked ("block at offset 4096", "index").
 */
export function verify(path: string, what: string | (() => string), data: Uint8Array, expected: number): void {
  const actual = crc32(data);
  if (actual !== expected >>> 0) {
    // `what` may be a function: a caller checking thousands of blocks names only a damaged one.
    const named = typeof what === 'string' ? what : what();
    throw new CorruptDataError(path, `${named}: checksum mismatch (stored ${hex(expected)}, computed ${hex(actual)})`);
  }
}

function hex(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
