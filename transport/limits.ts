/**
 * Every limit of the public API in one place, shared by the servers, the TypeScript client and the
 * CLI, so a limit the CLI checks before sending is the one the server enforces.
 */

/** The most points (or elements) one write may carry; more → `ResourceExhausted`. */
export const MAX_POINTS_PER_BATCH = 10_000;
/** How far ahead of now a written timestamp may be. */
export const MAX_FUTURE_MS = 5 * 60_000;
/** The longest string tag value (or element id), in UTF-16 code units. */
export const MAX_TAG_VALUE_LENGTH = 1024;
/** The most items in one string[] or int[] tag value. */
export const MAX_TAG_ARRAY_LENGTH = 256;

/** Shard count limits of a group. */
export const SHARDS_MIN = 1;
export const SHARDS_MAX = 256;
/** Replica count limits of a group. */
export const REPLICAS_MIN = 1;
export const REPLICAS_MAX = 3;
/** Most resources one `schema apply` may carry. */
export const APPLY_MAX_RESOURCES = 1000;

/** More keys than this in one barrier call → `InvalidArgument` before anything is probed. */
export const MAX_KEYS_PER_BARRIER_CALL = 10_000;
/** At most this many keys are named per laggard; `keys_not_listed` counts the rest. */
export const MAX_KEYS_PER_LAGGARD = 1000;
/** Barrier timeout used when `timeout_ms` is absent or ≤ 0. */
export const DEFAULT_BARRIER_TIMEOUT_MS = 5000;
/** Longest barrier timeout a call may ask for; longer ones are capped. */
export const MAX_BARRIER_TIMEOUT_MS = 300_000;
/** At most this many keys per node status call; more → `InvalidArgument`. */
export const MAX_KEYS_PER_STATUS_CALL = 1000;

/** Default and largest row (or group) limit of a query. */
export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 100_000;
/** Most time buckets one query's range may span (`bucket`). */
export const MAX_BUCKETS = 100_000;
/** Default and largest query timeout (ms). */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
export const MAX_QUERY_TIMEOUT_MS = 120_000;
/** Criteria bounds of a query: nesting depth, conditions, values of one `in`. */
export const MAX_CRITERIA_DEPTH = 16;
export const MAX_CRITERIA_CONDITIONS = 256;
export const MAX_IN_VALUES = 10_000;

/**
 * The deepest nesting of arrays and objects a request body may have. Real bodies are at most a
 * handful deep (a criteria tree adds MAX_CRITERIA_DEPTH levels); anything deeper is refused with
 * `InvalidArgument` before a recursive walk could exhaust the stack.
 */
export const MAX_BODY_NESTING = 64;

/** Most replicas of a JetStream stream or KV bucket (`--stream-replicas`; JetStream's own limit). */
export const MAX_STREAM_REPLICAS = 5;

/** Rows one query holds at once on a shard unless the node says otherwise (`--query-budget-rows`). */
export const DEFAULT_QUERY_BUDGET_ROWS = 2_000_000;
/** The smallest query budget a node accepts: one block's rows (a block is read whole). */
export const MIN_QUERY_BUDGET_ROWS = 512;
