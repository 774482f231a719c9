/**
 * Hostile request bodies over real NATS, as a client in another language may send them: 64-bit
 * integers beyond ±2^53 (msgpackr decodes them as BigInt) and bodies nested 100,000 deep. Every
 * public subject answers `InvalidArgument` naming where, never `Internal`, and keeps serving.
 */
import assert from 'node:assert/strict';
import type { WriteReply } from '../../transport/api_types.js';
import type { BusMessage } from '../../transport/bus.js';
import { decode, encode } from '../../transport/codec.js';
import { Code, codeOf, type LockstepError } from '../../transport/errors.js';
import { MAX_BODY_NESTING } from '../../transport/limits.js';
import { STATUS_HEADER } from '../../transport/rpc.js';
import { subjectsFor } from '../../transport/subjects.js';
import { TestCluster } from '../harness/cluster.js';

const S = subjectsFor();
const DEEP = 100_000;

describe('request bodies (liaison, real nats-server)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  const now = Date.now();
  const point = (host: string, value: unknown) => ({ ts: now, tags: { host }, fields: { value } });

  before(async () => {
    c = await TestCluster.start({ liaisons: 1, dataNodes: 0 });
    // No data node: the group names where its shards would live; nothing here reaches a shard.
    await c.createGroup('rb', { placement: { data_nodes: ['d1'] } });
    const m = await c.createMeasure('rb', 'cpu');
    assert.equal((await c.barrier('applied', { keys: ['measure:rb/cpu'], min_revisions: [m.revision] })).applied, true);
  });
  after(async () => {
    await c?.stop();
  });

  async function refused(subject: string, body: unknown): Promise<LockstepError> {
    try {
      await c.api(subject, body, 10_000);
    } catch (err) {
      return err as LockstepError;
    }
    return assert.fail(`${subject} accepted the body`);
  }

  // A raw request, so the body can be bytes no encoder would produce.
  function raw(subject: string, data: Uint8Array, json: boolean): Promise<BusMessage> {
    const headers = json ? { 'Content-Type': 'application/json' } : undefined;
    return c.bus.request(subject, data, { timeoutMs: 10_000, headers });
  }

  it('request bodies - a 64-bit integer beyond ±2^53 is InvalidArgument naming its field on schema, barrier, write and query', async () => {
    // Encoding a BigInt puts a msgpack int64 (0xd3) or uint64 (0xcf) on the wire, as a Go or Java client does.
    assert.equal(encode(-(2n ** 63n))[0], 0xd3);
    assert.equal(encode(2n ** 63n)[0], 0xcf);
    const points = [point('a', 1), point('b', 2), point('c', 3), point('d', 2n ** 62n)];
    const cases: [string, Record<string, unknown>, string][] = [
      [S.api.schema('group', 'get'), { group: -(2n ** 63n) }, 'group'],
      [
        S.api.schema('measure', 'create'),
        { resource: { group: 'rb', name: 'x', fields: [{ n: 2n ** 60n }] } },
        'resource.fields[0].n',
      ],
      [S.api.barrier('revision'), { min_revision: 2n ** 63n }, 'min_revision'],
      [
        S.api.barrier('applied'),
        { keys: ['measure:rb/cpu', 'group:rb'], min_revisions: [1, 2n ** 54n] },
        'min_revisions[1]',
      ],
      [S.api.write('measure'), { group: 'rb', name: 'cpu', points }, 'points[3].fields.value'],
      [S.api.query('measure'), { group: 'rb', name: 'cpu', from: -(2n ** 62n), to: now }, 'from'],
      [
        S.api.query('measure'),
        {
          group: 'rb',
          name: 'cpu',
          from: 0,
          to: now,
          criteria: { or: [{ tag: 'host', op: 'eq', value: 2n ** 53n + 1n }] },
        },
        'criteria.or[0].value',
      ],
    ];
    for (const [subject, body, field] of cases) {
      const err = await refused(subject, body);
      assert.equal(codeOf(err), Code.InvalidArgument, `${subject}: ${err.message}`);
      assert.ok(err.message.includes(field), `${subject}: message "${err.message}" names ${field}`);
      assert.equal(err.details?.field, field, subject);
    }
    // An int64 that is a safe integer is a plain number: 64-bit clients keep working.
    const ok = await c.api<WriteReply>(S.api.write('measure'), { group: 'rb', name: 'cpu', points: [point('e', 5n)] });
    assert.equal(ok.points, 1);
  });

  it('request bodies - a body nested 100,000 deep is InvalidArgument (msgpack and JSON) and the liaison keeps serving', async () => {
    // Each at a place that some error message used to JSON.stringify (the overflow was Internal).
    const envelopes: [string, Record<string, unknown>][] = [
      [S.api.write('measure'), { name: 'cpu', points: [point('g', 1)], group: 0 }],
      [S.api.query('measure'), { group: 'rb', name: 'cpu', from: 0, to: now, group_by: 0 }],
      [S.api.schema('group', 'get'), { group: 0 }],
      [S.api.barrier('revision'), { min_revision: 0 }],
    ];
    for (const [subject, envelope] of envelopes) {
      // The last property is the placeholder 0: replaced by 100,000 nested arrays.
      const head = encode(envelope);
      assert.equal(head[head.length - 1], 0x00);
      const mp = new Uint8Array(head.length - 1 + DEEP + 1);
      mp.set(head.subarray(0, head.length - 1));
      mp.fill(0x91, head.length - 1, head.length - 1 + DEEP); // fixarray of one element
      mp[mp.length - 1] = 0xc0; // nil
      const js = JSON.stringify(envelope).replace(/0\}$/, `${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`);
      for (const [data, json] of [
        [mp, false],
        [new TextEncoder().encode(js), true],
      ] as const) {
        const reply = await raw(subject, data, json);
        const body = (json ? JSON.parse(new TextDecoder().decode(reply.data)) : decode(reply.data)) as {
          code: string;
          message: string;
        };
        const what = `${subject} (${json ? 'JSON' : 'msgpack'})`;
        assert.equal(reply.headers[STATUS_HEADER], Code.InvalidArgument, `${what}: ${body.code} ${body.message}`);
        assert.equal(body.code, Code.InvalidArgument, what);
        assert.match(body.message, new RegExp(`nested deeper than ${MAX_BODY_NESTING}`), `${what}: ${body.message}`);
      }
    }
    const ok = await c.api<WriteReply>(S.api.write('measure'), { group: 'rb', name: 'cpu', points: [point('f', 1)] });
    assert.equal(ok.points, 1);
  });
});
