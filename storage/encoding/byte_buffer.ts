/**
 * Byte-level I/O for the column codecs: a growable writer and a bounds-checked reader. The reader
 * never reads past its end: running out of bytes, or finding bytes no encoder writes, throws an
 * `EncodingError` of kind `corrupt`, so a damaged block fails loudly instead of decoding garbage.
 * `buf` and `pos` are public on purpose: the varint and bit codecs touch them directly in their hot
 * loops, which keeps a method call and a bounds check per byte out of the inner loop.
 */
import { assert } from '../../runtime/assert.js';
import { Code, LockstepError } from '../../transport/errors.js';

/** Why a codec failed: the bytes are damaged, or the values cannot be represented by the format. */
export type EncodingErrorKind = 'corrupt' | 'unencodable';

/** A codec failure; `corrupt` when decoding damaged bytes, `unencodable` for values outside the format. */
export class EncodingError extends LockstepError {
  override readonly name = 'EncodingError';
  readonly kind: EncodingErrorKind;
  constructor(kind: EncodingErrorKind, message: string, details?: Record<string, unknown>) {
    // Internal: damaged data or an unvalidated value reaching storage is never the client's fault
    // here; the storage layer wraps it with the file name before it reaches a user.
    super(Code.Internal, message, details ? { details } : {});
    this.kind = kind;
  }
}

/** A `corrupt` error naming the byte offset where decoding stopped. */
export function corrupt(message: string, offset: number): EncodingError {
  return new EncodingError('corrupt', `corrupt encoded data at byte ${offset}: ${message}`, { offset });
}

/** An `unencodable` error: the caller handed a value the format does not carry. */
export function unencodable(message: string): EncodingError {
  return new EncodingError('unencodable', message);
}

/** A growable byte buffer; capacity doubles, so appends are amortised O(1). */
export class ByteWriter {
  /** Backing storage; only `buf[0, pos)` is written. Public for the codecs' hot loops. */
  buf: Uint8Array;
  /** Number of bytes written so far. */
  pos = 0;

  private readonly initialCapacity: number;

  constructor(initialCapacity = 256) {
    this.initialCapacity = Math.max(16, initialCapacity);
    this.buf = new Uint8Array(this.initialCapacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(this.pos + n);
  }

  private grow(min: number): void {
    let cap = this.buf.length * 2;
    if (cap < min) cap = min;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Appends one byte (the low 8 bits of `v`). */
  u8(v: number): void {
    if (this.pos >= this.buf.length) this.grow(this.pos + 1);
    this.buf[this.pos++] = v;
  }

  /** Appends a 32-bit unsigned integer, little-endian. */
  u32le(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  /** Appends raw bytes. */
  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Forgets what was written but keeps the capacity, for reuse as scratch space. */
  reset(): void {
    this.pos = 0;
  }

  /**
   * The bytes written, as an exact-length array the caller owns. The writer starts over empty and
   * later writes never alias what was returned.
   */
  finish(): Uint8Array {
    const { buf, pos } = this;
    this.pos = 0;
    // A copy lets the writer keep its storage for reuse; a view is free but hands the storage
    // over, so take it only when the view would not pin a mostly empty buffer.
    if (pos * 4 < buf.length * 3) return buf.slice(0, pos);
    this.buf = new Uint8Array(this.initialCapacity);
    return pos === buf.length ? buf : buf.subarray(0, pos);
  }
}

/** A bounds-checked cursor over `buf[start, end)`. */
export class ByteReader {
  /** The bytes read from; public for the codecs' hot loops. */
  readonly buf: Uint8Array;
  /** Next byte to read. */
  pos: number;
  /** One past the last readable byte. */
  readonly end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    assert(
      start >= 0 && end <= buf.length && start <= end,
      `a reader window [${start}, ${end}) lies within ${buf.length} bytes`,
    );
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws `corrupt` unless `n` more bytes are readable; `what` names the thing being read. */
  need(n: number, what: string): void {
    if (n > this.end - this.pos)
      throw corrupt(`truncated ${what}: need ${n} bytes, ${this.end - this.pos} left`, this.pos);
  }

  /** Reads one byte. */
  u8(what = 'byte'): number {
    if (this.pos >= this.end) throw corrupt(`truncated ${what}`, this.pos);
    return this.buf[this.pos++]!;
  }

  /** Reads a 32-bit unsigned integer, little-endian. */
  u32le(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /** A view of the next `n` bytes (no copy). */
  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Throws `corrupt` if bytes are left over: a codec that stopped early misread its input. */
  expectEnd(what: string): void {
    if (this.pos !== this.end)
      throw corrupt(`${this.end - this.pos} unexpected trailing bytes after ${what}`, this.pos);
  }
}

/** True on little-endian hosts; the float codecs index 32-bit halves of a float64 by this. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Index of the low 32-bit half of a float64 inside a Uint32Array alias. */
export const LO = LITTLE_ENDIAN ? 0 : 1;
/** Index of the high 32-bit half (sign, exponent, top of the mantissa). */
export const HI = LITTLE_ENDIAN ? 1 : 0;
