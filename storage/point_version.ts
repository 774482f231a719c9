/**
 * The version of a stored row (DESIGN §9, "versioned points"): which of two rows with the same key
 * (series and ts, plus the element id for a stream) is the newer write. Memtables, flushes, merges
 * and queries keep the row of the highest version; among equal versions, the later arrival (the
 * newer part, the later record), which is how rows were chosen before versions existed.
 *
 * A version is the WAL sequence (the JetStream stream sequence, one order over every subject) of
 * the record that first stored the row in the layout generation serving reads when it was written:
 * - a row written to the current generation: the sequence of its own record (the data node knows
 *   it when it applies the record, so nothing extra travels);
 * - the same row's twin in another generation (a dual write during a migration, or a write to a
 *   retiring generation): the liaison appends it after the current one was acknowledged and sends
 *   the current record's sequence along, per row, in the column `_v`;
 * - a backfilled row: the version stored with it, copied as it is.
 * A write acknowledged before another one began has a lower sequence, so "newest version wins"
 * never lets a backfilled old value overwrite one written during the copy, and both halves of a
 * dual write carry the same version. Clocks play no part.
 *
 * The version is kept as an int column named `_v` in memtables, blocks and WAL records: no schema
 * can declare that name (names start with a letter), and a part written before versions existed
 * has no such column, so its rows read as version 0 and lose to every versioned write.
 */

/** The column holding each row's version. */
export const VERSION_COLUMN = '_v';

/** The version of rows stored before versions existed. */
export const NO_VERSION = 0;
