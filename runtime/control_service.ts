/**
 * The node's admin service on `P.node.<node>.control.<op>`, served by the supervisor:
 * pause_watch, resume_watch, actors, and — only with fault injection enabled — inject_fault and
 * clear_fault.
 */
import type { ActorsReply, WatchControlReply } from '../transport/api_types.js';
import type { Bus, Subscription } from '../transport/bus.js';
import { errors, LockstepError } from '../transport/errors.js';
import { serve } from '../transport/rpc.js';
import { lastToken, type Subjects } from '../transport/subjects.js';
import { isValidName } from '../transport/schema_types.js';
import { ACTOR_KINDS, type FaultSpec } from './actor.js';
import type { NodeConfig } from './config.js';
import { unwrap } from './thread_envelope.js';
import { WATCHER_ID, type Supervisor } from './supervisor.js';

const CONTROL_OPS = ['pause_watch', 'resume_watch', 'actors', 'inject_fault', 'clear_fault'];

function parseFault(body: unknown): FaultSpec {
  const f = (body as { fault?: Partial<FaultSpec> } | undefined)?.fault;
  if (!f || typeof f !== 'object') throw errors.invalidArgument('fault is required: {actor, phase, kind, times?}');
  if (!(ACTOR_KINDS as readonly unknown[]).includes(f.actor))
    throw errors.invalidArgument(`fault.actor must be one of ${ACTOR_KINDS.join(', ')}`);
  if (!['init', 'apply', 'crash', 'backfill', 'wal_apply'].includes(String(f.phase)))
    throw errors.invalidArgument('fault.phase must be init, apply, crash, backfill or wal_apply');
  const perGroup = f.phase === 'backfill' || f.phase === 'wal_apply';
  if (f.group !== undefined && (!perGroup || !isValidName(f.group)))
    throw errors.invalidArgument('fault.group is a group name, for the backfill and wal_apply phases only');
  if (f.generation !== undefined && (f.phase !== 'wal_apply' || !(Number.isInteger(f.generation) && f.generation >= 1)))
    throw errors.invalidArgument('fault.generation is a layout generation (1 or more), for the wal_apply phase only');
  if (f.phase === 'wal_apply' && f.kind !== 'delay') throw errors.invalidArgument('a wal_apply fault is a delay');
  if (!['transient', 'permanent', 'delay'].includes(String(f.kind ?? 'transient')))
    throw errors.invalidArgument('fault.kind must be transient, permanent or delay');
  if (f.kind === 'delay' && (!perGroup || !(Number.isInteger(f.delay_ms) && f.delay_ms! >= 1 && f.delay_ms! <= 60_000)))
    throw errors.invalidArgument('a delay fault is for the backfill or wal_apply phase, with delay_ms from 1 to 60000');
  if (f.times !== undefined && !(Number.isInteger(f.times) && f.times > 0))
    throw errors.invalidArgument('fault.times must be a positive integer');
  return {
    actor: f.actor!,
    phase: f.phase!,
    kind: f.kind ?? 'transient',
    ...(f.times ? { times: f.times } : {}),
    ...(f.group ? { group: f.group } : {}),
    ...(f.generation ? { generation: f.generation } : {}),
    ...(f.kind === 'delay' ? { delay_ms: f.delay_ms } : {}),
  };
}

/** Serves the control operations of this node. */
export function serveControl(
  bus: Bus,
  subjects: Subjects,
  config: NodeConfig,
  supervisor: Supervisor,
  info: { metricsPort?: number } = {},
): Subscription {
  const watcherControl = async (op: string) => {
    const host = supervisor.host(WATCHER_ID);
    if (!host) throw errors.unavailable(`the schema watcher of ${config.name} is not running`);
    const res = await host.control(op, {});
    return unwrap(res);
  };
  return serve(
    bus,
    subjects.node.controlAll(config.name),
    async (req) => {
      const op = lastToken(req.subject);
      switch (op) {
        case 'pause_watch':
          return {
            node: config.name,
            ...((await watcherControl('pause')) as Omit<WatchControlReply, 'node'>),
          } satisfies WatchControlReply;
        case 'resume_watch':
          return {
            node: config.name,
            ...((await watcherControl('resume')) as Omit<WatchControlReply, 'node'>),
          } satisfies WatchControlReply;
        case 'actors':
          return {
            node: config.name,
            roles: config.roles,
            pid: process.pid,
            main_thread_id: 0,
            metrics_port: info.metricsPort ?? null,
            actors: await supervisor.actors(),
          } satisfies ActorsReply;
        case 'inject_fault':
        case 'clear_fault': {
          if (!config.faultInjection) {
            throw new LockstepError(
              'PermissionDenied',
              `fault injection is disabled on ${config.name} (start it with --enable-fault-injection)`,
            );
          }
          await supervisor.injectFault(op === 'clear_fault' ? null : parseFault(req.body));
          return { node: config.name };
        }
        default:
          throw errors.unimplemented(
            `unknown control operation ${JSON.stringify(op)} (operations: ${CONTROL_OPS.join(', ')})`,
          );
      }
    },
    { spanName: 'node.control' },
  );
}
