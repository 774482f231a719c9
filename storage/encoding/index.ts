/**
 * Column encodings used inside parts (DESIGN §8). Each column is encoded on its own, and every
 * codec is self-delimiting given the row count that the part's block index stores: a reader
 * handed a `ByteReader` and the count consumes exactly the column's bytes, so columns can be
 * concatenated in one block without length prefixes, and `decodeX(buf, count)` checks that no
 * byte is left over. An empty column (count 0) encodes to no bytes. Non-empty columns start with
 * one byte naming the codec chosen for them (timestamps: delta-of-delta or raw; floats: constant,
 * decimal, Gorilla XOR or raw; ints: constant, delta or plain; strings: dictionary with packed or
 * run-length indexes), so the encoder picks per block and decoders need no outside hints. Damaged
 * bytes raise `EncodingError` (kind `corrupt`, code `Internal`), never a read past the end or an
 * unbounded loop; values a format cannot carry raise kind `unencodable`. Integers are JS numbers,
 * exact up to 2^53 − 1, with no BigInt anywhere.
 */
export { ByteReader, ByteWriter, corrupt, EncodingError, unencodable, type EncodingErrorKind } from './byte_buffer.js';
export { BitReader, BitWriter } from './bits.js';
export {
  readUvarint,
  readVarint,
  unzigzag,
  uvarintLen,
  VARINT_MAX,
  varintLen,
  writeUvarint,
  writeVarint,
  zigzag,
} from './varint.js';
export {
  decodeTimestamps,
  encodeTimestamps,
  readTimestamps,
  regularTimestamps,
  TIMESTAMP_DOD_MAX,
  writeTimestamps,
} from './timestamps.js';
export {
  decodeFloats,
  DECIMAL_EXPONENT_MAX,
  encodeFloats,
  encodeFloatsAs,
  FloatCodec,
  floatCodecOf,
  readFloats,
  readPackedRunStats,
  writeFloats,
} from './floats.js';
export { decodeInts, encodeInts, IntCodec, readInts, writeInts } from './ints.js';
export {
  decodeIntLists,
  decodeStringLists,
  decodeStrings,
  encodeIntLists,
  encodeStringLists,
  encodeStrings,
  MAX_LIST_VALUES,
  readIntLists,
  readOnlyString,
  readStringLists,
  readStrings,
  StringIndexCodec,
  writeIntLists,
  writeStringLists,
  writeStrings,
} from './dictionary.js';
