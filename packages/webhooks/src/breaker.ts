import type { SendResult } from './send.ts';

/**
 * The circuit breaker of one webhook endpoint (its URL's origin), as pure functions of the
 * state, the time and the settings: the store keeps the state in Redis, these decide.
 *
 * - **Closed** (no state): every delivery is sent. Each failure (a timeout, a connection
 *   error, a 5xx) counts; `failures` in a row open the breaker.
 * - **Open**: deliveries are deferred (not attempted, their retry schedule untouched) until
 *   the cool-down ends; it doubles at each opening, up to `maxCooldownMs`.
 * - **Half-open**: after the cool-down one delivery goes as a probe (the others wait while it
 *   is out). Its success closes the breaker; its failure opens it again.
 * - **Disabled**: an endpoint failing without a success for `disableAfterMs` (Svix: 5 days) is
 *   disabled at its next failure: its deliveries are dead-lettered without being sent, until a
 *   delivery to it succeeds (a redelivery resets the breaker and sends).
 */
export interface BreakerState {
  /** Failures in a row. */
  failures: number;
  /** When the first of them happened (ms). */
  failingSince: number;
  /** Deferred until then while open (ms; 0 while closed). */
  openUntil: number;
  /** A half-open probe is out until then (ms; 0: none). */
  probeUntil: number;
  /** Times opened since the last success: the cool-down doubles with each. */
  opens: number;
  /** When it was disabled (ms); 0 when it is not. */
  disabledAt: number;
}

export interface BreakerSettings {
  /** Failures in a row that open the breaker (WEBHOOK_BREAKER_FAILURES). */
  failures: number;
  /** The first cool-down (WEBHOOK_BREAKER_COOLDOWN_MS); doubles at each opening. */
  cooldownMs: number;
  maxCooldownMs: number;
  /** How long a probe may be out before another is allowed (the attempt's time limit, with room). */
  probeMs: number;
  /** Failing this long without a success disables the endpoint; 0: never (WEBHOOK_DISABLE_AFTER_S). */
  disableAfterMs: number;
}

export const DEFAULT_MAX_COOLDOWN_MS = 10 * 60_000;

/** The defaults of WEBHOOK_BREAKER_FAILURES, WEBHOOK_BREAKER_COOLDOWN_MS and WEBHOOK_DISABLE_AFTER_S (5 days, as Svix). */
export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = {
  failures: 5,
  cooldownMs: 5_000,
  maxCooldownMs: DEFAULT_MAX_COOLDOWN_MS,
  probeMs: 30_000,
  disableAfterMs: 5 * 86_400_000,
};

export type Admission =
  | { verdict: 'send' }
  /** Send it as the half-open probe; save `state` first (it marks the probe out). */
  | { verdict: 'probe'; state: BreakerState }
  | { verdict: 'defer'; until: number }
  | { verdict: 'disabled'; since: number };

/** Whether a delivery to the endpoint may be sent now. `state` null: closed, never failed. */
export function admit(state: BreakerState | null, now: number, s: Pick<BreakerSettings, 'probeMs'>): Admission {
  if (!state) return { verdict: 'send' };
  if (state.disabledAt > 0) return { verdict: 'disabled', since: state.failingSince };
  if (state.openUntil === 0) return { verdict: 'send' };
  if (now < state.openUntil) return { verdict: 'defer', until: state.openUntil };
  if (now < state.probeUntil) return { verdict: 'defer', until: state.probeUntil };
  return { verdict: 'probe', state: { ...state, probeUntil: now + s.probeMs } };
}

/** Whether an attempt's result counts against the endpoint: no answer at all, or a 5xx. */
export function isEndpointFailure(result: Pick<SendResult, 'statusCode' | 'errorCode'>): boolean {
  if (result.statusCode !== null) return result.statusCode >= 500;
  // A refused address or a bad URL says nothing of the endpoint's health.
  return result.errorCode !== 'EBLOCKED' && result.errorCode !== 'EINVALIDURL';
}

/**
 * The state after an attempt: `ok` true when the endpoint answered well (any answer that is
 * not a failure; null then: closed and forgotten), false for a failure.
 */
export function afterAttempt(state: BreakerState | null, ok: boolean, now: number, s: BreakerSettings): BreakerState | null {
  if (ok) return null;
  const failures = (state?.failures ?? 0) + 1;
  const failingSince = state && state.failures > 0 ? state.failingSince : now;
  const next: BreakerState = {
    failures,
    failingSince,
    openUntil: state?.openUntil ?? 0,
    probeUntil: 0,
    opens: state?.opens ?? 0,
    disabledAt: state?.disabledAt ?? 0,
  };
  if (failures < s.failures) return next;
  if (s.disableAfterMs > 0 && now - failingSince >= s.disableAfterMs) return { ...next, disabledAt: now };
  // Failures of attempts sent before it opened do not push the cool-down further.
  if (next.openUntil > now) return next;
  const cooldown = Math.min(s.cooldownMs * 2 ** next.opens, s.maxCooldownMs);
  return { ...next, opens: next.opens + 1, openUntil: now + cooldown };
}

/** The endpoint's origin (`https://host:port`): what a breaker is kept for. */
export function endpointOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url.slice(0, 200);
  }
}
