/** Asserting a typed error: the call throws a LockstepError of `code` whose message holds every part. */
import assert from 'node:assert/strict';
import { LockstepError } from '../../transport/errors.js';

export function expectLockstepError(fn: () => unknown, code: string, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LockstepError, `not a LockstepError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts)
      assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}
