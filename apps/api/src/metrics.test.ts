import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ApiMetrics, QueueCounts } from './metrics.ts';

let redis: Redis;
let queue: Queue;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  queue = new Queue('turns', { connection: redis, prefix: `{t-${randomUUID()}}` });
});
afterAll(async () => {
  await queue.close();
  await redis.quit();
});

it('reads queue counts at most once per cache period', async () => {
  await queue.add('x', {});
  const cached = new QueueCounts({ turns: queue }, 60_000);
  const fresh = new QueueCounts({ turns: queue }, 0);
  expect((await cached.get()).turns).toMatchObject({ waiting: 1, active: 0, failed: 0, delayed: 0 });
  await queue.add('x', {}, { delay: 60_000 });
  expect((await cached.get()).turns).toMatchObject({ waiting: 1, delayed: 0 });
  expect((await fresh.get()).turns).toMatchObject({ waiting: 1, delayed: 1 });
});

it('exports the queue gauges when scraped', async () => {
  const metrics = new ApiMetrics({ turns: queue }, pino({ level: 'silent' }), 0);
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/baton_queue_jobs\{queue="turns",state="waiting"\} 1\n/);
  expect(text).toMatch(/baton_queue_jobs\{queue="turns",state="delayed"\} 1\n/);
});
