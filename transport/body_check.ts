/**
 * What every decoded body must satisfy before any handler sees it, checked without recursion:
 * - nesting at most MAX_BODY_NESTING deep: validators, error messages (`JSON.stringify`), msgpack
 *   encoding and structured clone all recurse, and a body 100,000 deep would overflow the stack;
 * - no integer beyond ±2^53: msgpackr decodes those as BigInt, which no check downstream expects
 *   (`JSON.stringify` throws on one) and which no API property can hold anyway.
 * A failure is `InvalidArgument` naming the path (`points[3].fields.value`) in `details.field`.
 */
import { errors, type LockstepError } from './errors.js';
import { MAX_BODY_NESTING } from './limits.js';

// Map keys longer than this are cut in paths: a path goes into a message, a key can be megabytes.
const KEY_SHOWN_MAX = 40;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function isBigIntArray(v: object): boolean {
  return v instanceof BigInt64Array || v instanceof BigUint64Array;
}

// The children of a container, in document order. Decoded bodies are arrays, plain objects and,
// from msgpackr's extensions, Map, Set, Date, Error or RegExp (their enumerable own properties).
function childrenOf(v: object): [string | number, unknown][] {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v instanceof Map) return [...v].map(([k, x]) => [String(k), x]);
  if (v instanceof Set) return [...v].map((x, i) => [i, x]);
  return Object.entries(v);
}

/** The refusal of a body nested deeper than MAX_BODY_NESTING, naming where it went too deep. */
export function tooDeep(field: string) {
  return errors.invalidArgument(`${field}: the body is nested deeper than ${MAX_BODY_NESTING} levels`, {
    field,
    limit: MAX_BODY_NESTING,
  });
}

/** Throws `InvalidArgument` when `root` nests deeper than MAX_BODY_NESTING or holds a BigInt. */
export function checkDecodedBody(root: unknown): void {
  // The common case: one pass with no path bookkeeping. Only containers and BigInts are pushed.
  const values: unknown[] = [root];
  const depths: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v !== 'object' || v === null) {
      if (typeof v === 'bigint') throw findFault(root);
      continue;
    }
    if (ArrayBuffer.isView(v)) {
      if (isBigIntArray(v)) throw findFault(root);
      continue;
    }
    if (depth >= MAX_BODY_NESTING) throw findFault(root);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if ((typeof x === 'object' && x !== null) || typeof x === 'bigint') {
          values.push(x);
          depths.push(depth + 1);
        }
      }
    } else if (v instanceof Map || v instanceof Set) {
      for (const x of v.values()) {
        values.push(x);
        depths.push(depth + 1);
      }
    } else {
      for (const k in v) {
        const x: unknown = (v as Record<string, unknown>)[k];
        if ((typeof x === 'object' && x !== null) || typeof x === 'bigint') {
          values.push(x);
          depths.push(depth + 1);
        }
      }
    }
  }
}

function pathOf(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (key.length <= KEY_SHOWN_MAX && IDENTIFIER.test(key)) return parent === '' ? key : `${parent}.${key}`;
  const shown = key.length > KEY_SHOWN_MAX ? `${key.slice(0, KEY_SHOWN_MAX)}…` : key;
  return `${parent}[${JSON.stringify(shown)}]`;
}

// The first fault in document order, with its path. Runs only once the fast pass found one, so
// its allocations cost nothing on valid bodies; it never descends past the nesting limit.
function findFault(root: unknown): LockstepError {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: root, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    const field = path === '' ? 'body' : path;
    if (typeof v === 'bigint') {
      return errors.invalidArgument(
        `${field}: integer ${v} is beyond ±2^53 (±${2 ** 53}), more than any property of the API takes`,
        { field },
      );
    }
    if (typeof v !== 'object' || v === null) continue;
    if (ArrayBuffer.isView(v)) {
      if (isBigIntArray(v))
        return errors.invalidArgument(`${field}: 64-bit integer arrays are not accepted`, { field });
      continue;
    }
    if (depth >= MAX_BODY_NESTING) return tooDeep(field);
    const children = childrenOf(v);
    for (let i = children.length - 1; i >= 0; i--) {
      const [k, x] = children[i]!;
      stack.push({ v: x, depth: depth + 1, path: pathOf(path, k) });
    }
  }
  return errors.invalidArgument('the body holds a value the API does not take');
}

// msgpack types whose size follows the type byte: [length bytes, what the length counts, extra
// payload bytes]. An ext's extra byte is its type code.
const SIZED: Record<number, readonly [1 | 2 | 4, 'bytes' | 'items' | 'pairs', number]> = {
  0xc4: [1, 'bytes', 0],
  0xc5: [2, 'bytes', 0],
  0xc6: [4, 'bytes', 0],
  0xc7: [1, 'bytes', 1],
  0xc8: [2, 'bytes', 1],
  0xc9: [4, 'bytes', 1],
  0xd9: [1, 'bytes', 0],
  0xda: [2, 'bytes', 0],
  0xdb: [4, 'bytes', 0],
  0xdc: [2, 'items', 0],
  0xdd: [4, 'items', 0],
  0xde: [2, 'pairs', 0],
  0xdf: [4, 'pairs', 0],
};
// Payload bytes of the fixed-size types (a fixext's count includes its type code).
const FIXED: Record<number, number> = {
  0xca: 4,
  0xcb: 8,
  0xcc: 1,
  0xcd: 2,
  0xce: 4,
  0xcf: 8,
  0xd0: 1,
  0xd1: 2,
  0xd2: 4,
  0xd3: 8,
  0xd4: 2,
  0xd5: 3,
  0xd6: 5,
  0xd7: 9,
  0xd8: 17,
};

/**
 * True when msgpack `data` opens more than `limit` nested arrays or maps, read without building
 * anything and without recursion. For the message only: msgpackr's recursive reader overflows the
 * stack on such input, and this tells that apart from other malformed bytes.
 */
export function msgpackNestsDeeper(data: Uint8Array, limit: number): boolean {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const open: number[] = []; // items still to read in each enclosing container
  let left = 1; // items still to read at the current level
  let pos = 0;
  while (pos < data.length) {
    const t = data[pos++]!;
    let children = -1; // items a container opens (-1: not a container)
    let skip = 0;
    if (t >= 0x80 && t <= 0x8f) children = (t & 0x0f) * 2;
    else if (t >= 0x90 && t <= 0x9f) children = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf) skip = t & 0x1f;
    else if (SIZED[t]) {
      const [bytes, unit, extra] = SIZED[t];
      if (pos + bytes > data.length) return false;
      const n = bytes === 1 ? data[pos]! : bytes === 2 ? view.getUint16(pos) : view.getUint32(pos);
      pos += bytes;
      if (unit === 'bytes') skip = n + extra;
      else children = unit === 'items' ? n : n * 2;
    } else if (t === 0xc1)
      return false; // never used: malformed
    else skip = FIXED[t] ?? 0; // fixints, nil, booleans have no payload
    pos += skip;
    left--;
    // An empty container is a level too, as the decoded value has it.
    if (children >= 0 && open.length + 1 > limit) return true;
    if (children > 0) {
      open.push(left);
      left = children;
    }
    while (left === 0 && open.length > 0) left = open.pop()!;
    if (left === 0) return false;
  }
  return false;
}
