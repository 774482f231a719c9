/** Where each actor kind lives: loaded lazily so a thread imports only its own actor. */
import type { ActorFactory, ActorKind } from './actor.js';

const loaders: Record<ActorKind, () => Promise<{ createActor: ActorFactory }>> = {
  schema_watcher: () => import('../actors/schema_watcher/index.js'),
  api: () => import('../actors/liaison/index.js'),
  barrier: () => import('../actors/barrier/index.js'),
  data_shard: () => import('../actors/data_shard/index.js'),
  cutover_claimer: () => import('../actors/cutover_claimer/index.js'),
};

/** The factory of an actor kind. */
export async function actorFactory(kind: ActorKind): Promise<ActorFactory> {
  const mod = await loaders[kind]();
  return mod.createActor;
}
