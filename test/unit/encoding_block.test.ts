/**
 * Columns of every kind written back to back into one buffer, as a part's block will hold them.
 * Invariant: each codec is self-delimiting given the row count, so a reader walking the block in
 * order gets every column back exactly and ends on the block's last byte, with no length prefix.
 */
import assert from 'node:assert/strict';
import {
  ByteReader,
  ByteWriter,
  readFloats,
  readIntLists,
  readInts,
  readStringLists,
  readStrings,
  readTimestamps,
  writeFloats,
  writeIntLists,
  writeInts,
  writeStringLists,
  writeStrings,
  writeTimestamps,
} from '../../storage/encoding/index.js';
import { assertSameBits, assertTruncationsCorrupt, mulberry32, randInt, SEED } from '../harness/encoding_harness.js';

const HOSTS = ['web-1', 'web-2', 'db-1'];

describe('encoding - block of columns', () => {
  it(`block - concatenated columns of every kind read back in order (seed ${SEED})`, () => {
    const rng = mulberry32(SEED ^ 0xb10c);
    for (let k = 0; k < 500; k++) {
      const n = randInt(rng, 0, k % 10 === 0 ? 2000 : 30);
      const ts = Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 1000 + randInt(rng, 0, 3));
      const value = Float64Array.from({ length: n }, () => (rng() < 0.5 ? randInt(rng, 0, 9999) / 100 : rng()));
      const count = Array.from({ length: n }, (_, i) => i * 3);
      const host = Array.from({ length: n }, () => HOSTS[randInt(rng, 0, 2)]!);
      const labels = Array.from({ length: n }, () => HOSTS.slice(0, randInt(rng, 0, 3)));
      const ports = Array.from({ length: n }, () =>
        Array.from({ length: randInt(rng, 0, 2) }, () => randInt(rng, 1, 65535)),
      );

      const w = new ByteWriter(16);
      writeTimestamps(w, ts);
      writeFloats(w, value);
      writeInts(w, count);
      writeStrings(w, host);
      writeStringLists(w, labels);
      writeIntLists(w, ports);
      const block = w.finish();

      const readAll = (r: ByteReader, rows: number): void => {
        assert.deepEqual(Array.from(readTimestamps(r, rows)), ts);
        assertSameBits(readFloats(r, rows), value, 'floats');
        assert.deepEqual(Array.from(readInts(r, rows)), count);
        assert.deepEqual(readStrings(r, rows), host);
        assert.deepEqual(readStringLists(r, rows), labels);
        assert.deepEqual(readIntLists(r, rows), ports);
      };
      const r = new ByteReader(block);
      readAll(r, n);
      r.expectEnd('block');
      if (n > 0 && k % 25 === 0) {
        // Cutting the block anywhere must fail, whichever column the cut lands in.
        assertTruncationsCorrupt(block, n, (rr, rows) => readAll(rr, rows), rng);
      }
    }
  });
});
