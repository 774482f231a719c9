/**
 * The `--where` grammar of `lockstep query` (`tag=value`, `tag!=value`, `tag in (a,b)`,
 * `tag not in (a,b)`, and field comparisons `field > 90`, `>=`, `<`, `<=`) and `--where-json` criteria trees, checked for shape before anything is sent
 * (the server checks them again against the resource's tags).
 */
import { errors } from '../../transport/errors.js';
import type { Criteria, FieldCondition, TagCondition } from '../../transport/query_types.js';
import { isValidName } from '../../transport/schema_types.js';

// A cursor over one `--where` expression; errors quote the expression and a 1-based column.
class Scanner {
  pos = 0;
  constructor(readonly src: string) {}

  fail(what: string): never {
    throw errors.invalidArgument(`--where ${JSON.stringify(this.src)}: ${what} at column ${this.pos + 1}`);
  }

  ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  done(): boolean {
    return this.pos >= this.src.length;
  }

  match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  eat(s: string): boolean {
    if (!this.src.startsWith(s, this.pos)) return false;
    this.pos += s.length;
    return true;
  }

  /** A keyword (any case) followed by a space, `(` or the end. */
  keyword(word: string): boolean {
    return this.match(new RegExp(`${word}(?=[\\s(]|$)`, 'iy')) !== undefined;
  }

  value(): string | number {
    this.ws();
    const q = this.src[this.pos];
    if (q === '"' || q === "'") {
      this.pos++;
      let out = '';
      for (;;) {
        if (this.done()) this.fail(`unterminated ${q}-quoted value`);
        const c = this.src[this.pos++]!;
        if (c === q) return out;
        if (c === '\\') {
          if (this.done()) this.fail('a \\ at the end of a quoted value');
          out += this.src[this.pos++]!;
        } else {
          out += c;
        }
      }
    }
    const bare = this.match(/[^\s,()'"]+/y);
    if (bare === undefined)
      this.fail('expected a value (quote it if it is empty or holds spaces, commas, parentheses or quotes)');
    return bareValue(bare, this);
  }
}

// Bare digits are an integer; a leading zero is refused rather than guessed (quote it for a string).
function bareValue(s: string, sc: Scanner): string | number {
  if (!/^-?\d+$/.test(s)) return s;
  if (/^-?0\d/.test(s)) sc.fail(`${s} has a leading zero: write "${s}" for a string or drop the zero for an integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) sc.fail(`${s} is not a safe integer: write "${s}" for a string`);
  return n === 0 ? 0 : n; // never -0
}

const COMPARISONS: [string, FieldCondition['op']][] = [
  ['>=', 'ge'],
  ['<=', 'le'],
  ['>', 'gt'],
  ['<', 'lt'],
];

/**
 * Parses one `--where` expression: `tag=value`, `tag!=value`, `tag in (a,b)`, `tag not in (a,b)`,
 * or a field compared with a number: `field > 90` (also `>=`, `<`, `<=`). A bare value of digits is
 * an integer, any other bare value a string; a quoted one is a string. (Equality on a field:
 * `--where-json '{"field": "value", "op": "eq", "value": 1.5}'`.)
 */
export function parseWhere(expr: string): TagCondition | FieldCondition {
  const sc: Scanner = new Scanner(expr);
  sc.ws();
  const start = sc.pos;
  const tag = sc.match(/[A-Za-z0-9_]+/y);
  if (tag === undefined) sc.fail('expected a tag name');
  if (!isValidName(tag)) {
    sc.pos = start;
    sc.fail(`${JSON.stringify(tag)} is not a valid tag name`);
  }
  sc.ws();
  const cmp = COMPARISONS.find(([sym]) => sc.eat(sym));
  if (cmp) {
    sc.ws();
    const num = sc.match(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y);
    if (num === undefined) sc.fail(`expected a number after ${cmp[0]}`);
    sc.ws();
    if (!sc.done()) sc.fail(`unexpected ${JSON.stringify(sc.src.slice(sc.pos))}`);
    return { field: tag, op: cmp[1], value: Number(num) };
  }
  let op: TagCondition['op'];
  if (sc.eat('!=')) op = 'ne';
  else if (sc.eat('=')) op = 'eq';
  else if (sc.keyword('in')) op = 'in';
  else if (sc.keyword('not')) {
    sc.ws();
    if (!sc.keyword('in')) sc.fail('expected "in" after "not"');
    op = 'not_in';
  } else sc.fail('expected =, !=, in, not in (a tag) or >, >=, <, <= (a field) after the name');
  let value: TagCondition['value'];
  if (op === 'eq' || op === 'ne') {
    value = sc.value();
  } else {
    sc.ws();
    if (!sc.eat('(')) sc.fail('expected ( after in');
    const list: (string | number)[] = [];
    for (;;) {
      list.push(sc.value());
      sc.ws();
      if (sc.eat(')')) break;
      if (!sc.eat(',')) sc.fail('expected , or ) in the list');
    }
    const kinds = new Set(list.map((v) => typeof v));
    if (kinds.size > 1) sc.fail('the list mixes integers and strings (quote the integers to make them strings)');
    value = list;
  }
  sc.ws();
  if (!sc.done()) sc.fail(`unexpected ${JSON.stringify(sc.src.slice(sc.pos))}`);
  return { tag, op, value };
}

const OPS: readonly string[] = ['eq', 'ne', 'in', 'not_in'];

function isScalar(v: unknown): v is string | number {
  return typeof v === 'string' || Number.isSafeInteger(v);
}

// Checks the shape of a criteria tree so a typo fails here, naming where in the tree it is.
function checkCriteria(c: unknown, path: string): Criteria {
  const bad = (m: string): never => {
    throw errors.invalidArgument(`--where-json: ${path || 'the top level'}: ${m}`);
  };
  if (c === null || typeof c !== 'object' || Array.isArray(c))
    bad('expected an object (a condition, {"and": [...]} or {"or": [...]})');
  const o = c as Record<string, unknown>;
  const keys = Object.keys(o);
  if ('field' in o) {
    const extraKeys = keys.filter((k) => k !== 'field' && k !== 'op' && k !== 'value');
    if (extraKeys.length > 0)
      bad(`unknown key ${JSON.stringify(extraKeys[0])} (a field condition has field, op and value)`);
    if (!isValidName(o.field)) bad(`field ${JSON.stringify(o.field)} is not a valid field name`);
    const ops = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];
    if (typeof o.op !== 'string' || !ops.includes(o.op))
      bad(`op of a field condition must be one of ${ops.join(', ')}, got ${JSON.stringify(o.op)}`);
    if (typeof o.value !== 'number' || !Number.isFinite(o.value)) bad('value of a field condition must be a number');
    return { field: o.field as string, op: o.op as FieldCondition['op'], value: o.value as number };
  }
  if ('and' in o || 'or' in o) {
    const k = 'and' in o ? 'and' : 'or';
    if (keys.length !== 1) bad(`an ${k} node has only the key ${JSON.stringify(k)}, got ${keys.join(', ')}`);
    const list = o[k];
    if (!Array.isArray(list) || list.length === 0) bad(`${k} must be a non-empty array`);
    const items = (list as unknown[]).map((x, i) => checkCriteria(x, `${path ? `${path}.` : ''}${k}[${i}]`));
    return k === 'and' ? { and: items } : { or: items };
  }
  const extra = keys.filter((k) => k !== 'tag' && k !== 'op' && k !== 'value');
  if (extra.length > 0) bad(`unknown key ${JSON.stringify(extra[0])} (a condition has tag, op and value)`);
  if (!isValidName(o.tag)) bad(`tag ${JSON.stringify(o.tag)} is not a valid tag name`);
  if (typeof o.op !== 'string' || !OPS.includes(o.op))
    bad(`op must be one of ${OPS.join(', ')}, got ${JSON.stringify(o.op)}`);
  const op = o.op as TagCondition['op'];
  if (op === 'eq' || op === 'ne') {
    if (!isScalar(o.value)) bad(`value of ${op} must be a string or a safe integer`);
  } else if (!Array.isArray(o.value) || o.value.length === 0 || !o.value.every(isScalar)) {
    bad(`value of ${op} must be a non-empty array of strings or safe integers`);
  }
  return { tag: o.tag as string, op, value: o.value as TagCondition['value'] };
}

/** Parses `--where-json`: a criteria tree, checked for shape. */
export function parseWhereJson(json: string): Criteria {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw errors.invalidArgument(`--where-json is not valid JSON: ${(err as Error).message}`);
  }
  return checkCriteria(v, '');
}

/** The criteria of every `--where` and `--where-json`, ANDed; undefined when there is none. */
export function buildCriteria(where: readonly string[] = [], whereJson?: string): Criteria | undefined {
  const all: Criteria[] = where.map(parseWhere);
  if (whereJson !== undefined) all.push(parseWhereJson(whereJson));
  if (all.length === 0) return undefined;
  return all.length === 1 ? all[0] : { and: all };
}
