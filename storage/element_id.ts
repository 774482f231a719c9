/** Where a stream's element ids are stored: one column of its parts. */
import { DEFAULT_ELEMENT_ID, type Stream } from '../transport/schema_types.js';

/** The stream element-id column, unless a declared tag already holds that name (see elementIdColumn). */
export const ELEMENT_ID_COLUMN = 'element_id';

/**
 * The column holding a stream's element ids: the element-id tag's own column when declared; else
 * `element_id`, or the element-id tag's name when a declared tag already is `element_id`.
 */
export function elementIdColumn(stream: Stream): string {
  const idTag = stream.element_id ?? DEFAULT_ELEMENT_ID;
  const declared = new Set(stream.tag_families.flatMap((f) => f.tags.map((t) => t.name)));
  if (declared.has(idTag)) return idTag;
  return declared.has(ELEMENT_ID_COLUMN) ? idTag : ELEMENT_ID_COLUMN;
}
