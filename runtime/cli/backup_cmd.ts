/**
 * `lockstep backup create DIR [--group G]` and `lockstep backup restore DIR` (runtime/backup/):
 * progress on a terminal's stderr; the result (a summary, or the manifest with --json) on stdout.
 * Both need the `admin` user when the cluster runs with users (deploy/nats-users.conf).
 */
import type { Command } from 'commander';
import { createBackup } from '../backup/create.js';
import { restoreBackup } from '../backup/restore.js';
import { checkName } from '../../transport/schema_types.js';
import { runCommand } from './output.js';
import { formatBytes, formatCount, PhaseProgress, progressEnabled } from './progress.js';

/** Adds `backup create` and `backup restore` to the program. */
export function registerBackupCommands(program: Command): void {
  const backup = program
    .command('backup')
    .description('back up the schema and every point of a running cluster, and restore them into an empty one');

  backup
    .command('create')
    .description(
      "copy the schema, each shard's parts (flushed up to a recorded WAL position) and the WAL after it into DIR " +
        '(new or empty) while the cluster runs; manifest.json is written last',
    )
    .argument('<dir>', 'where the backup goes (created when missing; must be empty)')
    .option('-g, --group <group>', 'back up this group only')
    .action((dir: string, o: { group?: string }, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        if (o.group !== undefined) checkName(o.group, 'group');
        const bar = new PhaseProgress(progressEnabled(out.json, process.stderr, process.env.TERM), process.stderr);
        let copied = 0;
        try {
          const c = await client();
          const manifest = await createBackup(c, dir, {
            ...(o.group !== undefined ? { group: o.group } : {}),
            progress: {
              planned: (shards) => bar.phase('snapshots', shards),
              shardStarted: () => undefined,
              bytesCopied: (n) => (copied += n),
              shardDone: () => bar.add(1),
            },
          });
          bar.stop();
          const shards = manifest.groups.reduce((n, g) => n + g.shards.length, 0);
          const rows = manifest.groups.reduce((n, g) => n + g.shards.reduce((m, s) => m + s.rows, 0), 0);
          const wal = manifest.groups.reduce((n, g) => n + g.shards.reduce((m, s) => m + s.wal_messages, 0), 0);
          out.result(manifest, () => [
            `backup ${manifest.id} in ${dir}: ${manifest.groups.length} group(s), ${shards} shard(s), ` +
              `${formatCount(rows)} rows in parts, ${formatCount(wal)} WAL message(s) after them, ${formatBytes(copied)}`,
          ]);
        } finally {
          bar.stop();
        }
      }),
    );

  backup
    .command('restore')
    .description(
      "restore a backup into an empty cluster: checks every file, creates the schema (on this cluster's data " +
        'nodes), waits until every node applied it, then writes every point again',
    )
    .argument('<dir>', 'a directory made by `backup create`')
    .action((dir: string, _o: unknown, cmd: Command) =>
      runCommand(cmd, async ({ out, client }) => {
        const bar = new PhaseProgress(progressEnabled(out.json, process.stderr, process.env.TERM), process.stderr);
        try {
          const c = await client();
          const summary = await restoreBackup(c, dir, {
            progress: {
              verifying: (total) => bar.phase('checking', total, formatBytes),
              verified: (() => {
                let last = 0;
                return (b: number) => {
                  bar.add(b - last);
                  last = b;
                };
              })(),
              writing: (total) => bar.phase('writing', total),
              written: (n) => bar.add(n),
            },
          });
          bar.stop();
          out.result(summary, () => [
            `restored backup ${summary.backup}: ${summary.groups} group(s), ${summary.measures} measure(s), ` +
              `${summary.streams} stream(s), ${formatCount(summary.rows)} rows written`,
          ]);
        } finally {
          bar.stop();
        }
      }),
    );
}
