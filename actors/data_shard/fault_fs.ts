/**
 * A crash point for tests (only with `--enable-fault-injection`): a StorageFs that SIGKILLs its
 * own process right after the N-th part directory became complete on disk — in the middle of a
 * flush that writes several parts, before its commit marker — so a test can show that a kill -9
 * during a flush leaves no unreadable part and loses nothing. N comes from the node's config
 * (`LOCKSTEP_FAULT_KILL_AT_PART_COMMIT`, read by `lockstep node`).
 */
import type { StorageFs } from '../../storage/fs.js';
import { PART_TMP_SUFFIX } from '../../storage/part.js';

/** `base`, killing the process after its `n`-th part commit (the rename of a `part-<seq>.tmp`). */
export function killAtPartCommit(base: StorageFs, n: number): StorageFs {
  let commits = 0;
  return {
    ...base,
    async rename(from, to) {
      await base.rename(from, to);
      if (from.endsWith(PART_TMP_SUFFIX) && /part-\d+$/.test(to) && ++commits === n)
        process.kill(process.pid, 'SIGKILL');
    },
  };
}

/** The StorageFs of a data node: `base`, or the crash point when fault injection asks for one (N > 0). */
export function dataNodeFs(base: StorageFs, faultInjection: boolean, killAtPartCommit_: number): StorageFs {
  return faultInjection && Number.isSafeInteger(killAtPartCommit_) && killAtPartCommit_ > 0
    ? killAtPartCommit(base, killAtPartCommit_)
    : base;
}
