import { describe, expect, it } from 'vitest';
import { type BreakerSettings, type BreakerState, admit, afterAttempt, endpointOf, isEndpointFailure } from './breaker.ts';

const s: BreakerSettings = { failures: 3, cooldownMs: 1_000, maxCooldownMs: 4_000, probeMs: 500, disableAfterMs: 60_000 };

/** Fails `n` attempts at `now`, from `state`. */
function fail(state: BreakerState | null, n: number, now: number): BreakerState | null {
  for (let i = 0; i < n; i++) state = afterAttempt(state, false, now, s);
  return state;
}

describe('endpoint breaker', () => {
  it('stays closed below the failure threshold and forgets failures after a success', () => {
    let state = fail(null, 2, 0);
    expect(admit(state, 0, s)).toEqual({ verdict: 'send' });
    state = afterAttempt(state, true, 10, s);
    expect(state).toBeNull();
    // Two more failures do not open it: the count started again.
    expect(admit(fail(state, 2, 20), 20, s)).toEqual({ verdict: 'send' });
  });

  it('opens after `failures` in a row and defers deliveries until the cool-down ends', () => {
    const state = fail(null, 3, 1_000);
    expect(admit(state, 1_000, s)).toEqual({ verdict: 'defer', until: 2_000 });
    expect(admit(state, 1_999, s)).toEqual({ verdict: 'defer', until: 2_000 });
  });

  it('lets one probe through after the cool-down; the others wait while it is out', () => {
    const open = fail(null, 3, 0)!;
    const probe = admit(open, 1_000, s);
    expect(probe.verdict).toBe('probe');
    const out = (probe as { state: BreakerState }).state;
    expect(admit(out, 1_100, s)).toEqual({ verdict: 'defer', until: 1_500 });
    // A probe that never reported (its worker died) is replaced once its window passes.
    expect(admit(out, 1_500, s).verdict).toBe('probe');
  });

  it('closes on a successful probe', () => {
    const out = (admit(fail(null, 3, 0)!, 1_000, s) as { state: BreakerState }).state;
    const closed = afterAttempt(out, true, 1_200, s);
    expect(closed).toBeNull();
    expect(admit(closed, 1_200, s)).toEqual({ verdict: 'send' });
  });

  it('reopens on a failed probe with a doubled cool-down, capped', () => {
    let state = fail(null, 3, 0)!; // open until 1,000
    const cooldowns: number[] = [];
    let now = 0;
    for (let i = 0; i < 4; i++) {
      now = state.openUntil;
      const probe = admit(state, now, s) as { verdict: string; state: BreakerState };
      expect(probe.verdict).toBe('probe');
      state = afterAttempt(probe.state, false, now, s)!;
      cooldowns.push(state.openUntil - now);
    }
    expect(cooldowns).toEqual([2_000, 4_000, 4_000, 4_000]);
  });

  it('failures of attempts sent before it opened do not push the cool-down further', () => {
    const open = fail(null, 3, 0)!;
    expect(afterAttempt(open, false, 500, s)!.openUntil).toBe(1_000);
  });

  it('disables the endpoint at the first failure after failing for disableAfterMs, until a success', () => {
    let state = fail(null, 3, 0)!;
    let now = 0;
    while (now < 60_000) {
      now = Math.max(state.openUntil, state.probeUntil);
      const probe = admit(state, now, s) as { state: BreakerState };
      state = afterAttempt(probe.state, false, now, s)!;
    }
    expect(state.disabledAt).toBe(now);
    expect(admit(state, now + 10 * 60_000, s)).toEqual({ verdict: 'disabled', since: 0 });
    // Only a success (a redelivery resets the breaker and sends) brings it back.
    expect(afterAttempt(state, true, now + 1, s)).toBeNull();
  });

  it('never disables with disableAfterMs 0', () => {
    const never = { ...s, disableAfterMs: 0 };
    let state: BreakerState | null = null;
    for (let i = 0; i < 100; i++) state = afterAttempt(state, false, i * 3_600_000, never);
    expect(state!.disabledAt).toBe(0);
  });

  it('counts timeouts, connection errors and 5xx against the endpoint, not 4xx or refused addresses', () => {
    expect(isEndpointFailure({ statusCode: null, errorCode: 'ETIMEDOUT' })).toBe(true);
    expect(isEndpointFailure({ statusCode: null, errorCode: 'ECONNREFUSED' })).toBe(true);
    expect(isEndpointFailure({ statusCode: 503, errorCode: null })).toBe(true);
    expect(isEndpointFailure({ statusCode: 404, errorCode: null })).toBe(false);
    expect(isEndpointFailure({ statusCode: 200, errorCode: null })).toBe(false);
    expect(isEndpointFailure({ statusCode: null, errorCode: 'EBLOCKED' })).toBe(false);
  });

  it('keys breakers by origin', () => {
    expect(endpointOf('https://Hooks.Example.com:443/a/b?token=x')).toBe('https://hooks.example.com');
    expect(endpointOf('http://127.0.0.1:8080/x')).toBe('http://127.0.0.1:8080');
  });
});
