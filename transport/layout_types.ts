/**
 * A group's data layout and its generations (DESIGN §9). Everything keyed by a shard is keyed by
 * (group, generation, shard): WAL subjects, durable consumers, shard directories, shard query
 * subjects and write tokens. At most three generations of a group are live:
 *
 * - `current` serves reads and takes writes;
 * - `next`, during a rewrite migration, is being built: it takes every write (a dual write, in the
 *   same acknowledged step) and the backfill, and serves no read;
 * - `retiring`, after a cutover, still takes writes until it is dropped.
 *
 * The layout is its own registry key (`layout:<group>`), written only by migrations, so a
 * layout-only change (re-shard, placement) never changes the revision a client holds for a measure.
 * A group with no layout key has one generation, 1, read from the group resource itself: that is
 * every group until its first rewrite. Generation 1 keeps the names it had before generations
 * existed (`P.wal.<group>.<shard>`, `<group>/shard-<n>`), so stored WAL and data stay readable.
 */
import type { Group, Measure, PlacementStrategy, ResourceMeta, Stream } from './schema_types.js';

/** One generation of a group's layout: what placing and segmenting its data depends on. */
export interface LayoutGeneration {
  /** 1 for a group's first layout, then one more per rewrite. */
  generation: number;
  shards: number;
  /** `<n>h` or `<n>d`. */
  segment_interval: string;
  replicas: number;
  placement: { data_nodes: string[]; strategy?: PlacementStrategy };
  /**
   * Measures whose rows this generation stores in another shape than the registry's (an entity or a
   * field's type changed by a rewrite migration): `next` holds the planned measure while it is built
   * and, right after its cutover, until the registry holds it too; `retiring` holds the measure it
   * was written with. Absent: every measure as the registry has it.
   */
  measures?: Record<string, Measure>;
}

/** The value of the registry key `layout:<group>`. */
export interface Layout extends ResourceMeta {
  group: string;
  current: LayoutGeneration;
  /** Being built by a rewrite migration: written, not read. */
  next?: LayoutGeneration;
  /** Replaced by a cutover: written until it is dropped, not read. */
  retiring?: LayoutGeneration;
  /** The migration operation that wrote this layout (`<migration id>/<target index>`), for operators. */
  written_by?: string;
}

/** Generation 1 of a group: its layout as the group resource records it. */
export function firstGeneration(group: Group): LayoutGeneration {
  return {
    generation: 1,
    shards: group.shards,
    segment_interval: group.segment_interval,
    replicas: group.replicas,
    placement: {
      data_nodes: [...(group.placement?.data_nodes ?? [])],
      ...(group.placement?.strategy !== undefined ? { strategy: group.placement.strategy } : {}),
    },
  };
}

/** The layout in force for a group: its stored layout key, else generation 1 from the group. */
export function layoutOf(group: Group, stored?: Layout | null): Layout {
  return stored ?? { group: group.name, current: firstGeneration(group) };
}

/** The generations every accepted write goes to, the one serving reads first. */
export function writeGenerations(layout: Layout): LayoutGeneration[] {
  return [layout.current, ...(layout.next ? [layout.next] : []), ...(layout.retiring ? [layout.retiring] : [])];
}

/**
 * A group with one of its generations in place of its own layout: what a shard owner of that
 * generation segments, retains and places by.
 */
export function groupAtGeneration(group: Group, gen: LayoutGeneration): Group {
  return {
    ...group,
    shards: gen.shards,
    segment_interval: gen.segment_interval,
    replicas: gen.replicas,
    placement: { ...gen.placement, data_nodes: [...gen.placement.data_nodes] },
  };
}

/** The generation `generation` of a layout, if it is live (current, next or retiring). */
export function generationOf(layout: Layout, generation: number): LayoutGeneration | undefined {
  return writeGenerations(layout).find((g) => g.generation === generation);
}

/**
 * The shape rows of `name` take in generation `gen`: its own measure when it holds one (a measure
 * rewrite), else the registry's resource.
 */
export function resourceInGeneration<R extends Measure | Stream>(
  gen: LayoutGeneration | undefined,
  kind: 'measure' | 'stream',
  name: string,
  registry: R,
): R {
  return kind === 'measure' ? ((gen?.measures?.[name] as R | undefined) ?? registry) : registry;
}
