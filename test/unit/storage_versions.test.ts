/**
 * Storage versions (storage/versions.{json,ts}) and segment metadata (storage/segment.ts).
 * Invariants: versions.json lists the current version among the compatible ones; data of any other
 * version is a permanent UnsupportedVersionError naming the path, the version found and the
 * versions supported, reported before any other check of the metadata.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import versions from '../../storage/versions.json' with { type: 'json' };
import { Code } from '../../transport/errors.js';
import { isPermanent } from '../../runtime/errors.js';
import { CorruptDataError, UnsupportedVersionError } from '../../storage/errors.js';
import { nodeFs } from '../../storage/fs.js';
import { checkVersion, COMPATIBLE_VERSIONS, isCompatibleVersion, STORAGE_VERSION } from '../../storage/versions.js';
import {
  createSegment,
  listSegments,
  parseSegmentName,
  readSegmentMetadata,
  segmentName,
} from '../../storage/segment.js';
import { FakeClock } from '../harness/fake_clock.js';
import { useTempDir } from '../harness/temp_dir.js';

const T0 = Date.UTC(2024, 0, 15, 10, 0, 0);
const HOUR_MS = 3_600_000;

describe('storage versions', () => {
  const tmp = useTempDir('versions');

  it('versions - versions.json holds string versions with current among the compatible', () => {
    assert.equal(typeof versions.current, 'string');
    assert.ok(versions.compatible.every((v: unknown) => typeof v === 'string'));
    assert.equal(STORAGE_VERSION, versions.current);
    assert.deepEqual([...COMPATIBLE_VERSIONS], versions.compatible);
    assert.ok(COMPATIBLE_VERSIONS.includes(STORAGE_VERSION));
    assert.ok(Object.isFrozen(COMPATIBLE_VERSIONS));
  });

  it('versions - checkVersion accepts every compatible version', () => {
    for (const v of COMPATIBLE_VERSIONS) {
      assert.ok(isCompatibleVersion(v));
      checkVersion('/x/metadata', v);
    }
  });

  it('versions - an unknown version is a permanent error naming path, found and supported', () => {
    assert.throws(
      () => checkVersion('/data/n1/g/shard-0/seg-x/metadata', '999'),
      (e: unknown) => {
        assert.ok(e instanceof UnsupportedVersionError);
        assert.ok(isPermanent(e));
        assert.equal(e.code, Code.FailedPrecondition);
        assert.equal(e.path, '/data/n1/g/shard-0/seg-x/metadata');
        assert.match(e.message, /\/data\/n1\/g\/shard-0\/seg-x\/metadata/);
        assert.match(e.message, /"999"/);
        for (const v of COMPATIBLE_VERSIONS) assert.ok(e.message.includes(v));
        assert.deepEqual(e.details, {
          path: '/data/n1/g/shard-0/seg-x/metadata',
          found: '999',
          supported: [...COMPATIBLE_VERSIONS],
        });
        return true;
      },
    );
  });

  it('segment metadata - createSegment stamps the current version, start, end and created_at', async () => {
    const shardDir = join(tmp.path, 'create', 'shard-0');
    const seg = await createSegment(nodeFs, shardDir, T0, T0 + HOUR_MS, new FakeClock(T0 + 5));
    assert.equal(seg.name, 'seg-20240115T100000Z');
    const onDisk = JSON.parse(await readFile(join(seg.dir, 'metadata'), 'utf8'));
    assert.deepEqual(onDisk, {
      version: STORAGE_VERSION,
      start: T0,
      end: T0 + HOUR_MS,
      created_at: new Date(T0 + 5).toISOString(),
    });
    assert.deepEqual(await readSegmentMetadata(nodeFs, seg.dir), onDisk);
    // Idempotent: creating it again returns the same segment.
    const again = await createSegment(nodeFs, shardDir, T0, T0 + HOUR_MS, new FakeClock(T0 + 99));
    assert.deepEqual(again, seg);
    await assert.rejects(createSegment(nodeFs, shardDir, T0, T0 + 2 * HOUR_MS), CorruptDataError);
    assert.deepEqual(
      (await listSegments(nodeFs, shardDir)).map((s) => s.name),
      [seg.name],
    );
  });

  it('segment metadata - an unsupported version is reported before the other fields are checked', async () => {
    const segDir = join(tmp.path, 'future', 'shard-0', segmentName(T0));
    await mkdir(segDir, { recursive: true });
    // A future version may lay its metadata out differently: no start/end here.
    await writeFile(join(segDir, 'metadata'), JSON.stringify({ version: '7', layout: 'other' }));
    await assert.rejects(readSegmentMetadata(nodeFs, segDir), (e: unknown) => {
      assert.ok(e instanceof UnsupportedVersionError);
      assert.ok(e.message.includes(join(segDir, 'metadata')));
      assert.match(e.message, /"7"/);
      return true;
    });
  });

  it('segment metadata - malformed metadata is corruption naming the file', async () => {
    const cases: Array<[string, string]> = [
      ['{not json', 'not valid JSON'],
      ['[1]', 'not a JSON object'],
      ['null', 'not a JSON object'],
      [JSON.stringify({ version: 1, start: 0, end: 1, created_at: 'x' }), 'version'],
      [JSON.stringify({ version: STORAGE_VERSION, start: 5, end: 5, created_at: 'x' }), 'start'],
      [JSON.stringify({ version: STORAGE_VERSION, start: 0, end: 1 }), 'created_at'],
    ];
    for (const [i, [body, what]] of cases.entries()) {
      const segDir = join(tmp.path, 'malformed', String(i));
      await mkdir(segDir, { recursive: true });
      await writeFile(join(segDir, 'metadata'), body);
      await assert.rejects(readSegmentMetadata(nodeFs, segDir), (e: unknown) => {
        assert.ok(e instanceof CorruptDataError, `case ${i}`);
        assert.ok(isPermanent(e));
        assert.equal(e.path, join(segDir, 'metadata'));
        assert.ok(e.message.includes(join(segDir, 'metadata')) && e.message.includes(what), `case ${i}: ${e.message}`);
        return true;
      });
    }
    const missing = join(tmp.path, 'malformed', 'missing');
    await mkdir(missing, { recursive: true });
    await assert.rejects(readSegmentMetadata(nodeFs, missing), /metadata file is missing/);
  });

  it('segment names - seg-yyyymmddThhmmssZ round-trips and impossible dates are refused', () => {
    for (const ms of [0, T0, Date.UTC(1999, 11, 31, 23, 0, 0), Date.UTC(9999, 11, 31)]) {
      assert.equal(parseSegmentName(segmentName(ms)), ms);
    }
    assert.equal(segmentName(0), 'seg-19700101T000000Z');
    for (const bad of [
      'seg-20241301T000000Z',
      'seg-20240101T250000Z',
      'seg-20240230T000000Z',
      'seg-2024',
      'seg-20240101T000000Z.dropping',
      'x',
    ]) {
      assert.equal(parseSegmentName(bad), undefined, bad);
    }
    assert.throws(() => segmentName(T0 + 1), { name: 'InvariantError', code: 'Internal' });
  });
});
