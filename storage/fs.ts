/**
 * The file system, injected: storage code reads and writes only through this interface so tests
 * can count reads, inject failures, or crash between steps. `nodeFs` is the real one.
 */
import { closeSync, fstatSync, openSync, promises as fsp, readSync } from 'node:fs';

/** An open file for positioned reads and appends. */
export interface FileHandle {
  /** Reads exactly `length` bytes at `position` into `buffer` at `offset`; fewer only at end of file. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  write(data: Uint8Array, position?: number): Promise<void>;
  size(): Promise<number>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The operations storage needs. Paths are absolute or relative to the process's cwd. */
export interface StorageFs {
  open(path: string, mode: 'r' | 'w' | 'wx' | 'a'): Promise<FileHandle>;
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a whole file durably: to a temp name, fsync, rename over `path`, fsync the directory. */
  writeFileAtomic(path: string, data: Uint8Array): Promise<void>;
  mkdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  syncDir(path: string): Promise<void>;
}

async function wrap(path: string, mode: 'r' | 'w' | 'wx' | 'a'): Promise<FileHandle> {
  const h = await fsp.open(path, mode);
  return {
    async read(buffer, offset, length, position) {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await h.read(buffer, offset + done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    },
    async write(data, position) {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await h.write(
          data,
          done,
          data.length - done,
          position === undefined ? null : position + done,
        );
        done += bytesWritten;
      }
    },
    size: async () => (await h.stat()).size,
    sync: () => h.sync(),
    close: () => h.close(),
  };
}

/**
 * A file opened for reading with blocking system calls, for a worker thread that has nothing else
 * to do meanwhile: a query's reads of cached data then cost microseconds each instead of a trip
 * through the I/O thread pool. Writing is refused.
 */
export function openBlockingReader(path: string): FileHandle {
  const fd = openSync(path, 'r');
  let closed = false;
  const readOnly = () => Promise.reject(new Error(`${path} is open for reading only`));
  return {
    read(buffer, offset, length, position) {
      // The descriptor's number may already belong to another file.
      if (closed) return Promise.reject(new Error(`${path} is closed`));
      try {
        let done = 0;
        while (done < length) {
          const got = readSync(fd, buffer, offset + done, length - done, position + done);
          if (got === 0) break;
          done += got;
        }
        return Promise.resolve(done);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
    write: readOnly,
    size: () => Promise.resolve(fstatSync(fd).size),
    sync: readOnly,
    close() {
      if (!closed) {
        closed = true;
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}

/** The real file system. */
export const nodeFs: StorageFs = {
  open: wrap,
  readFile: async (path) => new Uint8Array(await fsp.readFile(path)),
  async writeFileAtomic(path, data) {
    const tmp = `${path}.tmp-${process.pid}`;
    const h = await wrap(tmp, 'w');
    try {
      await h.write(data, 0);
      await h.sync();
    } finally {
      await h.close();
    }
    await fsp.rename(tmp, path);
    await nodeFs.syncDir(path.slice(0, Math.max(0, path.lastIndexOf('/'))) || '.');
  },
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  readdir: (path) => fsp.readdir(path),
  rename: (from, to) => fsp.rename(from, to),
  rm: (path) => fsp.rm(path, { recursive: true, force: true }),
  exists: async (path) => {
    try {
      await fsp.access(path);
      return true;
    } catch {
      return false;
    }
  },
  async syncDir(path) {
    const h = await fsp.open(path, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  },
};
