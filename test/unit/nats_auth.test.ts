/**
 * Where a NATS login comes from (runtime/cli/global_options.ts `resolveNatsAuth`) and which reply
 * prefix it gets (transport/nats_auth.ts): the environment or a file, never a command line; bad
 * options are `InvalidArgument` naming the option, never the password.
 */
import assert from 'node:assert/strict';
import { halfCredentials, resolveNatsAuth } from '../../runtime/cli/global_options.js';
import { inboxPrefixFor, urlHasPassword } from '../../transport/nats_auth.js';

const invalid = (re: RegExp) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, 'InvalidArgument');
  assert.match((e as Error).message, re);
  assert.ok(!(e as Error).message.includes('s3cret'), 'the password is never in a message');
  return true;
};

describe('NATS login options', () => {
  it('user and password from the environment; flags win over it; the prefix follows the user', () => {
    const env = { LOCKSTEP_NATS_USER: 'reader', LOCKSTEP_NATS_PASSWORD: 's3cret' };
    assert.deepEqual(resolveNatsAuth({ env }), { user: 'reader', pass: 's3cret' });
    assert.deepEqual(resolveNatsAuth({ env, user: 'writer' }), { user: 'writer', pass: 's3cret' });
    assert.deepEqual(resolveNatsAuth({ env: {} }), {});
    assert.equal(inboxPrefixFor('writer'), '_INBOX.writer');
    assert.equal(inboxPrefixFor(undefined), '_INBOX');
    assert.equal(inboxPrefixFor('a.b'), '_INBOX', 'a user that is not one token keeps the default');
    assert.deepEqual(resolveNatsAuth({ env: { LOCKSTEP_NATS_INBOX_PREFIX: '_R.app' } }), { inboxPrefix: '_R.app' });
  });

  it('a password file wins over the environment; its final newline is not part of the password', () => {
    const files: Record<string, string> = { '/p': 's3cret\n', '/empty': '\n' };
    const readFile = (p: string) => {
      if (!(p in files)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return files[p]!;
    };
    const env = { LOCKSTEP_NATS_PASSWORD: 'other' };
    assert.deepEqual(resolveNatsAuth({ env, user: 'u', passwordFile: '/p', readFile }), { user: 'u', pass: 's3cret' });
    assert.throws(
      () => resolveNatsAuth({ env, passwordFile: '/missing', readFile }),
      invalid(/--password-file \/missing cannot be read: ENOENT/),
    );
    assert.throws(() => resolveNatsAuth({ env, passwordFile: '/empty', readFile }), invalid(/is empty/));
  });

  it('refuses a password on the command line, a bad prefix, a password without a user', () => {
    assert.throws(
      () => resolveNatsAuth({ env: {}, urlFlag: 'nats://reader:s3cret@127.0.0.1:4222' }),
      invalid(/--nats-url carries a password/),
    );
    // A user alone in the flag is fine; the password then comes from the environment.
    assert.deepEqual(resolveNatsAuth({ env: { LOCKSTEP_NATS_PASSWORD: 's3cret' }, urlFlag: 'nats://reader@h:1' }), {
      pass: 's3cret',
    });
    assert.equal(halfCredentials({ pass: 's3cret' }, 'nats://reader@h:1'), undefined);
    assert.match(halfCredentials({ pass: 's3cret' }, 'nats://h:1')!, /without a user/);
    assert.throws(() => resolveNatsAuth({ env: {}, inboxPrefix: '_INBOX.>' }), invalid(/--inbox-prefix must be/));
    assert.equal(urlHasPassword('nats://h1:1,nats://u:p@h2:2'), true);
    assert.equal(urlHasPassword('nats://u@h:1'), false);
  });
});
