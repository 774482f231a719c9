/**
 * The one catalog of NATS subjects (DESIGN §2). No actor builds a subject string inline.
 *
 * Grammar, with P the configurable prefix (default `lockstep`):
 *   P.api.<area>.<verb>                    public request/reply API, queue group `liaison`
 *     P.api.schema.<kind>.<verb>           kind ∈ group|measure|stream|index_rule,
 *                                          verb ∈ create|update|delete|get|list; P.api.schema.apply
 *     P.api.barrier.<call>                 call ∈ revision|applied|deleted
 *     P.api.cluster.members                the liaison's view of membership
 *     P.api.write.<kind>                   kind ∈ measure|stream: a batch of points or elements
 *     P.api.write.line.<group>             InfluxDB line protocol into a group's measures
 *     P.api.query.<kind>                   kind ∈ measure|stream: a query (transport/query_types.ts)
 *     P.api.migration.<verb>               verb ∈ MIGRATION_VERBS (transport/migration_types.ts)
 *     P.api.backup.<verb>                  verb ∈ snapshot|read|release (transport/backup_types.ts)
 *   P.node.<node>.status.<method>          node schema status: max_revision|key_revisions|absent_keys
 *   P.node.<node>.control.<op>             admin: pause_watch|resume_watch|actors|inject_fault|clear_fault
 *   P.node.<node>.backup.<op>              a data node's snapshots: read|release
 *   P.members.heartbeat                    membership heartbeats (and graceful leave)
 *   P.members.discover                     ask every node to send a heartbeat now
 *   P.events.schema                        applied-revision advances of every node
 *   P.events.migration.<id>                progress and state changes of one migration
 *   P.events.migration_wake                wakes the claimers (a new migration, an intent, a park)
 *   P.wal.<group>[.g<gen>].<shard>         write-ahead log stream subjects
 *   P.shard.<group>[.g<gen>].<shard>.query shard-level query
 *   P.shard.<group>[.g<gen>].<shard>.backfill  copy a shard into a new layout generation (migrations)
 *   P.shard.<group>[.g<gen>].<shard>.snapshot  one owner snapshots the shard for a backup
 * A shard is keyed by (group, layout generation, shard) (transport/layout_types.ts); generation 1
 * keeps the names shards had before generations existed, so the `.g<gen>` token appears from 2 on.
 * Node names and schema names are validated as single subject tokens before they get here.
 */
export const DEFAULT_PREFIX = 'lockstep';

/** The verbs of the migration API (DESIGN §9). */
export const MIGRATION_VERBS = [
  'plan',
  'start',
  'status',
  'list',
  'cutover',
  'stop',
  'resume',
  'cancel',
  'release',
] as const;
/** A migration API verb. */
export type MigrationVerb = (typeof MIGRATION_VERBS)[number];

/** Node names (`--name`): 1–63 of a-z, 0-9, _ and -, starting with a letter or digit; they become subject tokens. */
export const NODE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** True when `s` is a valid node name. */
export function isValidNodeName(s: unknown): s is string {
  return typeof s === 'string' && NODE_NAME_PATTERN.test(s);
}

/** Queue group of the public API: one liaison answers each request. */
export const LIAISON_QUEUE = 'liaison';

/** Queue group of a shard's owners: NATS hands each shard query to one live owner. */
export const SHARD_OWNERS_QUEUE = 'shard_owners';

/** The schema registry's KV bucket. */
export const SCHEMA_BUCKET = 'lockstep_schema';

/** The write-ahead log stream of the default prefix (subjects `lockstep.wal.<group>.<shard>`). */
export const WAL_STREAM = `${DEFAULT_PREFIX}_wal`;

/** The subject token of a layout generation: none for generation 1, `.g<gen>` from 2 on. */
function genToken(generation: number): string {
  return generation === 1 ? '' : `.g${generation}`;
}

/**
 * The durable consumer of one owner of (group, generation, shard) on the WAL stream. Generation 1
 * keeps its old name; later ones use `-`, which no group name holds, so no two shards share one.
 */
export function walDurableName(group: string, generation: number, shard: number, node: string): string {
  return generation === 1
    ? `shard_${group}_${shard}_${node.replace(/[^a-z0-9_]/g, '_')}`
    : `shard-${group}-g${generation}-${shard}-${node}`;
}

/** Subjects for one prefix. */
export function subjectsFor(prefix: string = DEFAULT_PREFIX) {
  const p = prefix;
  return {
    prefix: p,
    api: {
      all: `${p}.api.>`,
      schema: (kind: string, verb: string) => `${p}.api.schema.${kind}.${verb}`,
      schemaAll: `${p}.api.schema.>`,
      schemaApply: `${p}.api.schema.apply`,
      barrier: (call: string) => `${p}.api.barrier.${call}`,
      barrierAll: `${p}.api.barrier.>`,
      members: `${p}.api.cluster.members`,
      write: (kind: string) => `${p}.api.write.${kind}`,
      /** InfluxDB line protocol into one group's measures (transport/line_protocol.ts). */
      writeLine: (group: string) => `${p}.api.write.line.${group}`,
      writeLineAll: `${p}.api.write.line.*`,
      writeAll: `${p}.api.write.>`,
      query: (kind: string) => `${p}.api.query.${kind}`,
      migration: (verb: MigrationVerb) => `${p}.api.migration.${verb}`,
      migrationAll: `${p}.api.migration.>`,
      backup: (verb: 'snapshot' | 'read' | 'release') => `${p}.api.backup.${verb}`,
      backupAll: `${p}.api.backup.>`,
      queryAll: `${p}.api.query.>`,
    },
    node: {
      status: (node: string, method: string) => `${p}.node.${node}.status.${method}`,
      statusAll: (node: string) => `${p}.node.${node}.status.>`,
      control: (node: string, op: string) => `${p}.node.${node}.control.${op}`,
      controlAll: (node: string) => `${p}.node.${node}.control.>`,
      backup: (node: string, op: 'read' | 'release') => `${p}.node.${node}.backup.${op}`,
    },
    members: {
      heartbeat: `${p}.members.heartbeat`,
      discover: `${p}.members.discover`,
    },
    events: {
      schema: `${p}.events.schema`,
      /** Progress and state changes of one migration. */
      migration: (id: string) => `${p}.events.migration.${id}`,
      /** Wakes every claimer (a new migration, an intent, a parked operation). */
      migrationWake: `${p}.events.migration_wake`,
    },
    wal: (group: string, shard: number, generation = 1) => `${p}.wal.${group}${genToken(generation)}.${shard}`,
    walAll: `${p}.wal.>`,
    /** The WAL stream's name: one per prefix, so clusters sharing a NATS server do not collide. */
    walStream: `${p}_wal`,
    /** The migrations' KV bucket (DESIGN §9: records, operations, intents), one per prefix. */
    opsBucket: `${p}_ops`,
    shardQuery: (group: string, shard: number, generation = 1) =>
      `${p}.shard.${group}${genToken(generation)}.${shard}.query`,
    shardBackfill: (group: string, shard: number, generation = 1) =>
      `${p}.shard.${group}${genToken(generation)}.${shard}.backfill`,
    shardSnapshot: (group: string, shard: number, generation = 1) =>
      `${p}.shard.${group}${genToken(generation)}.${shard}.snapshot`,
    /** One owner's "applied up to" answer for a shard (transport/backfill_types.ts, CaughtUpRequest). */
    shardCaughtUp: (group: string, shard: number, generation: number, node: string) =>
      `${p}.shard.${group}${genToken(generation)}.${shard}.applied.${node}`,
  };
}

/** The subject catalog type. */
export type Subjects = ReturnType<typeof subjectsFor>;

/** The last token of a subject (the verb or method). */
export function lastToken(subject: string): string {
  const i = subject.lastIndexOf('.');
  return i < 0 ? subject : subject.slice(i + 1);
}
