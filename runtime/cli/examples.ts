/**
 * An example under every command's `--help`, keyed by the command's path. The query commands
 * print their own (with their grammar) and are not listed here; the help test checks that every
 * command shows one either way.
 */

/** Commands whose own help text carries its examples. */
export const OWN_EXAMPLES: ReadonlySet<string> = new Set(['query measure', 'query stream']);

/** Example command lines per command path ('' is the root). */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': [
    'lockstep cluster up                    # a local cluster; then, in the same directory:',
    'lockstep schema list group',
    'lockstep --nats-url nats://10.0.0.5:4222 cluster members',
  ],
  node: ['lockstep node --name d1 --role data --data-dir ./data', 'lockstep node actors d1'],
  'node pause-watch': ['lockstep node pause-watch d1'],
  'node resume-watch': ['lockstep node resume-watch d1'],
  'node actors': ['lockstep node actors d1', 'lockstep node actors d1 --json'],
  'node status': ['lockstep node status d1'],
  cluster: ['lockstep cluster up', 'lockstep cluster members'],
  'cluster up': [
    'lockstep cluster up',
    'lockstep cluster up --dir /tmp/lockstep --data-nodes 3 --claimers 0',
    'LOCKSTEP_NATS_PASSWORD=… lockstep cluster up --nats-url nats://127.0.0.1:4222 --user admin',
  ],
  'cluster members': ['lockstep cluster members', 'lockstep cluster members --json'],
  schema: [
    'lockstep schema create group g1 --catalog measure --shards 2 --segment-interval 1d --ttl 7d',
    'lockstep schema list measure g1',
  ],
  'schema create': ['lockstep schema create group g1 --catalog measure --shards 2 --segment-interval 1d --ttl 7d'],
  'schema create group': [
    'lockstep schema create group g1 --catalog measure --shards 2 --segment-interval 1d --ttl 7d',
  ],
  'schema create measure': [
    'lockstep schema create measure g1/cpu --entity host --tags host:string,region:string --fields value:float',
  ],
  'schema create stream': [
    'lockstep schema create stream logs/app --entity host --tags host:string,level:string --element-id id',
  ],
  'schema create index_rule': ['lockstep schema create index_rule g1/by_region --tags region --type inverted'],
  'schema update': ['lockstep schema update group g1 --ttl 14d'],
  'schema update group': ['lockstep schema update group g1 --ttl 14d'],
  'schema update measure': ['lockstep schema update measure g1/cpu --tags zone:string --fields count:int'],
  'schema update stream': ['lockstep schema update stream logs/app --tags service:string'],
  'schema update index_rule': ['lockstep schema update index_rule g1/by_region --tags region,host'],
  'schema get': ['lockstep schema get measure g1/cpu', 'lockstep schema get group g1 --json'],
  'schema list': ['lockstep schema list group', 'lockstep schema list measure g1'],
  'schema delete': ['lockstep schema delete measure g1/cpu', 'lockstep schema delete group g1 --cascade'],
  'schema apply': ['lockstep schema apply -f schema.yaml'],
  barrier: ['lockstep barrier applied --key measure:g1/cpu', 'lockstep barrier revision --min-revision 7'],
  'barrier revision': ['lockstep barrier revision --min-revision 7 --timeout 10s'],
  'barrier applied': [
    'lockstep barrier applied --key measure:g1/cpu',
    'lockstep barrier applied --key measure:g1/cpu@7 --key group:g1 --timeout 30s',
  ],
  'barrier deleted': ['lockstep barrier deleted --key measure:g1/old_cpu'],
  write: ['lockstep write measure g1/cpu points.jsonl'],
  'write measure': [
    'lockstep write measure g1/cpu points.jsonl',
    'gunzip -c points.jsonl.gz | lockstep write measure g1/cpu --batch-size 10000',
  ],
  'write stream': ['lockstep write stream logs/app elements.jsonl'],
  query: ['lockstep query measure g1/cpu --from -15m', 'lockstep query stream logs/app --from -1h --limit 20'],
  migrate: [
    'lockstep migrate plan -f reshard.yaml',
    'ID=$(lockstep migrate start -f reshard.yaml) && lockstep migrate status "$ID" --watch',
  ],
  'migrate plan': ['lockstep migrate plan -f reshard.yaml', 'lockstep migrate plan -f reshard.yaml --json'],
  'migrate start': ['lockstep migrate start -f reshard.yaml', 'ID=$(lockstep migrate start -f reshard.yaml)'],
  'migrate status': [
    'lockstep migrate status mig_0001',
    'lockstep migrate status mig_0001 --watch',
    'lockstep migrate status mig_0001 --watch --json | jq -c .status.state',
  ],
  'migrate list': ['lockstep migrate list', 'lockstep migrate list --json'],
  'migrate cutover': ['lockstep migrate cutover mig_0001', 'lockstep migrate cutover mig_0001 --target metrics_us'],
  'migrate stop': ['lockstep migrate stop mig_0001'],
  'migrate resume': ['lockstep migrate resume mig_0001'],
  'migrate cancel': ['lockstep migrate cancel mig_0001'],
  'migrate release': ['lockstep migrate release mig_0001'],
  backup: ['lockstep --user admin backup create /backups/today', 'lockstep backup restore /backups/today'],
  'backup create': [
    'lockstep backup create /backups/today',
    'lockstep backup create /backups/metrics --group metrics_eu',
    'lockstep backup create /backups/today --json | jq .id',
  ],
  'backup restore': ['lockstep backup restore /backups/today', 'lockstep backup restore /backups/today --json'],
};

/** The help text after a command's own: its examples, or undefined when it has none here. */
export function examplesHelp(path: string): string | undefined {
  const lines = EXAMPLES[path];
  if (lines === undefined) return undefined;
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}
