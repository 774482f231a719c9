/** A merged query answer as a reply holds it: raw rows as row objects (tests compare answers by value). */
import type { MergedResult } from '../../storage/query/merge.js';
import { rowObjects } from '../../storage/query/row_answer.js';

export const mergedAnswer = (m: MergedResult) => ('rows' in m ? { rows: rowObjects(m.rows), has_more: m.has_more } : m);
