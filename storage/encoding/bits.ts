/**
 * MSB-first bit streams on top of the byte writer and reader, for Gorilla floats and bit-packed
 * dictionary indexes. Both sides keep a 32-bit accumulator so a field costs a few shifts rather
 * than a loop over bytes. A stream ends on a byte boundary padded with zero bits; the reader
 * checks the padding, so a flipped bit there is caught as corruption rather than ignored.
 */
import { corrupt, type ByteReader, type ByteWriter } from './byte_buffer.js';

/** Writes bit fields of up to 32 bits, most significant bit first. */
export class BitWriter {
  private readonly w: ByteWriter;
  /** Pending bits, right-aligned. */
  private acc = 0;
  /** Number of pending bits (0..31). */
  private nbits = 0;

  constructor(w: ByteWriter) {
    this.w = w;
  }

  /** Appends one bit (0 or 1). */
  bit(b: number): void {
    this.acc = (this.acc << 1) | b;
    if (++this.nbits === 32) this.emit(this.acc, 0);
  }

  /** Appends the low `n` bits of `v` (0 ≤ n ≤ 32). */
  bits(v: number, n: number): void {
    if (n === 0) return;
    if (n < 32) v &= (1 << n) - 1;
    const free = 32 - this.nbits;
    if (n < free) {
      this.acc = (this.acc << n) | v;
      this.nbits += n;
      return;
    }
    // Complete a 32-bit word with the top `free` bits of v and keep the `rest` low bits.
    const rest = n - free;
    this.emit(free === 32 ? v : (this.acc << free) | (v >>> rest), rest);
    this.acc = rest === 0 ? 0 : v & ((1 << rest) - 1);
  }

  /** Writes a full 32-bit word big-endian and leaves `rest` bits pending. */
  private emit(word: number, rest: number): void {
    const w = this.w;
    if (w.pos + 4 > w.buf.length) w.ensure(4);
    const b = w.buf;
    const p = w.pos;
    b[p] = word >>> 24;
    b[p + 1] = word >>> 16;
    b[p + 2] = word >>> 8;
    b[p + 3] = word;
    w.pos = p + 4;
    this.acc = 0;
    this.nbits = rest;
  }

  /** Pads the last byte with zero bits; call once at the end of the stream. */
  flush(): void {
    let n = this.nbits;
    if (n === 0) return;
    let word = this.acc << (32 - n);
    for (; n > 0; n -= 8, word <<= 8) this.w.u8(word >>> 24);
    this.acc = 0;
    this.nbits = 0;
  }
}

/** Reads bit fields written by `BitWriter`; never loads a byte past the reader's window. */
export class BitReader {
  private readonly r: ByteReader;
  private readonly buf: Uint8Array;
  private readonly end: number;
  /** Next byte to load. */
  private pos: number;
  /** Loaded, unread bits, left-aligned (the next bit is bit 31). */
  private acc = 0;
  /** Number of loaded, unread bits (0..32). */
  private avail = 0;

  constructor(r: ByteReader) {
    this.r = r;
    this.buf = r.buf;
    this.end = r.end;
    this.pos = r.pos;
  }

  /** Loads whole bytes while they fit the accumulator. */
  private refill(): void {
    while (this.avail <= 24 && this.pos < this.end) {
      this.acc |= this.buf[this.pos++]! << (24 - this.avail);
      this.avail += 8;
    }
  }

  /** Reads one bit. */
  bit(): number {
    if (this.avail === 0) {
      this.refill();
      if (this.avail === 0) throw corrupt('truncated bit stream', this.pos);
    }
    const b = this.acc >>> 31;
    this.acc <<= 1;
    this.avail--;
    return b;
  }

  /** Reads `n` bits (0 ≤ n ≤ 32) as an unsigned number. */
  bits(n: number): number {
    if (n > 24) {
      // The accumulator may hold as few as 25 bits after a refill: read in two parts.
      const hi = this.bits(n - 16);
      return ((hi << 16) | this.bits(16)) >>> 0;
    }
    if (n === 0) return 0;
    if (this.avail < n) {
      this.refill();
      if (this.avail < n) throw corrupt('truncated bit stream', this.pos);
    }
    const v = this.acc >>> (32 - n);
    this.acc <<= n;
    this.avail -= n;
    return v;
  }

  /** Ends the stream: checks the padding is zero and leaves the byte reader just past it. */
  finish(): void {
    // Whole bytes loaded ahead belong to whatever follows the stream: give them back.
    const partial = this.avail & 7;
    if (partial > 0 && this.acc >>> (32 - partial) !== 0)
      throw corrupt('non-zero padding bits', this.pos - (this.avail >>> 3) - 1);
    this.r.pos = this.pos - (this.avail >>> 3);
    this.acc = 0;
    this.avail = 0;
  }
}
