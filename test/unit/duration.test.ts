import assert from 'node:assert/strict';
import { Code, LockstepError } from '../../transport/errors.js';
import { parseDuration, SCHEMA_DURATION } from '../../transport/duration.js';
import { segmentIntervalMs, ttlMs } from '../../transport/schema_types.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function refused(f: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof LockstepError);
    assert.equal(err.code, Code.InvalidArgument);
    for (const p of parts)
      assert.match(err.message, typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
    return true;
  });
}

describe('durations', () => {
  it('duration - every unit parses, decimals too', () => {
    assert.equal(parseDuration('500ms', 't'), 500);
    assert.equal(parseDuration('1.5s', 't'), 1500);
    assert.equal(parseDuration('2m', 't'), 120_000);
    assert.equal(parseDuration('6h', 't'), 6 * HOUR_MS);
    assert.equal(parseDuration('7d', 't'), 7 * DAY_MS);
    assert.equal(parseDuration(' 5s ', 't'), 5000);
    assert.equal(parseDuration('0', 't'), 0);
  });

  it('duration - a bare number is refused naming the expected form, never taken as milliseconds', () => {
    refused(() => parseDuration('2', '--timeout'), '--timeout "2" is not a duration (a number needs a unit)', '5s');
    refused(() => parseDuration('1500', '--schema-wait'), '--schema-wait', 'a number needs a unit');
  });

  it('duration - malformed input is InvalidArgument naming what was parsed', () => {
    for (const bad of ['', 's', '5 s', '-1s', '5w', '1e3ms', 'five', '5S'])
      refused(() => parseDuration(bad, '--timeout'), '--timeout');
    refused(() => parseDuration(5, '--timeout'), '--timeout 5 is not a duration');
    refused(() => parseDuration(undefined, 'x'), 'x undefined is not a duration');
  });

  it('duration - schema durations take whole hours or days of at most six digits', () => {
    assert.equal(parseDuration('1h', 'ttl', SCHEMA_DURATION), HOUR_MS);
    assert.equal(parseDuration('30d', 'ttl', SCHEMA_DURATION), 30 * DAY_MS);
    for (const bad of ['0h', '0', '1m', 'h', '1.5h', '01h', '1H', '', '1234567d', '500ms']) {
      refused(() => parseDuration(bad, 'ttl', SCHEMA_DURATION), 'ttl', 'a whole number of h or d');
    }
  });

  it('duration - a group ttl and segment interval in milliseconds, or an error naming the group', () => {
    assert.equal(ttlMs({ name: 'g1', ttl: '36h' }), 36 * HOUR_MS);
    assert.equal(segmentIntervalMs({ name: 'g1', segment_interval: '1d' }), DAY_MS);
    refused(() => ttlMs({ name: 'g1', ttl: '5m' }), 'group g1 ttl "5m"');
    refused(() => segmentIntervalMs({ name: 'g2', segment_interval: '2w' }), 'group g2 segment_interval');
  });
});
