/**
 * Background merge (storage/merge.ts, ShardStore.merge). Invariants: after a merge, scanMerged
 * answers exactly as before (newest write per (series, ts), per (series, ts, element id) for a
 * stream; union of columns); a (segment, name) keeps at most the bound of parts; a kill -9 at any
 * step leaves a store that reopens with the same answers, with R or M but never both or neither,
 * and no leftover; scans running during a merge finish on the parts they started with; flushes,
 * retention and close interleave with a merge safely.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockRows, BlockSchema } from '../../storage/block.js';
import { CorruptDataError } from '../../storage/errors.js';
import { nodeFs, type FileHandle, type StorageFs } from '../../storage/fs.js';
import { MERGED_FROM_FILE } from '../../storage/merge.js';
import { DEFAULT_MERGE_POLICY, pickQuietRun, pickRun, type RunCandidate } from '../../storage/merge_policy.js';
import { mergeSeries, unionColumns, type Chunk } from '../../storage/series_merge.js';
import { VERSION_COLUMN } from '../../storage/point_version.js';
import type { PartRows } from '../../storage/part.js';
import type { PartRunner } from '../../storage/part_pool.js';
import { inlineRunner } from '../../storage/part_pool.js';
import {
  NAME_DIR_PREFIX,
  ShardStore,
  type FlushBatch,
  type MergeOptions,
  type ScanQuery,
} from '../../storage/shard_store.js';
import { mulberry32, SEED } from '../harness/encoding_harness.js';
import { FakeClock } from '../harness/fake_clock.js';
import { useTempDir } from '../harness/temp_dir.js';
import { waitFor } from '../harness/wait.js';

const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2024, 4, 10);
const MEASURE: BlockSchema = {
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
  tags: [{ name: 'host', type: 'string' }],
};
// The measure after a schema update added a field and a tag.
const MEASURE2: BlockSchema = {
  fields: [...MEASURE.fields, { name: 'temp', type: 'float' }],
  tags: [...MEASURE.tags, { name: 'zone', type: 'string' }],
};
const STREAM: BlockSchema = {
  fields: [{ name: 'size', type: 'int' }],
  tags: [
    { name: 'msg', type: 'string' },
    { name: 'element_id', type: 'string' },
  ],
};
const KEYS: MergeOptions['keyTagOf'] = (name) => (name === 'log' ? 'element_id' : name === 'cpu' ? null : undefined);

/** One generated row before it is columnized. */
type Row = { series: string; ts: number; eid: string; value: number; count: number; msg: string };

/**
 * Random rows of `name` for one flush in hour `hour`: `series` series, each with up to `points`
 * keys drawn from `slots` timestamps (and 3 element ids for the stream), so flushes overwrite
 * each other's keys. Rows of one ts come in random element-id order.
 */
function randomRows(
  rng: () => number,
  stream: boolean,
  seq: number,
  hour: number,
  series = 4,
  points = 12,
  slots = 20,
): Row[] {
  const out: Row[] = [];
  for (let s = 0; s < series; s++) {
    if (rng() < 0.2) continue;
    const keys = new Map<string, Row>();
    for (let p = 0; p < points; p++) {
      const ts = T0 + hour * HOUR_MS + Math.floor(rng() * slots) * 1000;
      const eid = stream ? `e${Math.floor(rng() * 3)}` : '';
      keys.set(`${ts}|${eid}`, {
        series: `s${s}`,
        ts,
        eid,
        value: Math.round(rng() * 10000) / 100,
        count: Math.floor(rng() * 1000),
        msg: `m${seq}-${p}`,
      });
    }
    const rows = [...keys.values()];
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    out.push(...rows.sort((a, b) => a.ts - b.ts));
  }
  return out;
}

/** `rows` (sorted by series then ts) as a flush batch of `name` with `schema`. */
function toBatch(name: string, rows: Row[], schema: BlockSchema, seq: number, hour: number): FlushBatch {
  const n = rows.length;
  const r: PartRows = {
    seriesIds: rows.map((x) => x.series),
    timestamps: Float64Array.from(rows, (x) => x.ts),
    fields: {},
    tags: {},
  };
  for (const f of schema.fields)
    r.fields[f.name] = Float64Array.from(rows, (x) =>
      f.name === 'value' ? x.value : f.name === 'temp' ? x.value + 1 : x.count,
    );
  for (const t of schema.tags)
    r.tags[t.name] = rows.map((x) => (t.name === 'element_id' ? x.eid : t.name === 'msg' ? x.msg : `${t.name}-${seq}`));
  assert.equal(r.timestamps.length, n);
  const segmentStartMs = T0 + hour * HOUR_MS;
  return { name, segmentStartMs, segmentEndMs: segmentStartMs + HOUR_MS, rows: r, schema, lastSequence: seq };
}

/** The newest row per key of `name` written so far (the model scanMerged must match). */
class Model {
  private readonly rows = new Map<string, Row>();
  put(rows: Row[]): void {
    for (const r of rows) this.rows.set(`${r.series}|${r.ts}|${r.eid}`, r);
  }
  /** Per series: `ts/eid=value` in (ts, eid) order (a stream's value is its `size`, the row's count). */
  expect(stream = false): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    const all = [...this.rows.values()].sort((a, b) =>
      a.series < b.series ? -1 : a.series > b.series ? 1 : a.ts - b.ts || (a.eid < b.eid ? -1 : a.eid > b.eid ? 1 : 0),
    );
    for (const r of all) (out[r.series] ??= []).push(`${r.ts - T0}/${r.eid}=${stream ? r.count : r.value}`);
    return out;
  }
}

/** A merged result as plain data (NaN compares equal under deepStrictEqual). */
function plain(m: Map<string, BlockRows>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, r] of m) {
    const fields: Record<string, number[]> = {};
    const tags: Record<string, unknown[]> = {};
    for (const k of Object.keys(r.fields).sort()) fields[k] = [...r.fields[k]!];
    for (const k of Object.keys(r.tags).sort()) tags[k] = [...r.tags[k]!];
    out[id] = { ts: [...r.timestamps], fields, tags };
  }
  return out;
}

/** The same model view of a scanMerged result. */
function modelView(m: Map<string, BlockRows>, stream: boolean): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [id, r] of m) {
    out[id] = [...r.timestamps].map(
      (t, i) =>
        `${t - T0}/${stream ? (r.tags.element_id as string[])[i] : ''}=${r.fields[stream ? 'size' : 'value']![i]}`,
    );
  }
  return out;
}

const QUERIES: ScanQuery[] = [
  { minTs: T0, maxTs: T0 + 3 * HOUR_MS },
  { minTs: T0 + 5000, maxTs: T0 + 12_000 },
  { minTs: T0, maxTs: T0 + 3 * HOUR_MS, seriesIds: new Set(['s1', 's3']) },
];

/** Every answer a test compares (both names, several ranges, series subsets), as JSON with NaN spelled out. */
async function answers(s: ShardStore): Promise<string> {
  const out: unknown[] = [];
  for (const q of QUERIES) {
    out.push(plain(await s.scanMerged({ ...q, schemaName: 'cpu' })));
    out.push(plain(await s.scanMerged({ ...q, schemaName: 'log', keyTag: 'element_id' })));
  }
  return JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v));
}

/** Rows a raw scan returns (every part's rows, duplicates across parts included). */
async function rawRows(s: ShardStore): Promise<number> {
  let n = 0;
  await s.scan({ minTs: -Infinity, maxTs: Infinity }, (b) => void (n += b.timestamps.length));
  return n;
}

/** Part directories (and leftovers) of `name` in hour 0 of `shardDir`. */
function partDirs(shardDir: string, name: string, hour = 0): string[] {
  const seg = readdirSync(shardDir)
    .filter((d) => d.startsWith('seg-'))
    .sort()[hour]!;
  const dir = join(shardDir, seg, NAME_DIR_PREFIX + name);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** The process died: every later file operation fails too. */
class Crash extends Error {
  override readonly name = 'Crash';
}

/**
 * A StorageFs that dies at its `crashAt`-th mutating step (counted from `arm`): a write lands
 * half, a recursive rm removes one file, an atomic write leaves its temp file. Reads still work
 * until the crash so the store runs normally before it.
 */
class CrashFs implements StorageFs {
  steps = 0;
  private crashAt = Infinity;
  private dead = false;

  arm(crashAt: number): void {
    this.steps = 0;
    this.crashAt = crashAt;
  }

  private step(partial?: () => void): void {
    if (this.dead) throw new Crash('already dead');
    if (++this.steps === this.crashAt) {
      this.dead = true;
      partial?.();
      throw new Crash(`crash at step ${this.steps}`);
    }
  }

  private alive(): void {
    if (this.dead) throw new Crash('already dead');
  }

  async open(path: string, mode: 'r' | 'w' | 'wx' | 'a'): Promise<FileHandle> {
    if (mode !== 'r') this.step();
    else this.alive();
    const h = await nodeFs.open(path, mode);
    return {
      read: (b, o, l, p) => h.read(b, o, l, p),
      size: () => h.size(),
      close: () => h.close(),
      write: async (data, position) => {
        let torn: Uint8Array | null = null;
        this.step(() => (torn = data.subarray(0, data.length >> 1)));
        if (torn) await h.write(torn, position);
        return h.write(data, position);
      },
      sync: async () => {
        this.step();
        return h.sync();
      },
    };
  }
  readFile = async (path: string) => (this.alive(), nodeFs.readFile(path));
  async writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
    const tmp = `${path}.tmp-crash`;
    this.step();
    writeFileSync(tmp, data);
    this.step();
    await nodeFs.rename(tmp, path);
    this.step();
  }
  mkdir = async (path: string) => (this.step(), nodeFs.mkdir(path));
  readdir = async (path: string) => (this.alive(), nodeFs.readdir(path));
  rename = async (from: string, to: string) => (this.step(), nodeFs.rename(from, to));
  async rm(path: string): Promise<void> {
    this.step(() => {
      // A recursive delete interrupted after its first file.
      if (existsSync(path) && statSync(path).isDirectory()) {
        const first = readdirSync(path).sort()[0];
        if (first) unlinkSync(join(path, first));
      }
    });
    return nodeFs.rm(path);
  }
  exists = async (path: string) => (this.alive(), nodeFs.exists(path));
  syncDir = async (path: string) => (this.step(), nodeFs.syncDir(path));
}

/** A runner that holds merge tasks until released (to interleave other work with a merge). */
function gatedRunner(): { runner: PartRunner; started: Promise<void>; release: () => void } {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const startedP = new Promise<void>((r) => (started = r));
  return {
    runner: {
      async run(task, signal) {
        if (task.kind === 'merge') {
          started();
          await gate;
          if (signal?.aborted) throw signal.reason;
        }
        return inlineRunner.run(task);
      },
    },
    started: startedP,
    release,
  };
}

describe('storage - merge', () => {
  const tmp = useTempDir('merge');
  let n = 0;
  let dir = '';
  let clock: FakeClock;
  const stores: ShardStore[] = [];
  const open = async (
    fs: StorageFs = nodeFs,
    extra: { pool?: PartRunner; maxRowsPerBlock?: number; at?: string } = {},
  ) => {
    const s = await ShardStore.open(fs, extra.at ?? dir, {
      clock,
      pool: extra.pool,
      maxRowsPerBlock: extra.maxRowsPerBlock,
    });
    stores.push(s);
    return s;
  };

  /** Flushes `count` random flushes of both names into hour 0 (and some into hour 1); returns the models. */
  async function fill(s: ShardStore, rng: () => number, count: number, firstSeq = 1) {
    const cpu = new Model();
    const log = new Model();
    for (let k = 0; k < count; k++) {
      const seq = firstSeq + k;
      const hour = k % 5 === 4 ? 1 : 0;
      const c = randomRows(rng, false, seq, hour);
      const l = randomRows(rng, true, seq, hour);
      cpu.put(c);
      log.put(l);
      // The schema of cpu gains a field and a tag halfway through.
      const batches = [
        toBatch('cpu', c, k < count / 2 ? MEASURE : MEASURE2, seq, hour),
        toBatch('log', l, STREAM, seq, hour),
      ].filter((b) => b.rows.timestamps.length > 0);
      await s.flush(batches, seq);
    }
    return { cpu, log };
  }

  beforeEach(() => {
    dir = join(tmp.path, `case-${n++}`, 'g1', 'shard-0');
    clock = new FakeClock(T0 + 10 * HOUR_MS);
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  });

  it(`merge - answers equal scanMerged's before the merge and the newest-write model, before and after a reopen (seed ${SEED})`, async () => {
    const rng = mulberry32(SEED);
    const s = await open(nodeFs, { maxRowsPerBlock: 3 }); // several blocks per series and part
    const { cpu, log } = await fill(s, rng, 15);
    const before = await answers(s);
    const all = { minTs: T0, maxTs: T0 + 3 * HOUR_MS };
    assert.deepEqual(modelView(await s.scanMerged({ ...all, schemaName: 'cpu' }), false), cpu.expect());
    assert.deepEqual(
      modelView(await s.scanMerged({ ...all, schemaName: 'log', keyTag: 'element_id' }), true),
      log.expect(true),
    );
    const partsBefore = s.listParts().length;
    const done = await s.merge({ keyTagOf: KEYS });
    assert.ok(done.length >= 2, 'both names of hour 0 were over the bound');
    for (const d of done)
      assert.ok(d.rowsOut <= d.rowsIn && d.replaced.length >= DEFAULT_MERGE_POLICY.minPartsPerMerge, JSON.stringify(d));
    assert.ok(s.listParts().length < partsBefore);
    for (const name of ['cpu', 'log']) {
      const parts = s.listParts().filter((r) => r.name === name && r.segmentStartMs === T0);
      assert.ok(parts.length <= DEFAULT_MERGE_POLICY.maxPartsPerName, `${name}: ${parts.length} parts`);
      assert.ok(parts.some((r) => existsSync(join(r.part.dir, MERGED_FROM_FILE))));
    }
    assert.deepEqual(await answers(s), before);
    await s.close();
    const s2 = await open();
    assert.deepEqual(await answers(s2), before);
    assert.deepEqual(
      modelView(await s2.scanMerged({ ...all, schemaName: 'log', keyTag: 'element_id' }), true),
      log.expect(true),
    );
    assert.deepEqual((await s2.merge({ keyTagOf: KEYS })).length, 0, 'nothing left to merge');
  });

  it('merge - a stream keeps every element of one ts; the newer part wins the same (ts, element id)', async () => {
    const s = await open();
    const row = (ts: number, eid: string, value: number, seq: number): Row => ({
      series: 'a',
      ts: T0 + ts,
      eid,
      value,
      count: value,
      msg: `m${seq}`,
    });
    for (let seq = 1; seq <= 9; seq++) {
      // Every part writes e1 and e2 at ts 0; e1 is overwritten each time, e2 only by part 9.
      const rows =
        seq < 9
          ? [row(0, 'e1', seq, seq), row(0, 'e2', 100, seq), row(seq, 'e3', seq, seq)]
          : [row(0, 'e2', 900, seq), row(0, 'e1', 9, seq)];
      await s.flush([toBatch('log', rows, STREAM, seq, 0)]);
    }
    const q: ScanQuery = { minTs: T0, maxTs: T0 + HOUR_MS, schemaName: 'log', keyTag: 'element_id' };
    const before = plain(await s.scanMerged(q));
    await s.merge({ keyTagOf: KEYS, maxPartsPerName: 2, minPartsPerMerge: 2 });
    assert.ok(s.listParts().length <= 2);
    const after = await s.scanMerged(q);
    assert.deepEqual(plain(after), before);
    const a = after.get('a')!;
    assert.deepEqual(
      [...a.timestamps].map((t) => t - T0),
      [0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.deepEqual(a.tags.element_id, ['e1', 'e2', 'e3', 'e3', 'e3', 'e3', 'e3', 'e3', 'e3', 'e3']);
    assert.deepEqual([...a.fields.size!].slice(0, 2), [9, 900]);
  });

  it(`merge - part counts stay bounded over many flushes with a merge after each (seed ${SEED})`, async () => {
    const rng = mulberry32(SEED ^ 0x5a5a);
    const s = await open();
    const cpu = new Model();
    const bound = 5;
    for (let seq = 1; seq <= 60; seq++) {
      const rows = randomRows(rng, false, seq, 0, 3, 8, 50);
      cpu.put(rows);
      await s.flush([toBatch('cpu', rows, MEASURE, seq, 0)]);
      await s.merge({ keyTagOf: KEYS, maxPartsPerName: bound, minPartsPerMerge: 3 });
      assert.ok(s.listParts().length <= bound, `${s.listParts().length} parts after flush ${seq}`);
    }
    const all = { minTs: T0, maxTs: T0 + HOUR_MS, schemaName: 'cpu' };
    assert.deepEqual(modelView(await s.scanMerged(all), false), cpu.expect());
    await s.close();
    const s2 = await open();
    assert.deepEqual(modelView(await s2.scanMerged(all), false), cpu.expect());
    assert.deepEqual(
      partDirs(dir, 'cpu').filter((d) => !/^part-\d+$/.test(d)),
      [],
      'no leftovers',
    );
  });

  it(`merge - a kill -9 at every step of a merge leaves a store that reopens with the same answers, R or M and no leftover (seed ${SEED})`, async () => {
    const rng = mulberry32(SEED ^ 0x1234);
    // Hour 0 gets 7 parts of each name: one merge of 4 parts per name.
    const POLICY: MergeOptions = { keyTagOf: KEYS, maxPartsPerName: 4, minPartsPerMerge: 3 };
    const origin = join(tmp.path, `crash-origin-${n}`, 'g1', 'shard-0');
    const s0 = await open(nodeFs, { at: origin, maxRowsPerBlock: 5 });
    await fill(s0, rng, 8);
    const expected = await answers(s0);
    const rawBefore = await rawRows(s0);
    await s0.close();
    // The merged state's raw row count, and how many mutating steps one whole merge pass takes.
    const fullDir = join(tmp.path, `crash-full-${n}`, 'g1', 'shard-0');
    cpSync(origin, fullDir, { recursive: true });
    const counting = new CrashFs();
    const sf = await open(counting, { at: fullDir });
    counting.arm(Infinity);
    assert.ok((await sf.merge(POLICY)).length >= 2);
    const steps = counting.steps;
    const rawAfter = await rawRows(sf);
    assert.ok(rawAfter < rawBefore);
    await sf.close();
    for (let crashAt = 1; crashAt <= steps; crashAt++) {
      const at = join(tmp.path, `crash-${n}-${crashAt}`, 'g1', 'shard-0');
      cpSync(origin, at, { recursive: true });
      const cfs = new CrashFs();
      const s = await open(cfs, { at });
      cfs.arm(crashAt);
      await assert.rejects(s.merge(POLICY), Crash, `step ${crashAt}`);
      await s.close(); // releases file handles only: the process is "dead"
      const re = await open(nodeFs, { at });
      assert.equal(await answers(re), expected, `answers after a crash at step ${crashAt} of ${steps}`);
      // Per (segment, name) either the inputs or the merged part: the raw row count is one of the
      // partial sums between before and after, never more than before.
      const raw = await rawRows(re);
      assert.ok(raw <= rawBefore && raw >= rawAfter, `raw rows ${raw} after a crash at step ${crashAt}`);
      for (const name of ['cpu', 'log']) {
        assert.deepEqual(
          partDirs(at, name).filter((d) => !/^part-\d+$/.test(d)),
          [],
          `leftovers of ${name} after a crash at step ${crashAt}`,
        );
      }
      // The reopened store merges to the same answers (checked at every 4th step: it is slow).
      if (crashAt % 4 === 0) {
        await re.merge(POLICY);
        assert.equal(await answers(re), expected, `answers after merging again (crash at step ${crashAt})`);
        assert.equal(await rawRows(re), rawAfter);
      }
      await re.close();
      rmSync(join(tmp.path, `crash-${n}-${crashAt}`), { recursive: true, force: true });
    }
  });

  it('merge - a complete merged part and all its inputs on disk: the open keeps the merged part only', async () => {
    const rng = mulberry32(SEED ^ 0x77);
    const s = await open();
    await fill(s, rng, 12);
    const expected = await answers(s);
    await s.close();
    // Snapshot hour 0's cpu parts, merge, then put the inputs back as a crash before their removal would leave them.
    const nameDir = join(
      dir,
      readdirSync(dir)
        .filter((d) => d.startsWith('seg-'))
        .sort()[0]!,
      `${NAME_DIR_PREFIX}cpu`,
    );
    const saved = join(tmp.path, `saved-${n}`);
    cpSync(nameDir, saved, { recursive: true });
    const s2 = await open();
    const done = (await s2.merge({ keyTagOf: KEYS })).filter((d) => d.name === 'cpu' && d.segmentStartMs === T0);
    assert.equal(done.length, 1);
    await s2.close();
    for (const seq of done[0]!.replaced)
      cpSync(join(saved, `part-${seq}`), join(nameDir, `part-${seq}`), { recursive: true });
    // And one input half removed, as a crash inside its removal leaves it.
    const half = join(nameDir, `part-${done[0]!.replaced[0]}`);
    cpSync(half, half + '.dropping', { recursive: true });
    rmSync(half, { recursive: true });
    unlinkSync(join(half + '.dropping', 'metadata'));
    const s3 = await open();
    assert.deepEqual(await answers(s3), expected);
    assert.deepEqual(
      readdirSync(nameDir).filter((d) =>
        done[0]!.replaced.some((r) => d === `part-${r}` || d === `part-${r}.dropping`),
      ),
      [],
    );
  });

  it('merge - a scan running during a merge finishes on the parts it started with, which close only after it', async () => {
    const s = await open(nodeFs, { maxRowsPerBlock: 1 });
    for (let seq = 1; seq <= 9; seq++)
      await s.flush([
        toBatch('cpu', [{ series: 'a', ts: T0 + seq, eid: '', value: seq, count: seq, msg: '' }], MEASURE, seq, 0),
      ]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: number[] = [];
    const scan = s.scan({ minTs: T0, maxTs: T0 + HOUR_MS }, async (b) => {
      await gate;
      seen.push(b.fields.value![0]!);
    });
    let merged = false;
    const merge = s.merge({ keyTagOf: KEYS }).then(() => (merged = true));
    await waitFor(() => s.listParts().length < 9, {
      timeoutMs: 5000,
      what: 'the merged part committed while the scan waits',
    });
    assert.ok(s.listParts().length < 9, 'the merged part is committed while the scan waits');
    assert.equal(merged, false, 'the inputs are not removed while the scan reads them');
    // A scan starting now sees the merged part only.
    assert.equal(await rawRows(s), 9);
    release();
    await scan;
    await merge;
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(partDirs(dir, 'cpu').length, s.listParts().length);
  });

  it('merge - mergesIdle resolves at once when idle, and otherwise only after the running and the queued pass', async () => {
    const gated = gatedRunner();
    const s = await open(nodeFs, { pool: gated.runner });
    await s.mergesIdle();
    const row = (seq: number): Row => ({ series: 'a', ts: T0 + seq, eid: '', value: seq, count: seq, msg: '' });
    for (let seq = 1; seq <= 9; seq++) await s.flush([toBatch('cpu', [row(seq)], MEASURE, seq, 0)]);
    const first = s.merge({ keyTagOf: KEYS });
    await gated.started;
    let idle = false;
    const waiting = s.mergesIdle().then(() => (idle = true));
    // Flushed while the first pass runs and the wait began: a second pass queued behind the first.
    for (let seq = 10; seq <= 18; seq++) await s.flush([toBatch('cpu', [row(seq)], MEASURE, seq, 0)]);
    const second = s.merge({ keyTagOf: KEYS });
    let secondDone = false;
    void second.then(() => (secondDone = true));
    await Promise.resolve();
    assert.equal(idle, false, 'a merge is running');
    gated.release();
    await first;
    await waiting;
    assert.equal(secondDone, true, 'idle only once the queued pass ended too');
    assert.ok(s.listParts().length <= DEFAULT_MERGE_POLICY.maxPartsPerName, `${s.listParts().length} parts left`);
    await s.close();
  });

  it('merge - flushes commit while a merge encodes, and their rows stay newer than the merged part', async () => {
    const gated = gatedRunner();
    const s = await open(nodeFs, { pool: gated.runner });
    const row = (seq: number, ts: number): Row => ({
      series: 'a',
      ts: T0 + ts,
      eid: '',
      value: seq,
      count: seq,
      msg: '',
    });
    for (let seq = 1; seq <= 9; seq++) await s.flush([toBatch('cpu', [row(seq, 0), row(seq, seq)], MEASURE, seq, 0)]);
    const merge = s.merge({ keyTagOf: KEYS });
    await gated.started;
    // Same lastSequence as the merged run's newest part: the part sequence must decide.
    await s.flush([toBatch('cpu', [row(100, 0)], MEASURE, 9, 0)], 9);
    await s.flush([toBatch('cpu', [row(101, 1)], MEASURE, 10, 0)]);
    gated.release();
    const done = await merge;
    assert.equal(done.length, 1);
    const a = (await s.scanMerged({ minTs: T0, maxTs: T0 + HOUR_MS, schemaName: 'cpu' })).get('a')!;
    assert.deepEqual([...a.fields.value!], [100, 101, 2, 3, 4, 5, 6, 7, 8, 9]);
    const expected = plain(await s.scanMerged({ minTs: T0, maxTs: T0 + HOUR_MS }));
    await s.close();
    assert.deepEqual(plain(await (await open()).scanMerged({ minTs: T0, maxTs: T0 + HOUR_MS })), expected);
  });

  it('merge - retention dropping the segment, or close, during a merge makes it give up without leftovers', async () => {
    for (const interrupt of ['retention', 'close'] as const) {
      dir = join(tmp.path, `case-${n++}`, 'g1', 'shard-0');
      const gated = gatedRunner();
      const s = await open(nodeFs, { pool: gated.runner });
      for (let seq = 1; seq <= 9; seq++)
        await s.flush([
          toBatch('cpu', [{ series: 'a', ts: T0 + seq, eid: '', value: seq, count: 0, msg: '' }], MEASURE, seq, 0),
        ]);
      const merge = s.merge({ keyTagOf: KEYS });
      await gated.started;
      let closed: Promise<void> | null = null;
      if (interrupt === 'retention') {
        clock.setNow(T0 + 5 * HOUR_MS);
        assert.equal((await s.dropExpired(HOUR_MS)).dropped.length, 1);
      } else {
        closed = s.close();
      }
      gated.release();
      assert.deepEqual(await merge, [], interrupt);
      await closed;
      await s.close();
      assert.equal(readdirSync(dir).filter((d) => d.startsWith('seg-')).length, interrupt === 'retention' ? 0 : 1);
      if (interrupt === 'close') {
        assert.deepEqual(partDirs(dir, 'cpu'), Array.from({ length: 9 }, (_, i) => `part-${i + 1}`).sort());
        assert.equal(await rawRows(await open()), 9);
      }
    }
  });

  it('merge - a name whose key is unknown is not merged; a bad policy is refused', async () => {
    const s = await open();
    for (let seq = 1; seq <= 10; seq++)
      await s.flush([
        toBatch('log', [{ series: 'a', ts: T0 + seq, eid: 'e', value: 1, count: 1, msg: '' }], STREAM, seq, 0),
      ]);
    assert.deepEqual(await s.merge({ keyTagOf: () => undefined }), []);
    assert.equal(s.listParts().length, 10);
    await assert.rejects(s.merge({ keyTagOf: KEYS, maxPartsPerName: 0 }), { code: 'InvalidArgument' });
    await assert.rejects(s.merge({ keyTagOf: KEYS, minPartsPerMerge: 1 }), { code: 'InvalidArgument' });
  });

  it('merge - a damaged input block fails the merge with CorruptDataError naming its data file and changes nothing', async () => {
    const s1 = await open();
    // Equal parts, so the policy merges the oldest four, part 2 among them.
    for (let seq = 1; seq <= 9; seq++)
      await s1.flush([toBatch('cpu', randomRows(mulberry32(7), false, seq, 0), MEASURE, seq, 0)]);
    await s1.close();
    const victim = join(
      dir,
      readdirSync(dir).filter((d) => d.startsWith('seg-'))[0]!,
      `${NAME_DIR_PREFIX}cpu`,
      'part-2',
      'data',
    );
    const bytes = readFileSync(victim);
    bytes[bytes.length - 6]! ^= 0x10;
    writeFileSync(victim, bytes);
    const s = await open();
    await assert.rejects(
      s.merge({ keyTagOf: KEYS }),
      (err: unknown) => err instanceof CorruptDataError && err.path === victim,
    );
    assert.equal(s.listParts().length, 9);
    assert.deepEqual(partDirs(dir, 'cpu').length, 9);
  });

  it('merge policy - the run keeps its age position, avoids type changes and row limits, prefers small parts', () => {
    const p = (lastSequence: number, rows = 10, schema = MEASURE): RunCandidate => ({ lastSequence, rows, schema });
    const policy = { maxPartsPerName: 4, minPartsPerMerge: 2, maxRowsPerMerge: 1000 };
    assert.equal(pickRun([p(1), p(2), p(3), p(4)], policy), null, 'within the bound');
    // 6 parts, bound 4: a run of 3; the smallest is parts 3..5.
    assert.deepEqual(pickRun([p(1, 500), p(2, 400), p(3, 5), p(4, 5), p(5, 5), p(6, 300)], policy), {
      start: 2,
      end: 5,
    });
    // Parts 3 and 4 share a last_sequence: a run may not end at part 3 (the merged part would outrank part 4).
    assert.deepEqual(pickRun([p(1, 5), p(2, 5), p(3, 5), p(3, 400), p(5, 500), p(6, 500)], policy), {
      start: 1,
      end: 4,
    });
    // A field changed type between parts 2 and 3: no run spans it.
    const intValue: BlockSchema = { fields: [{ name: 'value', type: 'int' }], tags: [] };
    assert.deepEqual(
      pickRun([p(1), p(2), p(3, 10, intValue), p(4, 10, intValue), p(5, 10, intValue), p(6, 10, intValue)], policy),
      { start: 2, end: 5 },
    );
    // Too many rows for any run of the needed length: none.
    assert.equal(pickRun([p(1, 600), p(2, 600), p(3, 600), p(4, 600), p(5, 600)], policy), null);
  });

  it('quiet policy - all parts when allowed, else the shortest age run holding every overlapping part; row limit, types, sequences, no dominant part', () => {
    const policy = { maxPartsPerName: 8, minPartsPerMerge: 4, maxRowsPerMerge: 1000 };
    const p = (lastSequence: number, minTs: number | null, maxTs: number | null, rows = 10, schema = MEASURE) => ({
      lastSequence,
      rows,
      schema,
      minTs,
      maxTs,
    });
    assert.equal(pickQuietRun([p(1, 0, 9)], policy), null, 'one part');
    assert.deepEqual(pickQuietRun([p(1, 0, 9), p(2, 10, 19), p(3, 20, 29)], policy), { start: 0, end: 3 }, 'all');
    // All would be over the row limit: parts 2 and 4 overlap (a late row), so 2..4 with part 3 between them.
    assert.deepEqual(pickQuietRun([p(1, 0, 9, 900), p(2, 10, 19), p(3, 30, 39), p(4, 15, 40), p(5, 50, 59)], policy), {
      start: 1,
      end: 4,
    });
    // Touching at one timestamp is an overlap (the same key may be in both).
    assert.deepEqual(pickQuietRun([p(1, 0, 9, 995), p(2, 10, 19), p(3, 19, 25)], policy), { start: 1, end: 3 });
    assert.equal(pickQuietRun([p(1, 0, 9, 995), p(2, 20, 29), p(3, null, null)], policy), null, 'no overlap');
    // The part after the overlap run shares its last sequence: the merged part would outrank it.
    assert.equal(pickQuietRun([p(1, 0, 10), p(2, 5, 19), p(2, 30, 39, 990)], policy), null);
    assert.equal(pickQuietRun([p(1, 0, 10, 900), p(2, 5, 19, 10)], policy), null, 'one part holds most rows');
    const intValue: BlockSchema = { fields: [{ name: 'value', type: 'int' }], tags: [] };
    assert.equal(pickQuietRun([p(1, 0, 10), p(2, 5, 19, 10, intValue)], policy), null, 'a type change');
  });

  it('merge - quiet: a cold segment merges while the shard takes flushes, every segment once the shard is idle; overlaps resolve by version', async () => {
    const s = await open();
    const quiet = { idleMs: 10_000, coldMs: 60_000 };
    const row = (ts: number, v: number): Row => ({ series: 'a', ts: T0 + ts, eid: '', value: v, count: v, msg: '' });
    const hourOf = (h: number) => ({ minTs: T0 + h * HOUR_MS, maxTs: T0 + (h + 1) * HOUR_MS - 1, schemaName: 'cpu' });
    const partsIn = (h: number) => s.listParts().filter((r) => r.segmentStartMs === T0 + h * HOUR_MS).length;
    // Hour 0: three flushes whose ranges overlap (late rows), one key written twice.
    await s.flush([toBatch('cpu', [row(0, 1), row(10, 1), row(20, 1)], MEASURE, 1, 0)]);
    await s.flush([toBatch('cpu', [row(15, 2), row(30, 2), row(40, 2)], MEASURE, 2, 0)]);
    await s.flush([toBatch('cpu', [row(20, 3), row(50, 3)], MEASURE, 3, 0)]);
    const before = plain(await s.scanMerged(hourOf(0)));
    assert.deepEqual(await s.merge({ keyTagOf: KEYS, quiet }), [], 'flushed just now: not quiet');
    // The writers move on to hour 1 and keep flushing: hour 0 waits until it is cold.
    let seq = 4;
    const flushHour1 = async () => {
      await s.flush([toBatch('cpu', [row(HOUR_MS + seq, seq)], MEASURE, seq, 1)]);
      seq++;
    };
    for (let t = 0; t < 50_000; t += 10_000) {
      await clock.advance(10_000);
      await flushHour1();
      assert.deepEqual(await s.merge({ keyTagOf: KEYS, quiet }), [], `${t + 10_000} ms: hour 0 not cold yet`);
    }
    assert.deepEqual(await s.merge({ keyTagOf: KEYS }), [], 'within the bound and not asked for quiet: nothing');
    await clock.advance(10_000);
    await flushHour1();
    const cold = await s.merge({ keyTagOf: KEYS, quiet });
    assert.deepEqual(
      cold.map((d) => [d.segmentStartMs, d.replaced]),
      [[T0, [1, 2, 3]]],
      'hour 0 cold (60 s), hour 1 still taking flushes',
    );
    assert.deepEqual(plain(await s.scanMerged(hourOf(0))), before, 'the same answer');
    const a = (await s.scanMerged(hourOf(0))).get('a')!;
    assert.deepEqual([...a.fields.value!], [1, 1, 2, 3, 2, 2, 3], 'the newest write of ts 20 wins');
    assert.equal(partsIn(1), 6);
    // The load ends: 10 s without a flush and hour 1 becomes one part too.
    const hour1 = plain(await s.scanMerged(hourOf(1)));
    await clock.advance(9_999);
    assert.deepEqual(await s.merge({ keyTagOf: KEYS, quiet }), [], 'not idle yet');
    await clock.advance(1);
    assert.equal((await s.merge({ keyTagOf: KEYS, quiet })).length, 1);
    assert.equal(partsIn(1), 1);
    assert.deepEqual(plain(await s.scanMerged(hourOf(1))), hour1);
  });

  it('mergeSeries - disjoint chunks come back in time order whatever their part age; equal keys go to the higher version, then the newer part', () => {
    const schema: BlockSchema = {
      fields: [
        { name: 'value', type: 'float' },
        { name: VERSION_COLUMN, type: 'int' },
      ],
      tags: [],
    };
    const cols = unionColumns([schema]);
    const chunk = (age: number, ts: number[], values: number[], versions: number[]): Chunk => ({
      age,
      rows: {
        timestamps: Float64Array.from(ts),
        fields: { value: Float64Array.from(values), [VERSION_COLUMN]: Float64Array.from(versions) },
        tags: {},
      },
    });
    /** The (ts, value) rows of `chunks` merged. */
    const rowsOf = (chunks: Chunk[]) => {
      const r = mergeSeries(chunks, cols, undefined, 'cpu');
      return [...r.timestamps].map((ts, i) => [ts, r.fields.value![i]]);
    };
    // A merged part (age 2) holds rows older than a part flushed before the merge (age 1).
    assert.deepEqual(
      rowsOf([
        chunk(1, [50, 60], [5, 6], [9, 9]),
        chunk(2, [10, 20, 30], [1, 2, 3], [1, 1, 1]),
        chunk(0, [70], [7], [9]),
      ]),
      [
        [10, 1],
        [20, 2],
        [30, 3],
        [50, 5],
        [60, 6],
        [70, 7],
      ],
    );
    // Overlapping chunks: ts 20 is in both; the higher version wins though its part is older.
    assert.deepEqual(rowsOf([chunk(1, [20, 40], [8, 9], [7, 7]), chunk(2, [10, 20, 30], [1, 2, 3], [1, 1, 1])]), [
      [10, 1],
      [20, 8],
      [30, 3],
      [40, 9],
    ]);
    // Equal versions (rows written before versions existed): the newest part's row wins.
    assert.deepEqual(
      rowsOf([
        chunk(2, [20, 30], [8, 9], [0, 0]),
        chunk(0, [10, 20], [1, 2], [0, 0]),
        chunk(1, [5, 30], [0, 7], [0, 0]),
      ]),
      [
        [5, 0],
        [10, 1],
        [20, 8],
        [30, 9],
      ],
    );
    // Overlapping edges among disjoint chunks: only the overlapping ones are merged row by row.
    assert.deepEqual(
      rowsOf([
        chunk(3, [60], [6], [1]),
        chunk(0, [10, 20], [1, 2], [1, 1]),
        chunk(2, [40, 50], [4, 5], [1, 1]),
        chunk(1, [15, 20, 25], [9, 8, 7], [1, 1, 1]),
      ]),
      [
        [10, 1],
        [15, 9],
        [20, 8],
        [25, 7],
        [40, 4],
        [50, 5],
        [60, 6],
      ],
    );
  });
});
