/**
 * InfluxDB line protocol parsing (transport/line_protocol.ts): tags and fields with escapes, every
 * field value type, precisions (ns by default, floored to ms), comments and blank lines, and an
 * `InvalidArgument` naming the line for each malformed one.
 */
import assert from 'node:assert/strict';
import { checkPrecision, parseLineProtocol } from '../../transport/line_protocol.js';

const invalid = (text: string, re: RegExp) =>
  assert.throws(
    () => parseLineProtocol(text),
    (e: Error & { code?: string }) => e.code === 'InvalidArgument' && re.test(e.message),
  );

describe('line protocol', () => {
  it('line protocol - measurement, tags, every field type, a nanosecond timestamp floored to ms', () => {
    const [p] = parseLineProtocol(
      'cpu,host=server01,region=us-west value=0.64,count=3i,up=t,idle=5u,note="a \\"b\\" c" 1434055562000000123',
    );
    assert.deepEqual(p, {
      line: 1,
      measurement: 'cpu',
      tags: { host: 'server01', region: 'us-west' },
      fields: { value: 0.64, count: 3, up: true, idle: 5, note: 'a "b" c' },
      ts: 1434055562000,
    });
  });

  it('line protocol - escapes in names, tag values and field keys; no tags; no timestamp', () => {
    const [a, b] = parseLineProtocol('my\\ cpu,host\\=x=a\\,b\\ c f\\ 1=-1.5e3\n\nmem free=1\n');
    assert.equal(a!.measurement, 'my cpu');
    assert.deepEqual(a!.tags, { 'host=x': 'a,b c' });
    assert.deepEqual(a!.fields, { 'f 1': -1500 });
    assert.deepEqual(b, { line: 3, measurement: 'mem', tags: {}, fields: { free: 1 }, ts: undefined });
  });

  it('line protocol - precisions: ns, us, ms, s; times before 1970 floor', () => {
    const t = (precision: 'ns' | 'us' | 'ms' | 's', raw: string) => parseLineProtocol(`m v=1 ${raw}`, precision)[0]!.ts;
    assert.equal(t('ns', '1500000'), 1);
    assert.equal(t('us', '2500'), 2);
    assert.equal(t('ms', '1700000000123'), 1700000000123);
    assert.equal(t('s', '1700000000'), 1700000000000);
    assert.equal(t('ns', '-1'), -1);
    assert.equal(checkPrecision(undefined), 'ns');
    assert.equal(checkPrecision('MS'), 'ms');
    assert.throws(() => checkPrecision('m'), /precision must be one of ns, us, ms, s, got "m"/);
  });

  it('line protocol - comments and CRLF', () => {
    const ps = parseLineProtocol('# a comment\r\ncpu v=1 1000000\r\n   # another\r\n');
    assert.equal(ps.length, 1);
    assert.equal(ps[0]!.line, 2);
    assert.equal(ps[0]!.ts, 1);
  });

  it('line protocol - malformed lines are InvalidArgument naming the line', () => {
    invalid('cpu v=1\ncpu', /line 2: expected a space and the fields/);
    invalid('cpu,host v=1', /line 1: a tag needs key=value/);
    invalid('cpu,host= v=1', /line 1: tag host has an empty value/);
    invalid('cpu v', /line 1: a field needs key=value/);
    invalid('cpu v=abc', /line 1: field v: "abc" is not a number/);
    invalid('cpu v="open', /line 1: field v: unterminated string/);
    invalid('cpu v=1 12:00', /line 1: timestamp "12:00" is not an integer/);
    invalid('cpu v=1,v=2', /line 1: field v is given twice/);
    invalid('cpu v=99999999999999999999i', /line 1: field v: integer .* is beyond/);
    invalid(',host=a v=1', /line 1: no measurement name/);
  });
});
