/**
 * A group's placement record (DESIGN §7): filled in when the group is created, then fixed; only
 * a migration changes it. It names the data nodes and the strategy that places shards on them
 * (storage/placement.ts), so every later version places the group's shards the same way.
 */
import { errors } from '../../transport/errors.js';
import { DEFAULT_PLACEMENT_STRATEGY, type Group } from '../../transport/schema_types.js';

/**
 * The placement of a group being created: the one it names, or the data nodes `dataNodes` gives
 * (none is `FailedPrecondition`), with the current strategy unless it names one. Without
 * `dataNodes`, a group that names no placement is stored without one.
 */
export async function placeNewGroup(g: Group, dataNodes?: () => Promise<string[]>): Promise<Group> {
  if (g.placement) {
    const { data_nodes, strategy = DEFAULT_PLACEMENT_STRATEGY } = g.placement;
    return { ...g, placement: { data_nodes, strategy } };
  }
  if (!dataNodes) return g;
  const nodes = [...new Set(await dataNodes())].sort();
  if (nodes.length === 0) {
    throw errors.failedPrecondition(
      `group ${g.name} needs data nodes to be placed on and none is a member of the cluster: start one, or give placement.data_nodes`,
      { key: `group:${g.name}` },
    );
  }
  return { ...g, placement: { data_nodes: nodes, strategy: DEFAULT_PLACEMENT_STRATEGY } };
}

/**
 * The group an update asks for, with what it leaves out of the stored placement filled in: no
 * placement keeps the stored one; no strategy keeps the stored strategy (none for a group placed
 * before strategies existed), or the current one for a group that had no placement yet.
 */
export function keepPlacement(next: Group, current: Group): Group {
  if (!next.placement) return current.placement ? { ...next, placement: current.placement } : next;
  if (next.placement.strategy !== undefined) return next;
  const strategy = current.placement ? current.placement.strategy : DEFAULT_PLACEMENT_STRATEGY;
  return strategy === undefined ? next : { ...next, placement: { ...next.placement, strategy } };
}
