/** The data role's actor. */
import type { Actor } from '../../runtime/actor.js';
import { ShardManager } from './shard_manager.js';

export { ShardManager } from './shard_manager.js';

/** Builds the data node's shard manager. */
export function createActor(): Actor {
  return new ShardManager();
}
