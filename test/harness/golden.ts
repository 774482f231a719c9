/**
 * Golden query cases (`test/cases/<case>/`, see test/cases/README.md): per case, `data.json` holds a
 * group, one measure or stream and writes in phases; every other `*.json` file holds one query with
 * its expected answer. `loadCase` runs one case on a running cluster — the first phase is flushed to
 * parts before the next is written, so answers merge parts and memtables — and `runQuery` turns a
 * reply into the case's form (times as RFC 3339) for comparison.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockstepError } from '../../transport/errors.js';
import type { RowColumns } from '../../transport/query_types.js';
import { subjectsFor } from '../../transport/subjects.js';
import type { TestCluster } from './cluster.js';
import { waitFor } from './wait.js';

const S = subjectsFor();
const CASES_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'cases');

/** The file of a case that holds its schema and writes; every other JSON file is a query. */
export const CASE_DATA_FILE = 'data.json';

/** One query of a case with its expected answer (one file). */
export interface GoldenQuery {
  /** The query's file name, relative to its case directory. */
  file: string;
  name: string;
  query: Record<string, unknown>;
  expect: { rows?: unknown[]; columns?: unknown; groups?: unknown[]; error?: string };
}

/** One case: a directory of test/cases. */
export interface GoldenCase {
  /** The case's directory name. */
  name: string;
  description: string;
  group: { name: string } & Record<string, unknown>;
  measure?: { name: string } & Record<string, unknown>;
  stream?: { name: string } & Record<string, unknown>;
  writes: Record<string, unknown>[][];
  /** In file-name order. */
  queries: GoldenQuery[];
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`golden case file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Throws naming the file when a case file misses what the runner needs: a newcomer's typo fails loudly. */
function check(ok: boolean, path: string, what: string): void {
  if (!ok) throw new Error(`golden case file ${path}: ${what}`);
}

/** Loads one case directory. */
function loadCaseDir(name: string): GoldenCase {
  const dir = join(CASES_DIR, name);
  const dataPath = join(dir, CASE_DATA_FILE);
  const data = readJson(dataPath);
  check(typeof (data.group as { name?: unknown })?.name === 'string', dataPath, 'group.name is missing');
  check(!!data.measure !== !!data.stream, dataPath, 'exactly one of measure and stream is required');
  check(Array.isArray(data.writes) && data.writes.every(Array.isArray), dataPath, 'writes must be a list of phases');
  const queries: GoldenQuery[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== CASE_DATA_FILE)
    .sort()) {
    const path = join(dir, file);
    const q = readJson(path);
    check(typeof q.name === 'string', path, 'name is missing');
    check(!!q.query && typeof q.query === 'object', path, 'query is missing');
    check(!!q.expect && typeof q.expect === 'object', path, 'expect is missing');
    check(!queries.some((o) => o.name === q.name), path, `query name "${String(q.name)}" is used twice`);
    queries.push({ file, ...(q as Omit<GoldenQuery, 'file'>) });
  }
  check(queries.length > 0, dir, 'a case needs at least one query file');
  return { name, ...(data as Omit<GoldenCase, 'name' | 'queries'>), queries };
}

/** Every case in test/cases, by directory name. */
export function goldenCases(): GoldenCase[] {
  return readdirSync(CASES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map(loadCaseDir);
}

type Token = { group: string; shards: Record<string, number> };
type Actors = { actors: { id: string; details: { shards?: { shard: string; flushed: number }[] } }[] };

/** Creates the case's schema, writes its phases (flushing all but the last), returns the write token. */
export async function loadCase(c: TestCluster, gc: GoldenCase, dataNodes: string[]): Promise<Token> {
  const kind = gc.measure ? 'measure' : 'stream';
  const resource = (gc.measure ?? gc.stream)!;
  await c.api(S.api.schema('group', 'create'), { resource: gc.group });
  const created = await c.api<{ revision: number }>(S.api.schema(kind, 'create'), { resource });
  const key = `${kind}:${gc.group.name}/${resource.name}`;
  const b = await c.barrier('applied', { keys: [key], min_revisions: [created.revision] }, 10_000);
  if (!b.applied) throw new Error(`${key} not applied everywhere: ${JSON.stringify(b.laggards)}`);
  const token: Token = { group: gc.group.name, shards: {} };
  for (const [i, phase] of gc.writes.entries()) {
    const body = kind === 'measure' ? { points: phase } : { elements: phase };
    const r = await c.api<{ write_token: Token }>(
      S.api.write(kind),
      { group: gc.group.name, name: resource.name, ...body },
      10_000,
    );
    for (const [s, seq] of Object.entries(r.write_token.shards)) token.shards[s] = Math.max(token.shards[s] ?? 0, seq);
    if (i < gc.writes.length - 1) await flushed(c, dataNodes, gc.group.name, r.write_token.shards);
  }
  return token;
}

/** Waits until, for every shard of `seqs`, some data node flushed it up to its sequence. */
async function flushed(
  c: TestCluster,
  dataNodes: string[],
  group: string,
  seqs: Record<string, number>,
): Promise<void> {
  await waitFor(
    async () => {
      const reports = await Promise.all(dataNodes.map((n) => c.control<Actors>(n, 'actors')));
      const shards = reports.flatMap((r) => r.actors.find((a) => a.id === 'data_shard')?.details.shards ?? []);
      return Object.entries(seqs).every(([s, seq]) =>
        shards.some((x) => x.shard === `${group}/${s}` && x.flushed >= seq),
      );
    },
    { timeoutMs: 30_000, what: `shards of ${group} flushed up to ${JSON.stringify(seqs)}` },
  );
}

/** Runs one query of a case; the answer in the case's form: {rows} / {columns} / {groups} with RFC 3339 times, or {error: code}. */
export async function runQuery(
  c: TestCluster,
  gc: GoldenCase,
  q: Record<string, unknown>,
  token: Token,
): Promise<Record<string, unknown>> {
  const kind = gc.measure ? 'measure' : 'stream';
  const name = (gc.measure ?? gc.stream)!.name;
  try {
    const r = await c.api<{
      rows?: { ts: number }[];
      columns?: RowColumns;
      groups?: { ts?: number }[];
      missing_shards: number[];
    }>(S.api.query(kind), { group: gc.group.name, name, write_token: token, ...q }, 15_000);
    if (r.missing_shards.length > 0) throw new Error(`shards missing: ${r.missing_shards.join(', ')}`);
    // Groups of a bucketed query carry their bucket's start: shown as RFC 3339 like row times.
    if (r.groups)
      return { groups: r.groups.map((g) => (g.ts === undefined ? g : { ...g, ts: new Date(g.ts).toISOString() })) };
    if (r.columns) {
      // Columns as JSON would carry them: arrays, null for a missing float; packed ones as packed.
      const { ts, tags, fields, ...rest } = r.columns;
      const iso = (t: number) => new Date(t).toISOString();
      const plain = (col: ArrayLike<number | null>) =>
        Array.from(col, (v) => (v === null || Number.isNaN(v) ? null : v));
      return {
        columns: {
          ...rest,
          ts: !('base' in ts)
            ? Array.from(ts, iso)
            : 'deltas' in ts
              ? { base: iso(ts.base), deltas: Array.from(ts.deltas) }
              : { ...ts, base: iso(ts.base) },
          tags: Object.fromEntries(
            Object.entries(tags).map(([t, col]) => [
              t,
              'count' in col ? col : { ...col, codes: Array.from(col.codes) },
            ]),
          ),
          fields: Object.fromEntries(
            Object.entries(fields).map(([f, col]) => [
              f,
              'scale' in col ? { scale: col.scale, ints: Array.from(col.ints) } : plain(col),
            ]),
          ),
        },
      };
    }
    return { rows: r.rows!.map((row) => ({ ...row, ts: new Date(row.ts).toISOString() })) };
  } catch (err) {
    if (err instanceof LockstepError) return { error: err.code };
    throw err;
  }
}
