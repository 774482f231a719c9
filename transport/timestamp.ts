/**
 * Timestamps on the wire (DESIGN §7): integer epoch milliseconds, or an RFC 3339 string with a zone.
 * Writes, queries and the CLI parse them with this one function.
 */
import { errors, type LockstepError } from './errors.js';

function bad(where: string, message: string): LockstepError {
  return errors.invalidArgument(`${where}: ${message}`, { field: where });
}

/** A short description of a bad value for an error message (never the whole of a long string). */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil); Date.UTC
// would map years 0–99 to 1900–1999, and Date.parse silently rolls over 2024-02-30.
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Epoch ms from an integer (epoch ms) or an RFC 3339 string with a zone; `InvalidArgument` naming `where` otherwise. */
export function parseTimestamp(v: unknown, where: string): number {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    throw bad(where, `expected integer epoch milliseconds, got ${describeValue(v)}`);
  }
  if (typeof v !== 'string')
    throw bad(where, `expected epoch milliseconds or an RFC 3339 string, got ${describeValue(v)}`);
  const m = RFC3339.exec(v);
  if (m === null) {
    throw bad(
      where,
      `${describeValue(v)} is not an RFC 3339 time with a zone (example: 2024-05-01T12:00:00.000Z or …+02:00)`,
    );
  }
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const s = Number(m[6]);
  const oh = m[8] === undefined ? 0 : Number(m[9]);
  const om = m[8] === undefined ? 0 : Number(m[10]);
  // Leap seconds (:60) are refused: epoch milliseconds cannot represent them.
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59 || oh > 23 || om > 59) {
    throw bad(where, `${describeValue(v)} is not a valid date and time`);
  }
  // Digits past milliseconds are truncated: storage keeps millisecond precision.
  const frac = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const offsetMs = (m[8] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  return daysFromCivil(y, mo, d) * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + frac - offsetMs;
}
