/** The claimer role's actor. */
import type { Actor } from '../../runtime/actor.js';
import { CutoverClaimer } from './claimer.js';

export { CutoverClaimer } from './claimer.js';

/** Builds the node's cutover claimer. */
export function createActor(): Actor {
  return new CutoverClaimer();
}
