/**
 * Schema resources the tests share, as the schema API takes them (plain records, so a test can
 * override any field, or break it, with `over`). Tests that need other values keep their own.
 */
import type { Measure, TagFamily, TagSpec, TagType } from '../../transport/schema_types.js';

/** One tag of every type, for stored columns: `host` (string), `port` (int), `roles` (string[]), `ids` (int[]). */
export const TAGS_OF_EVERY_TYPE: readonly TagSpec[] = [
  { name: 'host', type: 'string' },
  { name: 'port', type: 'int' },
  { name: 'roles', type: 'string[]' },
  { name: 'ids', type: 'int[]' },
];

/** A tag family `name` with `tags` (tag name → type), in that order. */
export function tagFamily(name: string, tags: Record<string, TagType>): TagFamily {
  return { name, tags: Object.entries(tags).map(([tag, type]) => ({ name: tag, type })) };
}

/** A measure group: 2 shards, 1 d segments, 7 d ttl. */
export function groupResource(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, catalog: 'measure', shards: 2, segment_interval: '1d', ttl: '7d', ...over };
}

/** The schema tests' measure: entity `host`, tags `host` (string) and `core` (int), field `value` (float). */
export function measureResource(
  group: string,
  name: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const tag_families = [tagFamily('default', { host: 'string', core: 'int' })];
  return { group, name, entity: ['host'], tag_families, fields: [{ name: 'value', type: 'float' }], ...over };
}

/** `measureResource` after a compatible change: tag `dc` and field `count` (int) added. */
export function grownMeasureResource(group: string, name: string): Record<string, unknown> {
  return measureResource(group, name, {
    tag_families: [tagFamily('default', { host: 'string', core: 'int', dc: 'string' })],
    fields: [
      { name: 'value', type: 'float' },
      { name: 'count', type: 'int' },
    ],
  });
}

/** The schema tests' stream: entity `svc`, one tag family `meta` with the `svc` tag. */
export function streamResource(
  group: string,
  name: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return { group, name, entity: ['svc'], tag_families: [tagFamily('meta', { svc: 'string' })], ...over };
}

/** The smallest measure to write to: entity `host` (its only tag), one float field `value`. */
export function hostValueMeasure(group: string, name: string) {
  const tag_families = [tagFamily('default', { host: 'string' })];
  return { group, name, entity: ['host'], tag_families, fields: [{ name: 'value', type: 'float' }] };
}

/**
 * The query tests' measure `g/cpu`: entity `host`; tags `host`, `region` (strings) and `rack`
 * (int); fields `value` (float) and `count` (int).
 */
export const QUERY_CPU: Measure = {
  group: 'g',
  name: 'cpu',
  entity: ['host'],
  tag_families: [
    {
      name: 'd',
      tags: [
        { name: 'host', type: 'string' },
        { name: 'region', type: 'string' },
        { name: 'rack', type: 'int' },
      ],
    },
  ],
  fields: [
    { name: 'value', type: 'float' },
    { name: 'count', type: 'int' },
  ],
};
