/** The schema watcher actor: the node's applied schema and its status service. */
import type { Actor } from '../../runtime/actor.js';
import { SchemaWatcher } from './watcher.js';

export { SchemaWatcher } from './watcher.js';
export { KeyState } from './key_state.js';

/** Builds the node's schema watcher. */
export function createActor(): Actor {
  return new SchemaWatcher();
}
