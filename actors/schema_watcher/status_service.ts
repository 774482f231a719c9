/**
 * The node schema status service (DESIGN §4) on `P.node.<node>.status.<method>`: answers at once
 * from the watcher's applied state, never waits.
 */
import type { Bus, Subscription } from '../../transport/bus.js';
import { errors } from '../../transport/errors.js';
import { serve } from '../../transport/rpc.js';
import { parseKey, type SchemaKey } from '../../transport/schema_types.js';
import { MAX_KEYS_PER_STATUS_CALL } from '../../transport/limits.js';
import {
  STATUS_METHODS,
  type AbsentKeysReply,
  type KeyRevisionsReply,
  type MaxRevisionReply,
} from '../../transport/status_types.js';
import { lastToken, type Subjects } from '../../transport/subjects.js';
import type { KeyState } from './key_state.js';

/** What the status service reads. */
export interface StatusSource {
  node: string;
  appliedRevision(): number;
  keyState: KeyState;
}

function keysOf(body: unknown): SchemaKey[] {
  const keys = (body as { keys?: unknown } | undefined)?.keys;
  if (!Array.isArray(keys)) throw errors.invalidArgument('keys must be an array of schema keys');
  if (keys.length > MAX_KEYS_PER_STATUS_CALL) {
    throw errors.invalidArgument(`at most ${MAX_KEYS_PER_STATUS_CALL} keys per status call (got ${keys.length})`);
  }
  return keys.map((k) => parseKey(k));
}

/** Serves the status methods of one node. */
export function serveNodeStatus(bus: Bus, subjects: Subjects, src: StatusSource): Subscription {
  return serve(
    bus,
    subjects.node.statusAll(src.node),
    (req) => {
      const method = lastToken(req.subject);
      const revision = src.appliedRevision();
      switch (method) {
        case 'max_revision':
          return { node: src.node, revision } satisfies MaxRevisionReply;
        case 'key_revisions': {
          const keys = keysOf(req.body);
          return {
            node: src.node,
            revision,
            keys: keys.map((k) => src.keyState.status(k)),
          } satisfies KeyRevisionsReply;
        }
        case 'absent_keys': {
          const keys = keysOf(req.body);
          const absent: SchemaKey[] = [];
          const still: SchemaKey[] = [];
          for (const k of keys) (src.keyState.status(k).present ? still : absent).push(k);
          return { node: src.node, revision, absent, still_present: still } satisfies AbsentKeysReply;
        }
        default:
          throw errors.unimplemented(
            `unknown status method ${JSON.stringify(method)} (methods: ${STATUS_METHODS.join(', ')})`,
          );
      }
    },
    { spanName: 'schema_status.probe', attributes: { 'lockstep.node': src.node } },
  );
}
