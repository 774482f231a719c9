/** The readiness rule (runtime/readiness.ts) as a pure function. */
import assert from 'node:assert/strict';
import { readiness } from '../../runtime/readiness.js';

const running = (id: string) => ({ id, lifecycle: 'running' as const, restarting: false });

describe('readiness', () => {
  it('readiness - ready only when connected and every actor runs; each cause is named', () => {
    assert.deepEqual(readiness({ natsConnected: true, actors: [running('watcher'), running('data_shard')] }), {
      ready: true,
      reasons: [],
    });
    assert.deepEqual(
      readiness({
        natsConnected: false,
        actors: [
          running('watcher'),
          { id: 'data_shard', lifecycle: 'initialized', restarting: false },
          { id: 'api', lifecycle: 'failed', restarting: true },
        ],
      }),
      {
        ready: false,
        reasons: ['not connected to NATS', 'actor data_shard is initialized', 'actor api is restarting'],
      },
    );
    assert.deepEqual(readiness({ natsConnected: true, actors: [] }), { ready: false, reasons: ['no actor started'] });
  });
});
