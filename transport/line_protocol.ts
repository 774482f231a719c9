/**
 * InfluxDB line protocol (what `lockstep.api.write.line.<group>` takes), parsed into points:
 *
 *   <measurement>[,<tag>=<value>...] <field>=<value>[,<field>=<value>...] [<timestamp>]
 *
 * Measurement names escape `,` and space with `\`; tag keys, tag values and field keys escape `,`,
 * `=` and space. Field values: floats (`1.5`, `-2`, `1e3`), integers (`3i`), unsigned (`3u`),
 * strings (`"…"`, escaping `"` and `\`) and booleans (`t`, `true`, `F`, …). Timestamps are integers
 * in the request's precision (ns by default); a line without one takes the server's time. Blank
 * lines and `#` comments are skipped. Every error is `InvalidArgument` naming the line (1-based).
 */
import { errors } from './errors.js';

/** Request header naming the timestamps' precision (ns, us, ms, s; default ns). */
export const PRECISION_HEADER = 'Precision';
/** Request header holding the batch id that makes a retried line write idempotent. */
export const BATCH_ID_HEADER = 'Batch-Id';

/** A field value as the line carried it. */
export type LineFieldValue = number | string | boolean;

/** One parsed line. */
export interface LinePoint {
  /** 1-based line number in the request. */
  line: number;
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, LineFieldValue>;
  /** Epoch ms (floored from the precision given), or undefined without a timestamp. */
  ts: number | undefined;
}

/** Timestamp precisions and how many of each make a millisecond (as BigInt divisors, or a multiplier). */
export const LINE_PRECISIONS = ['ns', 'us', 'ms', 's'] as const;
export type LinePrecision = (typeof LINE_PRECISIONS)[number];

/** The precision named by a header value (`ns` when absent); `InvalidArgument` otherwise. */
export function checkPrecision(v: string | undefined): LinePrecision {
  if (v === undefined || v === '') return 'ns';
  const p = v.trim().toLowerCase();
  if (!(LINE_PRECISIONS as readonly string[]).includes(p))
    throw errors.invalidArgument(`precision must be one of ${LINE_PRECISIONS.join(', ')}, got ${JSON.stringify(v)}`, {
      field: 'precision',
    });
  return p as LinePrecision;
}

const fail = (line: number, msg: string): never => {
  throw errors.invalidArgument(`line ${line}: ${msg}`, { line });
};

/** Reads up to an unescaped character of `stops` (or the end); returns the text unescaped and where it stopped. */
function readToken(s: string, at: number, stops: string, escapable: string): { text: string; end: number } {
  let out = '';
  let i = at;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length && escapable.includes(s[i + 1]!)) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    if (stops.includes(c)) break;
    out += c;
    i++;
  }
  return { text: out, end: i };
}

function fieldValue(raw: string, line: number, key: string): LineFieldValue {
  if (/^[tT](rue)?$|^TRUE$|^True$/.test(raw)) return true;
  if (/^[fF](alse)?$|^FALSE$|^False$/.test(raw)) return false;
  const int = /^(-?\d+)([iu])$/.exec(raw);
  if (int) {
    const n = Number(int[1]);
    if (!Number.isSafeInteger(n)) fail(line, `field ${key}: integer ${raw} is beyond ±2^53`);
    if (int[2] === 'u' && n < 0) fail(line, `field ${key}: unsigned ${raw} is negative`);
    return n;
  }
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) return Number(raw);
  return fail(line, `field ${key}: ${JSON.stringify(raw)} is not a number, an integer (3i), a string or a boolean`);
}

function timestamp(raw: string, precision: LinePrecision, line: number): number {
  if (!/^-?\d{1,19}$/.test(raw)) fail(line, `timestamp ${JSON.stringify(raw)} is not an integer`);
  const t = BigInt(raw);
  const div = { ns: 1_000_000n, us: 1000n, ms: 1n, s: 1n }[precision];
  const mul = precision === 's' ? 1000n : 1n;
  // Floor division, also for times before 1970.
  let q = (t * mul) / div;
  if ((t * mul) % div !== 0n && t < 0n) q -= 1n;
  const ms = Number(q);
  if (!Number.isSafeInteger(ms)) fail(line, `timestamp ${raw} is out of range`);
  return ms;
}

/** Parses one non-blank, non-comment line. */
export function parseLine(s: string, line: number, precision: LinePrecision): LinePoint {
  const m = readToken(s, 0, ', ', ', \\');
  if (m.text === '') fail(line, 'no measurement name');
  let i = m.end;
  const tags: Record<string, string> = {};
  while (s[i] === ',') {
    const k = readToken(s, i + 1, '=, ', ',= \\');
    if (k.text === '' || s[k.end] !== '=') fail(line, `a tag needs key=value (at column ${i + 2})`);
    const v = readToken(s, k.end + 1, ', ', ',= \\');
    if (v.text === '') fail(line, `tag ${k.text} has an empty value`);
    if (Object.hasOwn(tags, k.text)) fail(line, `tag ${k.text} is given twice`);
    tags[k.text] = v.text;
    i = v.end;
  }
  if (s[i] !== ' ') fail(line, 'expected a space and the fields after the measurement and tags');
  while (s[i] === ' ') i++;
  const fields: Record<string, LineFieldValue> = {};
  for (;;) {
    const k = readToken(s, i, '=, ', ',= \\');
    if (k.text === '' || s[k.end] !== '=') fail(line, `a field needs key=value (at column ${i + 1})`);
    let j = k.end + 1;
    let value: LineFieldValue;
    if (s[j] === '"') {
      let out = '';
      j++;
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && (s[j + 1] === '"' || s[j + 1] === '\\')) j++;
        out += s[j++];
      }
      if (s[j] !== '"') fail(line, `field ${k.text}: unterminated string`);
      j++;
      value = out;
    } else {
      const v = readToken(s, j, ', ', '');
      value = fieldValue(v.text, line, k.text);
      j = v.end;
    }
    if (Object.hasOwn(fields, k.text)) fail(line, `field ${k.text} is given twice`);
    fields[k.text] = value;
    i = j;
    if (s[i] !== ',') break;
    i++;
  }
  while (s[i] === ' ') i++;
  let ts: number | undefined;
  if (i < s.length) {
    const rest = s.slice(i).trimEnd();
    ts = timestamp(rest, precision, line);
  }
  return { line, measurement: m.text, tags, fields, ts };
}

/** Parses every line of `text` (LF or CRLF); blank lines and comments are skipped. */
export function parseLineProtocol(text: string, precision: LinePrecision = 'ns'): LinePoint[] {
  const out: LinePoint[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const s = lines[n]!.replace(/\r$/, '');
    const t = s.trimStart();
    if (t === '' || t.startsWith('#')) continue;
    out.push(parseLine(t, n + 1, precision));
  }
  return out;
}
