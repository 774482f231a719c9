/** Credentials in the NATS URL: used for login, never printed; a refused login is permanent. */
import assert from 'node:assert/strict';
import { redactUrl, splitCredentials } from '../../transport/nats_auth.js';
import { NatsBus } from '../../transport/nats_bus.js';
import { isPermanent } from '../../runtime/errors.js';
import { startNatsServer, type NatsServer } from '../harness/nats_server.js';

describe('nats credentials', function () {
  this.timeout(30_000);
  let nats: NatsServer;
  before(async () => {
    nats = await startNatsServer({ args: ['--user', 'node', '--pass', 's3cret'] });
  });
  after(async () => {
    await nats?.stop();
  });

  it('transport - user:pass in the URL logs in; the password never appears in errors', async () => {
    const port = new URL(nats.url).port;
    const bus = await NatsBus.connect({ url: `nats://node:s3cret@127.0.0.1:${port}`, name: 't' });
    await bus.flush();
    await bus.close();
    await assert.rejects(
      NatsBus.connect({ url: `nats://node:wrong@127.0.0.1:${port}`, name: 't' }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'PermissionDenied');
        assert.ok(isPermanent(e), 'a refused login is permanent');
        assert.ok(!e.message.includes('wrong'), e.message);
        assert.match(e.message, /nats:\/\/node:\*\*\*@127\.0\.0\.1/);
        return true;
      },
    );
  });

  it('transport - URLs are split into servers and credentials', () => {
    assert.deepEqual(splitCredentials('nats://a:b%40c@h1:4222, nats://h2:4222'), {
      servers: ['nats://h1:4222', 'nats://h2:4222'],
      user: 'a',
      pass: 'b@c',
    });
    assert.equal(redactUrl('nats://a:b@h:1'), 'nats://a:***@h:1');
  });
});
