import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE, parseRetryAfter, parseSchedule, retryDelay } from './schedule.ts';

describe('parseSchedule', () => {
  it('parses the default schedule into milliseconds', () => {
    expect(parseSchedule(DEFAULT_SCHEDULE)).toEqual([
      0,
      5_000,
      5 * 60_000,
      30 * 60_000,
      2 * 3_600_000,
      5 * 3_600_000,
      10 * 3_600_000,
      10 * 3_600_000,
    ]);
  });

  it('accepts every unit, bare milliseconds, decimals and spaces', () => {
    expect(parseSchedule('250, 1.5s ,100ms,2m,1h')).toEqual([250, 1_500, 100, 120_000, 3_600_000]);
    expect(parseSchedule('0')).toEqual([0]);
  });

  it.each([
    ['5x', /"5x"/],
    ['1s,,2s', /""/],
    ['1s,-5s', /"-5s"/],
    ['1 s', /"1 s"/],
    ['s', /"s"/],
    ['1S', /"1S"/],
  ])('throws naming the bad item in %j', (text, item) => {
    expect(() => parseSchedule(text)).toThrow(item);
  });

  it('throws for an empty schedule', () => {
    expect(() => parseSchedule('')).toThrow(/empty/);
    expect(() => parseSchedule('  ')).toThrow(/empty/);
  });
});

describe('retryDelay', () => {
  const schedule = parseSchedule('0,5s,5m,30m');
  const exact = { random: () => 0.5 };

  it('is schedule[attemptsMade] with random 0.5, null once exhausted', () => {
    expect(retryDelay(schedule, 1, exact)).toBe(5_000);
    expect(retryDelay(schedule, 2, exact)).toBe(300_000);
    expect(retryDelay(schedule, 3, exact)).toBe(1_800_000);
    expect(retryDelay(schedule, 4, exact)).toBeNull();
    expect(retryDelay(schedule, 40, exact)).toBeNull();
  });

  it('applies the default ±10% jitter at the ends of the random range', () => {
    expect(retryDelay(schedule, 1, { random: () => 0 })).toBe(4_500);
    expect(retryDelay(schedule, 1, { random: () => 1 })).toBe(5_500);
    expect(retryDelay(schedule, 2, { random: () => 0.25 })).toBe(285_000);
  });

  it('applies a custom jitter, including none', () => {
    expect(retryDelay(schedule, 2, { jitter: 0.5, random: () => 0 })).toBe(150_000);
    expect(retryDelay(schedule, 2, { jitter: 0.5, random: () => 1 })).toBe(450_000);
    expect(retryDelay(schedule, 2, { jitter: 0, random: () => 0 })).toBe(300_000);
    expect(retryDelay(schedule, 2, { jitter: 1, random: () => 0 })).toBe(0);
  });

  it('keeps a 0 delay at 0 and stays within bounds with the real random', () => {
    expect(retryDelay([0, 0], 1, { random: () => 1 })).toBe(0);
    for (let i = 0; i < 100; i++) {
      const delay = retryDelay(schedule, 1)!;
      expect(delay).toBeGreaterThanOrEqual(4_500);
      expect(delay).toBeLessThanOrEqual(5_500);
    }
  });

  it('refuses nonsense arguments', () => {
    expect(() => retryDelay(schedule, -1)).toThrow(RangeError);
    expect(() => retryDelay(schedule, 1.5)).toThrow(RangeError);
    expect(() => retryDelay(schedule, 1, { jitter: 2 })).toThrow(RangeError);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP-date relative to now, clamping the past to 0', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Wednesday, 01-Jan-25 00:00:10 GMT', now)).toBe(10_000);
  });

  it('uses the real clock by default', () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const ms = parseRetryAfter(inAMinute)!;
    expect(ms).toBeGreaterThan(55_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });

  it.each([undefined, '', 'soon', '-5', '1.5', '2025-01-01T00:00:10Z', 'hello 2025', 'Wed, 01 Jan 2025 00:01:30'])(
    'is null for %j',
    (value) => {
      expect(parseRetryAfter(value, now)).toBeNull();
    },
  );
});
