/**
 * What the memtable tests share: group g (1 h segments) with measures cpu and mem and stream logs,
 * WAL records of their points and elements, and a memtable that resolves them.
 */
import { Memtable } from '../../actors/data_shard/memtable.js';
import type { Group, Measure, Stream } from '../../transport/schema_types.js';
import type { WalRecord } from '../../transport/wal_record.js';

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2024, 4, 1, 10); // on an hour boundary
export const GROUP: Group = {
  name: 'g',
  catalog: 'measure',
  shards: 4,
  segment_interval: '1h',
  ttl: '7d',
  replicas: 1,
};
export const CPU: Measure = {
  group: 'g',
  name: 'cpu',
  entity: ['host'],
  tag_families: [
    { name: 'id', tags: [{ name: 'host', type: 'string' }] },
    {
      name: 'meta',
      tags: [
        { name: 'region', type: 'string' },
        { name: 'port', type: 'int' },
        { name: 'roles', type: 'string[]' },
      ],
    },
  ],
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
};
const MEM: Measure = { ...CPU, name: 'mem' };
export const LOGS: Stream = {
  group: 'g',
  name: 'logs',
  entity: ['host'],
  tag_families: [
    {
      name: 'id',
      tags: [
        { name: 'host', type: 'string' },
        { name: 'level', type: 'string' },
      ],
    },
  ],
};
const RESOURCES: Record<string, Measure | Stream> = { cpu: CPU, mem: MEM, logs: LOGS };

/** A point of measure cpu (or mem): host, ts, fields and the optional meta tags. */
export type P = [host: string, ts: number, fields: Record<string, number>, tags?: Record<string, unknown>];

/** A WAL record (revision 5) of measure `name` with `points`. */
export function rec(name: string, points: P[]): WalRecord {
  return {
    kind: 'measure',
    group: 'g',
    name,
    revision: 5,
    batch_id: 'b',
    rows: points.map(([host, ts, fields, tags]) => ({ ts, tags: { host, ...tags }, fields })),
    entity_keys: points.map(([host]) => JSON.stringify([host])),
  };
}

/** A stream element of series h1 (tag `level`), with element id `id`. */
export const el = (ts: number, id: string, level = 'info') => ({ ts, element_id: id, tags: { host: 'h1', level } });

/** A WAL record of stream `logs` whose rows (see `el`) are all of series h1. */
export function logs(rows: unknown[]): WalRecord {
  return {
    kind: 'stream',
    group: 'g',
    name: 'logs',
    revision: 1,
    batch_id: 'b',
    rows,
    entity_keys: rows.map(() => '["h1"]'),
  };
}

/** A memtable of group g resolving cpu, mem and logs, with a fixed clock. */
export function memtable(opts: { resumeAfter?: number; now?: number } = {}): Memtable {
  const clock = { now: () => opts.now ?? 0 };
  return new Memtable({ group: GROUP, resolve: (_k, n) => RESOURCES[n], resumeAfter: opts.resumeAfter, clock });
}
