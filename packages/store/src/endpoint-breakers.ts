import { type Admission, type BreakerSettings, type BreakerState, DEFAULT_BREAKER_SETTINGS, admit, afterAttempt } from '@baton/webhooks';
import type { RedisClient } from './connections.ts';
import { callScript, defineScripts } from './scripts.ts';

/** A failing endpoint's record outlives its last failure by this much (then it is closed again). */
const FAILING_TTL_MS = 7 * 24 * 3600_000;

/**
 * Each webhook endpoint's circuit breaker (keyed by the URL's origin), kept in Redis so every
 * worker shares it: one small string per endpoint that failed lately, none for healthy ones.
 * The decisions are `admit`/`afterAttempt` of @baton/webhooks; writes are compare-and-set.
 */
export class EndpointBreakers {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** The API only resets breakers: it needs none. */
    private readonly settings: BreakerSettings = DEFAULT_BREAKER_SETTINGS,
  ) {
    defineScripts(redis);
  }

  private key(endpoint: string): string {
    return `${this.prefix}:endpoint:{${endpoint}}`;
  }

  /** Whether a delivery may be sent to the endpoint now (a half-open probe is marked out). */
  async admit(endpoint: string, now = Date.now()): Promise<Admission> {
    for (let tries = 0; ; tries++) {
      const raw = (await this.redis.get(this.key(endpoint))) ?? '';
      const admission = admit(parse(raw), now, this.settings);
      if (admission.verdict !== 'probe') return admission;
      if (await this.save(endpoint, raw, admission.state)) return admission;
      // Another worker changed it meanwhile (took the probe, most likely): decide again.
      if (tries >= 5) return { verdict: 'defer', until: now + this.settings.probeMs };
    }
  }

  /** Records an attempt's outcome: `ok` false for a timeout, a connection error or a 5xx. */
  async record(endpoint: string, ok: boolean, now = Date.now()): Promise<BreakerState | null> {
    for (let tries = 0; tries < 10; tries++) {
      const raw = (await this.redis.get(this.key(endpoint))) ?? '';
      if (ok && raw === '') return null;
      const next = afterAttempt(parse(raw), ok, now, this.settings);
      if (await this.save(endpoint, raw, next)) return next;
    }
    return null;
  }

  /** Closes the endpoint's breaker (a redelivery: the operator asks for it to be tried again). */
  async reset(endpoint: string): Promise<void> {
    await this.redis.del(this.key(endpoint));
  }

  async state(endpoint: string): Promise<BreakerState | null> {
    return parse((await this.redis.get(this.key(endpoint))) ?? '');
  }

  private async save(endpoint: string, expected: string, next: BreakerState | null): Promise<boolean> {
    // A disabled endpoint stays so until a success or a redelivery: no expiry.
    const ttl = next === null || next.disabledAt > 0 ? 0 : FAILING_TTL_MS;
    const saved = await callScript(this.redis, 'breakerSave', [this.key(endpoint)], [expected, next ? JSON.stringify(next) : '', ttl]);
    return saved === 1;
  }
}

function parse(raw: string): BreakerState | null {
  return raw ? (JSON.parse(raw) as BreakerState) : null;
}
