import assert from 'node:assert/strict';
import {
  aggColumn,
  buildQuery,
  collectList,
  parseAgg,
  parseAggs,
  parseTime,
  parseToken,
  parseTop,
  resolveRange,
} from '../../runtime/cli/query_args.js';
import { buildCriteria, parseWhere, parseWhereJson } from '../../runtime/cli/query_where.js';
import { formatCell, formatTime, missingShardsWarning, renderReply } from '../../runtime/cli/query_cmd.js';
import { csvCell, csvColumns, csvLine, queryFormat } from '../../runtime/cli/query_format.js';
import type { Bus, BusMessage, RequestOptions } from '../../transport/bus.js';
import { LockstepClient, QUERY_REPLY_GRACE_MS } from '../../transport/client.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, LockstepError } from '../../transport/errors.js';
import type { MeasureRow, QueryReply, StreamRow } from '../../transport/query_types.js';
import { STATUS_HEADER } from '../../transport/rpc.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

// Asserts that `fn` throws InvalidArgument with a message matching `re`.
function invalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LockstepError, `expected a LockstepError, got ${String(err)}`);
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.message, re);
    return true;
  });
}

describe('cli query - time parsing', () => {
  it('cli query - now and relative times count back from now', () => {
    assert.equal(parseTime('now', NOW, '--to'), NOW);
    assert.equal(parseTime('-30s', NOW, '--from'), NOW - 30_000);
    assert.equal(parseTime('-15m', NOW, '--from'), NOW - 15 * MIN);
    assert.equal(parseTime('-2h', NOW, '--from'), NOW - 2 * HOUR);
    assert.equal(parseTime('-7d', NOW, '--from'), NOW - 7 * 24 * HOUR);
    assert.equal(parseTime('now-15m', NOW, '--from'), NOW - 15 * MIN);
  });

  it('cli query - epoch ms and RFC 3339 with a zone are absolute', () => {
    assert.equal(parseTime('1714564800000', NOW, '--from'), 1714564800000);
    assert.equal(parseTime('2024-05-01T12:00:00Z', 0, '--from'), NOW);
    assert.equal(parseTime('2024-05-01T14:00:00+02:00', 0, '--from'), NOW);
    assert.equal(parseTime('2024-05-01T12:00:00.250Z', 0, '--from'), NOW + 250);
  });

  it('cli query - malformed times are refused naming the flag', () => {
    invalid(() => parseTime('yesterday', NOW, '--from'), /^--from "yesterday" is not a time/);
    invalid(() => parseTime('-15', NOW, '--from'), /is not a time/);
    invalid(() => parseTime('-15y', NOW, '--to'), /^--to "-15y" is not a time/);
    invalid(() => parseTime('+15m', NOW, '--to'), /is not a time/);
    invalid(() => parseTime('2024-05-01T12:00:00', NOW, '--from'), /--from.*not an RFC 3339 time with a zone/);
    invalid(() => parseTime('2024-02-30T12:00:00Z', NOW, '--from'), /not a valid date/);
  });

  it('cli query - the range defaults to the last hour and must not be empty', () => {
    assert.deepEqual(resolveRange(undefined, undefined, NOW), { from: NOW - HOUR, to: NOW });
    assert.deepEqual(resolveRange(undefined, '-1d', NOW), { from: NOW - 25 * HOUR, to: NOW - 24 * HOUR });
    assert.deepEqual(resolveRange('-7d', undefined, NOW), { from: NOW - 7 * 24 * HOUR, to: NOW });
    invalid(() => resolveRange('-1h', '-2h', NOW), /--from .* must be before --to/);
    invalid(() => resolveRange('now', 'now', NOW), /must be before/);
  });
});

describe('cli query - where grammar', () => {
  it('cli query - = and != take one value; bare digits are integers, anything else a string', () => {
    assert.deepEqual(parseWhere('host=h1'), { tag: 'host', op: 'eq', value: 'h1' });
    assert.deepEqual(parseWhere('core = 3'), { tag: 'core', op: 'eq', value: 3 });
    assert.deepEqual(parseWhere('delta=-7'), { tag: 'delta', op: 'eq', value: -7 });
    assert.deepEqual(parseWhere('host!=h2'), { tag: 'host', op: 'ne', value: 'h2' });
    assert.deepEqual(parseWhere('v=1.5'), { tag: 'v', op: 'eq', value: '1.5' });
    assert.deepEqual(parseWhere('url=a=b'), { tag: 'url', op: 'eq', value: 'a=b' });
  });

  it('cli query - a field compared with a number: >, >=, <, <=, decimals and negatives', () => {
    assert.deepEqual(parseWhere('value > 90'), { field: 'value', op: 'gt', value: 90 });
    assert.deepEqual(parseWhere('value>=-1.5'), { field: 'value', op: 'ge', value: -1.5 });
    assert.deepEqual(parseWhere(' latency < 2e3 '), { field: 'latency', op: 'lt', value: 2000 });
    assert.deepEqual(parseWhere('n <= 0'), { field: 'n', op: 'le', value: 0 });
    assert.deepEqual(parseWhereJson('{"field": "value", "op": "eq", "value": 1.5}'), {
      field: 'value',
      op: 'eq',
      value: 1.5,
    });
  });

  it('cli query - quoted values are strings, with spaces, commas and escapes', () => {
    assert.deepEqual(parseWhere('code="42"'), { tag: 'code', op: 'eq', value: '42' });
    assert.deepEqual(parseWhere("code='42'"), { tag: 'code', op: 'eq', value: '42' });
    assert.deepEqual(parseWhere('msg="a, b (c)"'), { tag: 'msg', op: 'eq', value: 'a, b (c)' });
    assert.deepEqual(parseWhere('msg="say \\"hi\\" \\\\ ok"'), { tag: 'msg', op: 'eq', value: 'say "hi" \\ ok' });
    assert.deepEqual(parseWhere('msg=""'), { tag: 'msg', op: 'eq', value: '' });
  });

  it('cli query - in and not in take a list, any keyword case', () => {
    assert.deepEqual(parseWhere('host in (h1,h2, "h 3")'), { tag: 'host', op: 'in', value: ['h1', 'h2', 'h 3'] });
    assert.deepEqual(parseWhere('core IN(1,2)'), { tag: 'core', op: 'in', value: [1, 2] });
    assert.deepEqual(parseWhere('core not in (0)'), { tag: 'core', op: 'not_in', value: [0] });
    assert.deepEqual(parseWhere('code NOT  IN ("1", "2")'), { tag: 'code', op: 'not_in', value: ['1', '2'] });
    // A tag may itself be called `not` or `in`.
    assert.deepEqual(parseWhere('not in (a)'), { tag: 'not', op: 'in', value: ['a'] });
  });

  it('cli query - malformed expressions are refused with the column', () => {
    invalid(() => parseWhere('host='), /--where "host=": expected a value .* at column 6/);
    invalid(() => parseWhere('Host=a'), /"Host" is not a valid tag name at column 1/);
    invalid(() => parseWhere('=a'), /expected a tag name/);
    invalid(
      () => parseWhere('host~a'),
      /expected =, !=, in, not in \(a tag\) or >, >=, <, <= \(a field\) after the name at column 5/,
    );
    invalid(() => parseWhere('value > hot'), /expected a number after > at column 9/);
    invalid(() => parseWhere('value >= 1 2'), /unexpected "2"/);
    invalid(() => parseWhere('host=a b'), /unexpected "b" at column 8/);
    invalid(() => parseWhere('host="abc'), /unterminated "-quoted value/);
    invalid(() => parseWhere('host in h1'), /expected \( after in/);
    invalid(() => parseWhere('host in ()'), /expected a value/);
    invalid(() => parseWhere('host in (a b)'), /expected , or \) in the list/);
    invalid(() => parseWhere('host not (a)'), /expected "in" after "not"/);
    invalid(() => parseWhere('core in (1,a)'), /mixes integers and strings/);
    invalid(() => parseWhere('zip=007'), /leading zero: write "007" for a string/);
    invalid(() => parseWhere('n=12345678901234567890'), /not a safe integer/);
  });

  it('cli query - several conditions are ANDed, --where-json included', () => {
    assert.equal(buildCriteria([], undefined), undefined);
    assert.deepEqual(buildCriteria(['a=1']), { tag: 'a', op: 'eq', value: 1 });
    const or = '{"or": [{"tag": "a", "op": "eq", "value": "x"}, {"tag": "b", "op": "in", "value": [1, 2]}]}';
    assert.deepEqual(buildCriteria(['a=1', 'b!=y'], or), {
      and: [
        { tag: 'a', op: 'eq', value: 1 },
        { tag: 'b', op: 'ne', value: 'y' },
        {
          or: [
            { tag: 'a', op: 'eq', value: 'x' },
            { tag: 'b', op: 'in', value: [1, 2] },
          ],
        },
      ],
    });
  });

  it('cli query - --where-json is checked for shape, naming the place', () => {
    invalid(() => parseWhereJson('{'), /--where-json is not valid JSON/);
    invalid(() => parseWhereJson('[]'), /the top level: expected an object/);
    invalid(() => parseWhereJson('{"and": []}'), /and must be a non-empty array/);
    invalid(
      () => parseWhereJson('{"or": [{"tag": "a", "op": "like", "value": "x"}]}'),
      /or\[0\]: op must be one of eq, ne, in, not_in/,
    );
    invalid(
      () => parseWhereJson('{"and": [{"or": [{"tag": "a", "op": "eq", "value": 1, "x": 1}]}]}'),
      /and\[0\]\.or\[0\]: unknown key "x"/,
    );
    invalid(() => parseWhereJson('{"tag": "a", "op": "in", "value": "x"}'), /value of in must be a non-empty array/);
    invalid(
      () => parseWhereJson('{"tag": "a", "op": "eq", "value": 1.5}'),
      /value of eq must be a string or a safe integer/,
    );
    invalid(() => parseWhereJson('{"and": [], "or": []}'), /only the key "and"/);
  });
});

describe('cli query - aggregations and top-N', () => {
  it('cli query - fn:field, count and count:field', () => {
    assert.deepEqual(parseAgg('sum:value'), { fn: 'sum', field: 'value' });
    assert.deepEqual(parseAgg('count'), { fn: 'count' });
    assert.deepEqual(parseAgg('count:value'), { fn: 'count', field: 'value' });
    assert.equal(aggColumn({ fn: 'mean', field: 'v' }), 'mean(v)');
    assert.equal(aggColumn({ fn: 'count' }), 'count');
    assert.deepEqual(parseAgg('p99:latency'), { fn: 'percentile', field: 'latency', p: 99 });
    assert.deepEqual(parseAgg('p99.9:latency'), { fn: 'percentile', field: 'latency', p: 99.9 });
    assert.equal(aggColumn(parseAgg('p50:v')), 'p50(v)');
    assert.deepEqual(parseAgg('rate:requests'), { fn: 'rate', field: 'requests' });
    assert.deepEqual(parseAgg('last:v'), { fn: 'last', field: 'v' });
    assert.deepEqual(parseAggs(collectList('sum:a,max:a', collectList('count', undefined))), [
      { fn: 'count' },
      { fn: 'sum', field: 'a' },
      { fn: 'max', field: 'a' },
    ]);
  });

  it('cli query - unknown functions, missing fields and duplicates are refused', () => {
    invalid(
      () => parseAgg('avg:v'),
      /unknown function "avg" \(functions: count, sum, min, max, mean, first, last, rate, pN\)/,
    );
    invalid(() => parseAgg('percentile:v'), /unknown function "percentile"/);
    invalid(() => parseAgg('p101:v'), /unknown function "p101"/);
    invalid(() => parseAgg('p0:v'), /a percentile is in \(0, 100\]/);
    invalid(() => parseAgg('sum'), /sum needs a field, as sum:FIELD/);
    invalid(() => parseAgg('sum:'), /"" is not a valid field name/);
    invalid(() => parseAggs(['max:v', 'max:v']), /--agg max\(v\) is given twice/);
  });

  it('cli query - --top ranks by --top-by, else by the first --agg', () => {
    const aggs = parseAggs(['mean:v', 'max:v']);
    assert.equal(parseTop({}, aggs), undefined);
    assert.deepEqual(parseTop({ top: '5' }, aggs), { n: 5, fn: 'mean', field: 'v' });
    assert.deepEqual(parseTop({ top: '3', topBy: 'count', topOrder: 'asc' }, aggs), {
      n: 3,
      fn: 'count',
      order: 'asc',
    });
    assert.deepEqual(parseTop({ top: '1', topBy: 'max:w' }, []), { n: 1, fn: 'max', field: 'w' });
  });

  it('cli query - bad top options are refused', () => {
    invalid(() => parseTop({ top: '5' }, []), /--top needs --top-by/);
    invalid(() => parseTop({ topBy: 'max:v' }, []), /need --top N/);
    invalid(() => parseTop({ top: '0', topBy: 'count' }, []), /--top must be an integer from 1 to 100000/);
    invalid(() => parseTop({ top: 'x', topBy: 'count' }, []), /--top must be an integer/);
    invalid(
      () => parseTop({ top: '2', topBy: 'count', topOrder: 'up' }, []),
      /--top-order must be asc or desc, got "up"/,
    );
    invalid(() => parseTop({ top: '2', topBy: 'median:v' }, []), /--top-by "median:v": unknown function/);
  });
});

describe('cli query - time buckets', () => {
  const q = (o: Record<string, unknown>) => buildQuery('measure', 'g', 'm', { from: '-1h', ...o }, NOW);

  it('cli query - --every, --every-offset and --fill become bucket, bucket_offset and fill', () => {
    const got = q({ agg: ['mean:v'], every: '1m', everyOffset: '30s', fill: 'null' });
    assert.equal(got.bucket, '1m');
    assert.equal(got.bucket_offset, '30s');
    assert.equal(got.fill, 'null');
    assert.equal(q({ agg: ['count'], every: ' 5m ' }).bucket, '5m');
  });

  it('cli query - bucket options without what they need are refused, naming the flag', () => {
    invalid(() => q({ every: '1m' }), /--every needs an --agg/);
    invalid(() => q({ agg: ['count'], fill: 'null' }), /--every-offset and --fill need --every/);
    invalid(() => q({ agg: ['count'], every: 'soon' }), /--every "soon" is not a duration/);
    invalid(() => q({ agg: ['count'], every: '1m', fill: 'zero' }), /--fill must be none or null, got "zero"/);
    invalid(() => buildQuery('stream', 'g', 's', { every: '1m' }, NOW), /--every applies to measure queries only/);
  });

  it('cli query - a bucketed answer shows each group with its bucket start', () => {
    const reply: QueryReply = {
      groups: [{ ts: NOW, tags: { host: 'a' }, values: { 'mean(v)': 1.5 } }],
      missing_shards: [],
      schema_revision: 1,
      has_more: false,
    };
    assert.deepEqual(
      renderReply('measure', reply, {
        group: 'g',
        name: 'm',
        from: 0,
        to: 1,
        group_by: ['host'],
        aggregations: [{ fn: 'mean', field: 'v' }],
        bucket: '1m',
      }),
      ['time                      host  mean(v)', `${formatTime(NOW)}  a     1.5`],
    );
  });
});

describe('cli query - write tokens', () => {
  const token = { group: 'g1', shards: { '0': 12, '3': 7 } };

  it('cli query - a write_token object or a whole write reply is accepted', () => {
    assert.deepEqual(parseToken(JSON.stringify(token), 'g1'), token);
    const reply = { points: 3, batches: 1, run_id: 'r', write_token: token, write_tokens: [token] };
    assert.deepEqual(parseToken(JSON.stringify(reply, null, 2), 'g1'), token);
  });

  it('cli query - malformed tokens and tokens of another group are refused', () => {
    invalid(() => parseToken('nope', 'g1'), /--token is not valid JSON/);
    invalid(() => parseToken('[1]', 'g1'), /--token: must be an object/);
    invalid(() => parseToken('{"group": "g1"}', 'g1'), /shards must map shard numbers to WAL sequences/);
    invalid(() => parseToken('{"group": "g1", "shards": {"x": 1}}', 'g1'), /shards\.x is not a shard number/);
    invalid(
      () => parseToken('{"group": "g1", "shards": {"0": -1}}', 'g1'),
      /shards\.0 must be a non-negative integer WAL sequence/,
    );
    invalid(() => parseToken(JSON.stringify(token), 'g2'), /--token is for group g1, but the query is on group g2/);
  });
});

describe('cli query - building the query', () => {
  it('cli query - a measure query holds exactly the options given', () => {
    const q = buildQuery(
      'measure',
      'g1',
      'cpu',
      {
        from: '-2h',
        where: ['host in (h1,h2)'],
        tags: ['host'],
        fields: ['value'],
        groupBy: ['host'],
        agg: ['mean:value', 'count'],
        top: '2',
        order: 'desc',
        limit: '10',
        offset: '5',
        token: '{"group": "g1", "shards": {"1": 4}}',
        allowPartial: true,
        schemaRevision: '9',
        timeout: '5s',
      },
      NOW,
    );
    assert.deepEqual(q, {
      group: 'g1',
      name: 'cpu',
      from: NOW - 2 * HOUR,
      to: NOW,
      criteria: { tag: 'host', op: 'in', value: ['h1', 'h2'] },
      tag_projection: ['host'],
      order: 'desc',
      offset: 5,
      limit: 10,
      write_token: { group: 'g1', shards: { '1': 4 } },
      allow_partial: true,
      schema_revision: 9,
      timeout_ms: 5000,
      field_projection: ['value'],
      aggregations: [{ fn: 'mean', field: 'value' }, { fn: 'count' }],
      top: { n: 2, fn: 'mean', field: 'value' },
      group_by: ['host'],
    });
    assert.deepEqual(buildQuery('stream', 'g2', 'logs', {}, NOW), {
      group: 'g2',
      name: 'logs',
      from: NOW - HOUR,
      to: NOW,
    });
  });

  it('cli query - bad options are refused before anything is sent', () => {
    invalid(() => buildQuery('stream', 'g2', 'logs', { agg: ['count'] }, NOW), /--agg applies to measure queries only/);
    invalid(
      () => buildQuery('stream', 'g2', 'logs', { groupBy: ['a'] }, NOW),
      /--group-by applies to measure queries only/,
    );
    invalid(() => buildQuery('measure', 'g1', 'cpu', { groupBy: ['host'] }, NOW), /--group-by needs an --agg/);
    invalid(
      () => buildQuery('measure', 'g1', 'cpu', { limit: '0' }, NOW),
      /--limit must be an integer from 1 to 100000000/,
    );
    invalid(() => buildQuery('measure', 'g1', 'cpu', { limit: '100000001' }, NOW), /--limit/);
    // Beyond one page: the CLI fetches it in pages.
    assert.equal(buildQuery('measure', 'g1', 'cpu', { limit: '250000' }, NOW).limit, 250_000);
    invalid(() => buildQuery('measure', 'g1', 'cpu', { offset: '-1' }, NOW), /--offset must be an integer/);
    invalid(() => buildQuery('measure', 'g1', 'cpu', { order: 'up' }, NOW), /--order must be asc or desc/);
    invalid(() => buildQuery('measure', 'g1', 'cpu', { timeout: '0' }, NOW), /--timeout must be positive/);
    invalid(() => buildQuery('measure', 'g1', 'cpu', { timeout: 'soon' }, NOW), /--timeout "soon" is not a duration/);
    invalid(() => buildQuery('measure', 'g1', 'cpu', { tags: ['Bad'] }, NOW), /tag "Bad" is not a valid name/);
    invalid(() => buildQuery('measure', 'g1', 'Cpu', {}, NOW), /measure "Cpu" is not a valid name/);
  });
});

describe('cli query - table rendering', () => {
  it('cli query - measure rows: time, tag columns, field columns, null as -', () => {
    const reply: QueryReply<MeasureRow> = {
      rows: [
        { ts: NOW, tags: { host: 'h1', core: 0 }, fields: { value: 1.5, n: null } },
        { ts: NOW + 1000, tags: { host: 'h22', labels: ['a', 'b'] }, fields: { value: 2 } },
      ],
      missing_shards: [],
      schema_revision: 4,
      has_more: false,
    };
    assert.deepEqual(
      renderReply('measure', reply, { group: 'g', name: 'm', from: 0, to: 1, field_projection: ['n', 'value'] }),
      [
        'time                      host  core  labels  n  value',
        '2024-05-01T12:00:00.000Z  h1    0     -       -  1.5',
        '2024-05-01T12:00:01.000Z  h22   -     [a,b]   -  2',
      ],
    );
  });

  it('cli query - stream rows: time, element_id, tags', () => {
    const reply: QueryReply<StreamRow> = {
      rows: [{ ts: NOW, element_id: 'e1', tags: { svc: 'api', msg: '' } }],
      missing_shards: [],
      schema_revision: 1,
      has_more: false,
    };
    assert.deepEqual(renderReply('stream', reply, { group: 'g', name: 's', from: 0, to: 1 }), [
      'time                      element_id  svc  msg',
      '2024-05-01T12:00:00.000Z  e1          api  ""',
    ]);
  });

  it('cli query - groups: group-by tags, then one column per aggregation in --agg order', () => {
    const reply: QueryReply<MeasureRow> = {
      groups: [
        { tags: { host: 'h1' }, values: { count: 3, 'mean(v)': 2.5 } },
        { tags: { host: 'h2' }, values: { count: 0, 'mean(v)': null } },
      ],
      missing_shards: [],
      schema_revision: 1,
      has_more: false,
    };
    const q = {
      group: 'g',
      name: 'm',
      from: 0,
      to: 1,
      group_by: ['host'],
      aggregations: [{ fn: 'mean' as const, field: 'v' }, { fn: 'count' as const }],
    };
    assert.deepEqual(renderReply('measure', reply, q), [
      'host  mean(v)  count',
      'h1    2.5      3',
      'h2    -        0',
    ]);
  });

  it('cli query - empty replies say so; cells and times format as documented', () => {
    const q = { group: 'g', name: 'm', from: 0, to: 1 };
    assert.deepEqual(renderReply('measure', { rows: [], missing_shards: [], schema_revision: 1, has_more: false }, q), [
      '(no rows)',
    ]);
    assert.deepEqual(
      renderReply('measure', { groups: [], missing_shards: [], schema_revision: 1, has_more: false }, q),
      ['(no groups)'],
    );
    assert.equal(formatCell(null), '-');
    assert.equal(formatCell(undefined), '-');
    assert.equal(formatCell([1, 2]), '[1,2]');
    assert.equal(formatCell(''), '""');
    assert.equal(formatCell(-0.25), '-0.25');
    assert.equal(formatTime(0), '1970-01-01T00:00:00.000Z');
    assert.equal(formatTime(9e18), '9000000000000000000');
  });

  it('cli query - missing shards give one warning naming them', () => {
    assert.equal(missingShardsWarning('g1', []), undefined);
    assert.equal(
      missingShardsWarning('g1', [2]),
      'warning: partial answer: shard 2 of group g1 had no live owner and is left out',
    );
    assert.equal(
      missingShardsWarning('g1', [1, 3]),
      'warning: partial answer: shards 1, 3 of group g1 had no live owner and are left out',
    );
  });
});

describe('cli query - client query calls', () => {
  // A bus that records requests and answers each with `answer`.
  function fakeBus(answer: (subject: string) => { body: unknown; headers?: Record<string, string> }) {
    const sent: { subject: string; body: unknown; timeoutMs: number }[] = [];
    const bus = {
      maxPayload: () => 1024 * 1024,
      close: async () => undefined,
      async request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage> {
        sent.push({ subject, body: decode(data), timeoutMs: opts.timeoutMs });
        const a = answer(subject);
        return { subject, data: encode(a.body), headers: a.headers ?? {}, respond: () => undefined };
      },
    };
    return { bus: bus as unknown as Bus, sent };
  }

  it('cli query - queries go to P.api.query.<kind> with the deadline plus a grace', async () => {
    const reply = { rows: [], missing_shards: [], schema_revision: 2, has_more: false };
    const { bus, sent } = fakeBus(() => ({ body: reply }));
    const lc = LockstepClient.onBus(bus, { prefix: 'lsx' });
    assert.deepEqual(await lc.queryMeasure({ group: 'g1', name: 'cpu', from: 0, to: 10 }), reply);
    await lc.queryStream({ group: 'g1', name: 'logs', from: 0, to: 10, timeout_ms: 500 });
    assert.deepEqual(sent, [
      {
        subject: 'lsx.api.query.measure',
        body: { group: 'g1', name: 'cpu', from: 0, to: 10 },
        timeoutMs: 10_000 + QUERY_REPLY_GRACE_MS,
      },
      {
        subject: 'lsx.api.query.stream',
        body: { group: 'g1', name: 'logs', from: 0, to: 10, timeout_ms: 500 },
        timeoutMs: 500 + QUERY_REPLY_GRACE_MS,
      },
    ]);
  });

  it('cli query - error replies come back as LockstepError with their code; bad names never reach the bus', async () => {
    const { bus, sent } = fakeBus(() => ({
      body: { code: 'Unavailable', message: 'shard 3 has no live owner' },
      headers: { [STATUS_HEADER]: 'Unavailable' },
    }));
    const lc = LockstepClient.onBus(bus);
    await assert.rejects(lc.queryMeasure({ group: 'g1', name: 'cpu', from: 0, to: 1 }), (e: unknown) => {
      assert.ok(e instanceof LockstepError);
      assert.equal(e.code, Code.Unavailable);
      assert.match(e.message, /shard 3/);
      return true;
    });
    await assert.rejects(
      lc.queryStream({ group: 'g1', name: 'a.b', from: 0, to: 1 }),
      (e: unknown) => (e as LockstepError).code === Code.InvalidArgument,
    );
    await assert.rejects(
      lc.queryStream({ group: 'g1', name: 'ok', from: 0, to: 1, timeout_ms: -1 }),
      /timeout_ms must be a positive number/,
    );
    assert.equal(sent.length, 1);
  });
});

describe('cli query - output formats', () => {
  it('cli query - --format picks table, json, csv or ndjson; --json is json and clashes with another', () => {
    assert.equal(queryFormat(undefined, false), 'table');
    assert.equal(queryFormat(undefined, true), 'json');
    assert.equal(queryFormat('CSV', false), 'csv');
    invalid(() => queryFormat('xml', false), /--format must be one of table, json, csv, ndjson, got "xml"/);
    invalid(() => queryFormat('csv', true), /--json and --format csv ask for two outputs/);
  });

  it('cli query - csv quotes what needs it, lists as JSON, null empty; columns from the first page', () => {
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell(['x', 'y']), '"[""x"",""y""]"');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(1.5), '1.5');
    const rows = [{ ts: NOW, tags: { host: 'h,1' }, fields: { v: null, n: 2 } }];
    const cols = csvColumns(rows, { group: 'g', name: 'm', from: 0, to: 1 });
    assert.deepEqual(cols, ['time', 'tag.host', 'field.v', 'field.n']);
    assert.equal(csvLine(rows[0]!, cols), `${formatTime(NOW)},"h,1",,2`);
  });
});
