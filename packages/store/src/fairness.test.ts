import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import type { Redis } from 'ioredis';
import { EndpointBreakers } from './endpoint-breakers.ts';
import { TenantSlots } from './tenant-slots.ts';

/** Tenant slots (leases, parking, wake-ups) and endpoint breakers on a real Redis, time as input. */
const T0 = 1_700_000_000_000;
let redis: Redis;

useTestRedis((client) => (redis = client));

const job = (n: number) => ({ sessionId: `s${n}`, jobId: `j${n}` });

describe('tenant slots', () => {
  const slots = () => new TenantSlots(redis, `t-${randomUUID()}`, 'turns', { max: 2, leaseMs: 1_000 });

  it('gives at most `max` slots to a tenant; other tenants have their own', async () => {
    const s = slots();
    expect(await s.take('a', job(1), T0)).toBe(true);
    expect(await s.take('a', job(2), T0)).toBe(true);
    expect(await s.take('a', job(3), T0)).toBe(false);
    expect(await s.take('b', job(4), T0)).toBe(true);
  });

  it('a job that holds a slot takes it again (its resend, or a takeover) without using a second', async () => {
    const s = slots();
    expect(await s.take('a', job(1), T0)).toBe(true);
    expect(await s.take('a', job(1), T0 + 10)).toBe(true);
    expect(await s.held('a', T0 + 10)).toBe(1);
  });

  it("a dead worker's slot frees itself when its lease lapses; renewing keeps it", async () => {
    const s = slots();
    await s.take('a', job(1), T0);
    await s.take('a', job(2), T0);
    // j2's worker renews; j1's died.
    expect(await s.renew('a', 'j2', T0 + 900)).toBe(true);
    expect(await s.take('a', job(3), T0 + 999)).toBe(false);
    expect(await s.take('a', job(3), T0 + 1_000)).toBe(true);
    expect(await s.take('a', job(4), T0 + 1_001)).toBe(false);
  });

  it('freeing a slot wakes the oldest parked job, once', async () => {
    const s = slots();
    await s.take('a', job(1), T0);
    await s.take('a', job(2), T0);
    expect(await s.take('a', job(3), T0 + 1)).toBe(false);
    expect(await s.take('a', job(4), T0 + 2)).toBe(false);
    // j3 parks again later: it keeps its place.
    expect(await s.take('a', job(3), T0 + 3)).toBe(false);
    expect(await s.release('a', 'j1')).toEqual(job(3));
    expect(await s.take('a', job(3), T0 + 4)).toBe(true);
    expect(await s.release('a', 'j2')).toEqual(job(4));
    expect(await s.release('a', 'j3')).toBeNull();
  });
});

describe('endpoint breakers', () => {
  const settings = { failures: 2, cooldownMs: 100, maxCooldownMs: 1_000, probeMs: 50, disableAfterMs: 10_000 };
  const E = 'http://127.0.0.1:9';

  it('opens after the failures in a row, shared by every worker; one probe at a time; a success clears it', async () => {
    const prefix = `t-${randomUUID()}`;
    const [w1, w2] = [new EndpointBreakers(redis, prefix, settings), new EndpointBreakers(redis, prefix, settings)];
    await w1.record(E, false, T0);
    await w2.record(E, false, T0);
    expect(await w1.admit(E, T0 + 50)).toEqual({ verdict: 'defer', until: T0 + 100 });
    expect((await w1.admit(E, T0 + 100)).verdict).toBe('probe');
    expect(await w2.admit(E, T0 + 101)).toEqual({ verdict: 'defer', until: T0 + 150 });
    await w1.record(E, true, T0 + 120);
    expect(await w2.admit(E, T0 + 121)).toEqual({ verdict: 'send' });
    expect(await redis.exists(`${prefix}:endpoint:{${E}}`)).toBe(0);
  });

  it('a disabled endpoint stays disabled (no expiry) until reset', async () => {
    const prefix = `t-${randomUUID()}`;
    const b = new EndpointBreakers(redis, prefix, settings);
    await b.record(E, false, T0);
    await b.record(E, false, T0 + 5_000);
    await b.record(E, false, T0 + 10_000);
    expect(await b.admit(E, T0 + 20_000)).toEqual({ verdict: 'disabled', since: T0 });
    expect(await redis.pttl(`${prefix}:endpoint:{${E}}`)).toBe(-1);
    await new EndpointBreakers(redis, prefix).reset(E);
    expect(await b.admit(E, T0 + 20_001)).toEqual({ verdict: 'send' });
  });
});
