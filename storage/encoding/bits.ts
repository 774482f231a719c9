/**
 * MSB-first bit streams on top of the byte writer and reader, for Gorilla floats and bit-packed
 * dictionary indexes. A stream ends on a byte boundary padded with zero bits; the reader checks
 * the padding, so a flipped bit there is caught as corruption rather than ignored.
 */
import { corrupt, type ByteReader, type ByteWriter } from './byte_buffer.js';

/** Writes bit fields of up to 32 bits, most significant bit first. */
export class BitWriter {
  private readonly w: ByteWriter;
  /** Bits of the partial byte, right-aligned. */
  private cur = 0;
  /** Number of bits in `cur` (0..7). */
  private nbits = 0;

  constructor(w: ByteWriter) {
    this.w = w;
  }

  /** Appends one bit. */
  bit(b: number): void {
    this.cur = (this.cur << 1) | b;
    if (++this.nbits === 8) {
      this.w.u8(this.cur);
      this.cur = 0;
      this.nbits = 0;
    }
  }

  /** Appends the low `n` bits of `v` (0 ≤ n ≤ 32). */
  bits(v: number, n: number): void {
    while (n > 0) {
      const free = 8 - this.nbits;
      if (n >= free) {
        // Fill the partial byte and emit it.
        n -= free;
        this.w.u8((this.cur << free) | ((v >>> n) & ((1 << free) - 1)));
        this.cur = 0;
        this.nbits = 0;
      } else {
        this.cur = (this.cur << n) | (v & ((1 << n) - 1));
        this.nbits += n;
        return;
      }
    }
  }

  /** Pads the last byte with zero bits; call once at the end of the stream. */
  flush(): void {
    if (this.nbits > 0) {
      this.w.u8(this.cur << (8 - this.nbits));
      this.cur = 0;
      this.nbits = 0;
    }
  }
}

/** Reads bit fields written by `BitWriter`; every read is bounds-checked. */
export class BitReader {
  private readonly r: ByteReader;
  private readonly buf: Uint8Array;
  private readonly end: number;
  private pos: number;
  /** The current byte. */
  private cur = 0;
  /** Unread bits left in `cur` (0..8), taken from its top. */
  private left = 0;

  constructor(r: ByteReader) {
    this.r = r;
    this.buf = r.buf;
    this.end = r.end;
    this.pos = r.pos;
  }

  /** Reads one bit. */
  bit(): number {
    if (this.left === 0) {
      if (this.pos >= this.end) throw corrupt('truncated bit stream', this.pos);
      this.cur = this.buf[this.pos++]!;
      this.left = 8;
    }
    return (this.cur >>> --this.left) & 1;
  }

  /** Reads `n` bits (0 ≤ n ≤ 32) as an unsigned number. */
  bits(n: number): number {
    let v = 0;
    while (n > 0) {
      if (this.left === 0) {
        if (this.pos >= this.end) throw corrupt('truncated bit stream', this.pos);
        this.cur = this.buf[this.pos++]!;
        this.left = 8;
      }
      const take = n < this.left ? n : this.left;
      this.left -= take;
      v = (v << take) | ((this.cur >>> this.left) & ((1 << take) - 1));
      n -= take;
    }
    return v >>> 0;
  }

  /** Ends the stream: checks the padding is zero and moves the byte reader past it. */
  finish(): void {
    if (this.left > 0 && (this.cur & ((1 << this.left) - 1)) !== 0) throw corrupt('non-zero padding bits', this.pos - 1);
    this.r.pos = this.pos;
  }
}
