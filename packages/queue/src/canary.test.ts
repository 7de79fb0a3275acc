import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { expect, inject, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { queuePrefix } from '@baton/core';
import { waitUntil } from '@baton/devtools';
import { CanaryQueue, recordCanary } from './canary.ts';
import { CANARY_QUEUE } from './catalog.ts';

let redis: Redis;
useTestRedis((client) => (redis = client));

it('is ready only while a worker answers canaries, and keeps one canary waiting at most', async () => {
  const prefix = `t-${randomUUID()}`;
  const canary = new CanaryQueue(redis, prefix, { maxAgeMs: 400, intervalMs: 10, waitMs: 100, pollMs: 10 });
  try {
    expect(await canary.check()).toMatchObject({ ready: false, reason: 'no_worker', ageMs: null });
    expect(await canary.check()).toMatchObject({ ready: false, reason: 'no_worker' });
    // Every check sent one, but they share a job id: one waits.
    expect(await canary.queue.getWaitingCount()).toBe(1);

    const worker = new Worker(CANARY_QUEUE, () => recordCanary(redis, prefix), { connection: redis, prefix: queuePrefix(prefix) });
    const ready = await waitUntil(async () => {
      const result = await canary.check();
      return result.ready && result;
    }, { what: 'a ready check' });
    expect(ready.ageMs).toBeLessThanOrEqual(400);

    await worker.close();
    const stale = await waitUntil(async () => {
      const result = await canary.check();
      return !result.ready && result;
    }, { what: 'a not-ready check once the worker is gone' });
    expect(stale).toMatchObject({ ready: false, reason: 'no_worker' });
    expect(stale.ageMs).toBeGreaterThan(400);
  } finally {
    await canary.close();
  }
});

it('says when Redis is unavailable', async () => {
  const offline = new Redis(inject('redisUrl'), { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const canary = new CanaryQueue(offline, `t-${randomUUID()}`, { maxAgeMs: 400, intervalMs: 10, waitMs: 100 });
  expect(await canary.check()).toMatchObject({ ready: false, reason: 'redis_unavailable', ageMs: null });
  offline.disconnect();
});
