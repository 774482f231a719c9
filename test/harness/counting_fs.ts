/** A StorageFs over the real file system that counts what the code under test reads. */
import { nodeFs, type FileHandle, type StorageFs } from '../../storage/fs.js';

/** What `countingFs` counted, per path. */
export interface ReadCounts {
  /** Bytes read: positioned reads and whole-file reads (`readFile`) alike. */
  bytes: Map<string, number>;
  /** Positioned reads (`FileHandle.read`) only. */
  reads: Map<string, number>;
}

/** `nodeFs` with every read counted per path; clear the maps to count from a given moment. */
export function countingFs(): { fs: StorageFs } & ReadCounts {
  const bytes = new Map<string, number>();
  const reads = new Map<string, number>();
  const addBytes = (path: string, n: number) => bytes.set(path, (bytes.get(path) ?? 0) + n);
  const fs: StorageFs = {
    ...nodeFs,
    async open(path, mode): Promise<FileHandle> {
      const h = await nodeFs.open(path, mode);
      return {
        ...h,
        read: async (buf, off, len, pos) => {
          reads.set(path, (reads.get(path) ?? 0) + 1);
          const n = await h.read(buf, off, len, pos);
          addBytes(path, n);
          return n;
        },
      };
    },
    async readFile(path) {
      const data = await nodeFs.readFile(path);
      addBytes(path, data.length);
      return data;
    },
  };
  return { fs, bytes, reads };
}
