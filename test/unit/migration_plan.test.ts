/**
 * The migration planner as a pure function (actors/liaison/migration_plan.ts): what a spec's change
 * does to one target, for changes of a measure's shape and of a group's layout, and the layout
 * record rules for a generation's own measures (actors/liaison/layout_validation.ts).
 */
import assert from 'node:assert/strict';
import { parseSpec, planTarget, type TargetResources } from '../../actors/liaison/migration_plan.js';
import { validateLayout } from '../../actors/liaison/layout_validation.js';
import { Code, codeOf } from '../../transport/errors.js';
import { resourceInGeneration, type Layout } from '../../transport/layout_types.js';
import type { Group, Measure, Resource, StoredResource } from '../../transport/schema_types.js';

const GROUP: Group = {
  name: 'metrics_eu',
  catalog: 'measure',
  shards: 2,
  segment_interval: '1d',
  ttl: '7d',
  replicas: 1,
  placement: { data_nodes: ['d1', 'd2'], strategy: 'balanced' },
};
const CPU: Measure = {
  group: 'metrics_eu',
  name: 'cpu',
  entity: ['host'],
  tag_families: [
    {
      name: 'default',
      tags: [
        { name: 'host', type: 'string' },
        { name: 'region', type: 'string' },
      ],
    },
  ],
  fields: [{ name: 'value', type: 'float' }],
};

function target(layout: Layout | null = null): TargetResources {
  const stored = <T extends Resource>(resource: T, mod_revision: number): StoredResource<T> =>
    ({ resource, mod_revision }) as StoredResource<T>;
  return {
    group: stored(GROUP, 3),
    measures: [stored(CPU, 7)],
    layout: layout ? stored(layout, 9) : null,
  };
}
const plan = (change: unknown, layout: Layout | null = null) =>
  planTarget(parseSpec({ targets: ['metrics_eu'], change }), target(layout));

describe('migration plan', () => {
  it('plan - a new entity and a field type make a rewrite whose next generation holds the new shape', () => {
    const p = plan({ measures: { cpu: { entity: ['host', 'region'], fields: { value: 'int' } } } });
    assert.equal(p.kind, 'rewrite');
    assert.equal(p.unsupported, undefined);
    assert.match(p.reason, /cpu field value float → int/);
    assert.match(p.reason, /cpu entity \[host\] → \[host, region\]/);
    const next = p.layout!.next;
    assert.equal(next.generation, 2);
    assert.deepEqual([next.shards, next.segment_interval], [2, '1d'], 'the group layout stays');
    assert.deepEqual(next.measures!.cpu!.entity, ['host', 'region']);
    assert.deepEqual(next.measures!.cpu!.fields, [{ name: 'value', type: 'int' }]);
    assert.equal(p.layout!.mod_revision, 0, 'fenced against the layout as it was (none)');
    // The registry gets the same shape at the cutover, fenced at the revision planned.
    assert.deepEqual(
      p.resources.map((r) => [r.kind, r.mod_revision, (r.resource as unknown as Measure).entity]),
      [['measure', 7, ['host', 'region']]],
    );
    // Every party reads a generation's rows by the one rule.
    assert.equal(resourceInGeneration(next, 'measure', 'cpu', CPU), next.measures!.cpu);
    assert.equal(resourceInGeneration(next, 'measure', 'mem', CPU), CPU);
  });

  it('plan - a re-shard together with a field type builds one generation with both', () => {
    const current = { generation: 3, shards: 2, segment_interval: '1d', replicas: 1, placement: GROUP.placement! };
    const p = plan(
      { group: { shards: 4 }, measures: { cpu: { fields: { value: 'int' } } } },
      {
        group: 'metrics_eu',
        current,
      },
    );
    assert.equal(p.layout!.next.generation, 4);
    assert.equal(p.layout!.next.shards, 4);
    assert.equal(p.layout!.next.measures!.cpu!.fields[0]!.type, 'int');
    assert.equal(p.layout!.mod_revision, 9);
  });

  it('plan - an added field stays instant; a tag type change is a rewrite not built yet', () => {
    const added = plan({ measures: { cpu: { fields: { errors: 'int' } } } });
    assert.equal(added.kind, 'instant');
    assert.equal(added.layout, null);
    const retagged = plan({ measures: { cpu: { tags: { region: 'int' } } } });
    assert.equal(retagged.kind, 'rewrite');
    assert.equal(retagged.unsupported, 'cpu tag region string → int');
  });

  it('layout - a generation holds valid measures of its group only, keyed by name', () => {
    const gen = { generation: 2, shards: 2, segment_interval: '1d', replicas: 1, placement: GROUP.placement };
    const ok = validateLayout({ group: 'metrics_eu', current: { ...gen, measures: { cpu: CPU } } });
    assert.deepEqual(ok.current.measures!.cpu!.entity, ['host']);
    for (const measures of [
      { mem: CPU },
      { cpu: { ...CPU, group: 'metrics_us' } },
      { cpu: { ...CPU, entity: ['nosuch'] } },
      [CPU],
    ]) {
      assert.throws(
        () => validateLayout({ group: 'metrics_eu', current: { ...gen, measures } }),
        (e) => codeOf(e) === Code.InvalidArgument,
        JSON.stringify(measures),
      );
    }
  });
});
