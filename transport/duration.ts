/**
 * The one duration grammar: `<n><unit>` with unit ms, s, m, h or d (`500ms`, `1.5s`, `2m`, `7d`).
 * A bare number other than 0 is refused, naming the form: `--timeout 2` is an error, never 2 ms.
 * Schema durations (a group's `ttl` and `segment_interval`) take the same grammar restricted to
 * whole hours or days.
 */
import { errors } from './errors.js';

/** Milliseconds per unit. */
export const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** A duration unit. */
export type DurationUnit = keyof typeof DURATION_UNITS_MS;

/** How a duration may be written where it is parsed. */
export interface DurationForm {
  /** Units allowed (default all). */
  units?: readonly DurationUnit[];
  /** Only whole numbers of the unit (default false). */
  integer?: boolean;
  /** The most digits of the number (default 12). */
  maxDigits?: number;
}

/** A schema duration: `<n>h` or `<n>d`, n a positive integer of at most six digits. */
export const SCHEMA_DURATION: DurationForm = { units: ['h', 'd'], integer: true, maxDigits: 6 };

const GRAMMAR = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Examples of the form, for error messages. */
function examples(form: DurationForm): string {
  const units = form.units ?? (Object.keys(DURATION_UNITS_MS) as DurationUnit[]);
  const sample: Record<DurationUnit, string> = { ms: '500ms', s: '5s', m: '2m', h: '6h', d: '7d' };
  return units.map((u) => sample[u]).join(', ');
}

/**
 * Milliseconds of a duration; `InvalidArgument` naming `what` and the expected form otherwise.
 * `0` (without a unit) is zero; any other number needs a unit.
 */
export function parseDuration(input: unknown, what: string, form: DurationForm = {}): number {
  const text = typeof input === 'string' ? input.trim() : undefined;
  if (text === '0' && !form.integer) return 0;
  const m = text === undefined ? null : GRAMMAR.exec(text);
  const unit = m?.[2] as DurationUnit | undefined;
  const digits = m?.[1]?.replace('.', '').length ?? 0;
  const ok =
    m !== null &&
    unit !== undefined &&
    (form.units ?? [unit]).includes(unit) &&
    !(form.integer && (m[1]!.includes('.') || /^0/.test(m[1]!))) &&
    digits <= (form.maxDigits ?? 12);
  if (!ok) {
    const bare = text !== undefined && /^\d+(\.\d+)?$/.test(text);
    const hint = bare ? ' (a number needs a unit)' : '';
    const shown = typeof input === 'string' ? JSON.stringify(input) : String(input);
    const whole = form.integer ? `a whole number of ${(form.units ?? []).join(' or ')}` : 'a number and a unit';
    throw errors.invalidArgument(
      `${what} ${shown} is not a duration${hint}: expected ${whole}, as in ${examples(form)}`,
      {
        field: what,
      },
    );
  }
  return Number(m![1]) * DURATION_UNITS_MS[unit!];
}
