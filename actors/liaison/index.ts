/** The liaison's API actor. */
import type { Actor } from '../../runtime/actor.js';
import { ApiActor } from './api_actor.js';

export { ApiActor } from './api_actor.js';

/** Builds the liaison's API actor. */
export function createActor(): Actor {
  return new ApiActor();
}
