/** The shards a data node reports owning (`details.shards` of its `data_shard` actor), typed. */
import type { ActorsReply, ShardHealth } from '../../transport/api_types.js';

export const nodeShards = (r: ActorsReply): ShardHealth[] =>
  r.actors.flatMap((a) => (a.id === 'data_shard' ? ((a.details.shards ?? []) as ShardHealth[]) : []));
