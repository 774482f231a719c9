/**
 * A crash point for tests (only with `--enable-fault-injection`): a StorageFs that SIGKILLs its
 * own process right after the N-th part directory became complete on disk — in the middle of a
 * flush that writes several parts, before its commit marker — so a test can show that a kill -9
 * during a flush leaves no unreadable part and loses nothing.
 */
import type { StorageFs } from '../../storage/fs.js';
import { PART_TMP_SUFFIX } from '../../storage/part.js';

/** The environment variable naming N. */
export const KILL_AT_PART_COMMIT_ENV = 'LOCKSTEP_FAULT_KILL_AT_PART_COMMIT';

/** `base`, killing the process after its `n`-th part commit (the rename of a `part-<seq>.tmp`). */
export function killAtPartCommit(base: StorageFs, n: number): StorageFs {
  let commits = 0;
  return {
    ...base,
    async rename(from, to) {
      await base.rename(from, to);
      if (from.endsWith(PART_TMP_SUFFIX) && /part-\d+$/.test(to) && ++commits === n) process.kill(process.pid, 'SIGKILL');
    },
  };
}

/** The StorageFs of a data node: `base`, or the crash point when fault injection asks for one. */
export function dataNodeFs(base: StorageFs, faultInjection: boolean): StorageFs {
  const n = Number(process.env[KILL_AT_PART_COMMIT_ENV]);
  return faultInjection && Number.isSafeInteger(n) && n > 0 ? killAtPartCommit(base, n) : base;
}
