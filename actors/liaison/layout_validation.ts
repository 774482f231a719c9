/**
 * Validation of a group's layout record (transport/layout_types.ts), as a migration writes it. Each
 * generation is checked by the rules of the group properties it carries (shards, segment interval,
 * replicas, placement) and its own measures by the measure rules; generations are ordered:
 * retiring < current < next.
 */
import { errors, LockstepError, toLockstepError } from '../../transport/errors.js';
import type { Layout, LayoutGeneration } from '../../transport/layout_types.js';
import { checkName, type Measure } from '../../transport/schema_types.js';
import { checkKnownProps, isPlainObject, validateGroup, validateMeasure, withoutMeta } from './schema_validation.js';

const SLOTS = ['current', 'next', 'retiring'] as const;

function generation(v: unknown, group: string, slot: string): LayoutGeneration {
  if (!isPlainObject(v)) throw errors.invalidArgument(`${slot} must be an object`, { field: slot });
  checkKnownProps(v, ['generation', 'shards', 'segment_interval', 'replicas', 'placement', 'measures'], slot);
  const g = v.generation;
  if (!Number.isSafeInteger(g) || (g as number) < 1) {
    throw errors.invalidArgument(`${slot}.generation must be a positive integer`, { field: `${slot}.generation` });
  }
  if (v.placement === undefined) {
    throw errors.invalidArgument(`${slot}.placement is required`, { field: `${slot}.placement` });
  }
  try {
    const { shards, segment_interval, replicas, placement } = validateGroup({
      name: group,
      catalog: 'measure',
      ttl: '1d',
      shards: v.shards,
      segment_interval: v.segment_interval,
      replicas: v.replicas,
      placement: v.placement,
    });
    const out: LayoutGeneration = {
      generation: g as number,
      shards,
      segment_interval,
      replicas,
      placement: placement!,
    };
    if (v.measures !== undefined) out.measures = measures(v.measures, group, slot);
    return out;
  } catch (err) {
    const le = toLockstepError(err);
    throw new LockstepError(le.code, `${slot}: ${le.message}`, { details: le.details });
  }
}

/** A generation's own measures: each a valid measure of the group, keyed by its name. */
function measures(v: unknown, group: string, slot: string): Record<string, Measure> {
  if (!isPlainObject(v))
    throw errors.invalidArgument('measures must map measure names to measures', { field: `${slot}.measures` });
  const out: Record<string, Measure> = {};
  for (const [name, m] of Object.entries(v)) {
    const checked = withoutMeta(validateMeasure(m));
    if (checked.name !== name || checked.group !== group) {
      throw errors.invalidArgument(`measures.${name} must be measure ${group}/${name}`, {
        field: `${slot}.measures.${name}`,
      });
    }
    out[name] = checked;
  }
  return out;
}

/** Validates a layout record and returns its normalized form, without created_at/updated_at. */
export function validateLayout(body: unknown): Layout {
  if (!isPlainObject(body)) throw errors.invalidArgument('resource must be an object', { field: 'resource' });
  checkKnownProps(body, ['group', ...SLOTS, 'written_by', 'created_at', 'updated_at'], '');
  const group = checkName(body.group, 'group');
  if (body.current === undefined) throw errors.invalidArgument('current is required', { field: 'current' });
  const layout: Layout = { group, current: generation(body.current, group, 'current') };
  if (body.next !== undefined) layout.next = generation(body.next, group, 'next');
  if (body.retiring !== undefined) layout.retiring = generation(body.retiring, group, 'retiring');
  if (layout.next && layout.next.generation <= layout.current.generation) {
    throw errors.invalidArgument(
      `next.generation (${layout.next.generation}) must be above current.generation (${layout.current.generation})`,
      { field: 'next.generation' },
    );
  }
  if (layout.retiring && layout.retiring.generation >= layout.current.generation) {
    throw errors.invalidArgument(
      `retiring.generation (${layout.retiring.generation}) must be below current.generation (${layout.current.generation})`,
      { field: 'retiring.generation' },
    );
  }
  if (body.written_by !== undefined) {
    if (typeof body.written_by !== 'string' || body.written_by.length > 200)
      throw errors.invalidArgument('written_by must be a string of at most 200 characters', { field: 'written_by' });
    layout.written_by = body.written_by;
  }
  return layout;
}
