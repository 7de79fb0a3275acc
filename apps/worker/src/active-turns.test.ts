import { describe, expect, it } from 'vitest';
import { ActiveTurns } from './active-turns.ts';

describe('ActiveTurns', () => {
  it('aborts a held turn on its cancel', () => {
    const turns = new ActiveTurns();
    const controller = new AbortController();
    turns.add('s', 't', controller);
    expect(turns.cancel('s\nt')).toBe(true);
    expect(controller.signal.reason).toBe('cancelled');
  });

  it('a cancel that arrives before the turn is added aborts it when it is added', () => {
    const turns = new ActiveTurns();
    expect(turns.cancel('s\nt')).toBe(false);
    const controller = new AbortController();
    turns.add('s', 't', controller);
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe('cancelled');
    // Only once, and only that turn.
    const again = new AbortController();
    turns.add('s', 't', again);
    expect(again.signal.aborted).toBe(false);
    const other = new AbortController();
    turns.add('s', 'u', other);
    expect(other.signal.aborted).toBe(false);
  });

  it('forgets early cancels after rememberMs, and keeps at most rememberMax', () => {
    let clock = 0;
    const turns = new ActiveTurns({ rememberMs: 1000, rememberMax: 2, now: () => clock });
    turns.cancel('s\nold');
    clock = 1001;
    const late = new AbortController();
    turns.add('s', 'old', late);
    expect(late.signal.aborted).toBe(false);

    turns.cancel('s\na');
    turns.cancel('s\nb');
    turns.cancel('s\nc'); // pushes out the oldest, a
    const [a, b, c] = [new AbortController(), new AbortController(), new AbortController()];
    turns.add('s', 'a', a);
    turns.add('s', 'b', b);
    turns.add('s', 'c', c);
    expect([a.signal.aborted, b.signal.aborted, c.signal.aborted]).toEqual([false, true, true]);
  });
});
