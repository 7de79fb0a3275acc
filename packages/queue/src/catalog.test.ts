import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { queuePrefix } from '@baton/core';
import { waitUntil } from '@baton/devtools';
import { KEEP_FAILED, TURN_QUEUE, WEBHOOK_QUEUE, turnJobOptions, webhookJobOptions } from './catalog.ts';

let redis: Redis;
useTestRedis((client) => (redis = client));

const queues = [
  { name: TURN_QUEUE, options: (i: number) => turnJobOptions(`t${i}`) },
  { name: WEBHOOK_QUEUE, options: (i: number) => webhookJobOptions(`d${i}`, 0) },
];

it.each(queues)('the $name queue keeps at most KEEP_FAILED.count failed jobs', async ({ name, options }) => {
  const prefix = queuePrefix(`t-${randomUUID()}`);
  const queue = new Queue(name, { connection: redis, prefix });
  const total = KEEP_FAILED.count + 50;
  // The catalog's options, with one attempt each, so every job fails for good at once.
  for (let i = 0; i < total; i += 500) {
    await queue.addBulk(
      Array.from({ length: Math.min(500, total - i) }, (_, j) => ({ name: 'x', data: {}, opts: { ...options(i + j), attempts: 1 } })),
    );
  }
  let failed = 0;
  const worker = new Worker(
    name,
    async () => {
      throw new Error('boom');
    },
    { connection: redis, prefix, concurrency: 50 },
  );
  worker.on('failed', () => failed++);
  try {
    await waitUntil(() => failed === total, { what: 'every job to fail', timeoutMs: 60_000 });
    expect(await queue.getFailedCount()).toBe(KEEP_FAILED.count);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}, 90_000);
