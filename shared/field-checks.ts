// Range checks of single fields, for anything read from outside the process — a worker's message
// (coordinator/message-checks.ts), a checkpoint's state.json (coordinator/resume-checks.ts). Each
// returns the value when it is what is expected, and otherwise throws the error `refuse` makes of
// a message naming the field, what it is and what it must be (issue 14).

/** A value as an error shows it: numbers as they are, strings by length, anything else by type. */
export function shown(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : value === undefined ? 'missing' : `of type ${typeof value}`;
}

/** The largest count a field may hold when it has no bound of its own. */
export const ANY_COUNT = Number.MAX_SAFE_INTEGER;

export interface FieldChecks {
  /** `value` as a finite number >= `min` (and < `below` when given). */
  finiteAtLeast(value: unknown, min: number, field: string, below?: number): number;
  /** `value` as a finite number > 0. */
  positiveFinite(value: unknown, field: string): number;
  /** `value` as an integer in [min, max] (max ANY_COUNT: no upper bound). */
  integerIn(value: unknown, min: number, max: number, field: string): number;
  /** `value` as a string of at most `max` characters. */
  boundedString(value: unknown, max: number, field: string): string;
  /** The error for `field` being `value` when it must be `expected`. */
  invalid(field: string, value: unknown, expected: string): Error;
}

export function fieldChecks(refuse: (message: string) => Error): FieldChecks {
  const invalid = (field: string, value: unknown, expected: string) => refuse(`${field} is ${shown(value)}; it must be ${expected}`);
  return {
    invalid,
    finiteAtLeast(value, min, field, below = Infinity) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value >= below) {
        throw invalid(field, value, `a finite number >= ${min}${below === Infinity ? '' : ` and < ${below}`}`);
      }
      return value;
    },
    positiveFinite(value, field) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(field, value, 'a finite number > 0');
      return value;
    },
    integerIn(value, min, max, field) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        const unbounded = typeof value === 'number' && value > max ? `an integer >= ${min} and at most 2^53 - 1` : `an integer >= ${min}`;
        throw invalid(field, value, max === ANY_COUNT ? unbounded : `an integer from ${min} to ${max}`);
      }
      return value;
    },
    boundedString(value, max, field) {
      if (typeof value !== 'string' || value.length > max) throw invalid(field, value, `a string of at most ${max} characters`);
      return value;
    },
  };
}
