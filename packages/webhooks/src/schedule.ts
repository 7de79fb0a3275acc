/**
 * Retry schedules: a delay before each attempt, the first one usually "at once".
 * The default gives up after 8 attempts spread over about 28 hours.
 */
export const DEFAULT_SCHEDULE = '0,5s,5m,30m,2h,5h,10h,10h';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const ITEM = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/**
 * Parses `'0,5s,5m,2h'` into milliseconds. Each comma-separated item is a number with an
 * optional unit `ms|s|m|h` (a bare number is milliseconds). Throws an Error naming the
 * first bad item, or when the schedule is empty.
 */
export function parseSchedule(text: string): number[] {
  if (text.trim() === '') throw new Error('retry schedule is empty');
  return text.split(',').map((raw) => {
    const item = raw.trim();
    const match = ITEM.exec(item);
    if (!match) {
      throw new Error(`retry schedule item ${JSON.stringify(item)} is not a number with an optional unit ms|s|m|h`);
    }
    const unit = (match[2] ?? 'ms') as keyof typeof UNIT_MS;
    return Math.round(Number(match[1]) * UNIT_MS[unit]);
  });
}

/**
 * The delay before the next attempt once `attemptsMade` attempts have been made, i.e.
 * `schedule[attemptsMade]`, scaled by a random factor in `[1 - jitter, 1 + jitter]`
 * (`random() = 0` gives the low end, `1` the high end, `0.5` the exact delay), or null
 * when the schedule is exhausted. Never negative; a 0 delay stays 0.
 */
export function retryDelay(
  schedule: number[],
  attemptsMade: number,
  opts: { jitter?: number; random?: () => number } = {},
): number | null {
  if (!Number.isInteger(attemptsMade) || attemptsMade < 0) {
    throw new RangeError(`attemptsMade must be a non-negative integer, got ${attemptsMade}`);
  }
  const jitter = opts.jitter ?? 0.1;
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`jitter must be within [0, 1], got ${jitter}`);
  const delay = schedule[attemptsMade];
  if (delay === undefined) return null;
  const random = opts.random ?? Math.random;
  const factor = 1 + jitter * (2 * random() - 1);
  return Math.max(0, Math.round(delay * factor));
}

/**
 * A `Retry-After` header value in milliseconds from now: delta-seconds (`"120"`) or an
 * HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`; past dates give 0). Null when absent or
 * not in either form.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!isHttpDate(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
/** RFC 9110 IMF-fixdate and the obsolete RFC 850 form, both in GMT. */
const HTTP_DATE = new RegExp(
  `^(?:${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT|${LONG_DAY}, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT)$`,
);

/** `Date.parse` accepts almost anything (and local times), so the form is checked first. */
function isHttpDate(text: string): boolean {
  return HTTP_DATE.test(text);
}
