import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { queuePrefix } from '@baton/core';
import { waitUntil } from '@baton/devtools';
import { TURN_QUEUE } from './catalog.ts';
import { TurnQueue } from './turn-queue.ts';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
});
afterAll(() => redis.quit());

it('jobState: missing, alive, then completed for a job that failed once and succeeded on retry', async () => {
  const prefix = `t-${randomUUID()}`;
  const queue = new TurnQueue(redis, prefix);
  const turnId = randomUUID();
  expect(await queue.jobState(turnId)).toEqual({ state: 'missing' });

  await queue.enqueue({ session_id: randomUUID(), turn_id: turnId });
  expect(await queue.jobState(turnId)).toEqual({ state: 'alive' });
  // Enqueueing the same turn again is a no-op: the job id is the turn id.
  await queue.enqueue({ session_id: randomUUID(), turn_id: turnId });
  expect(await queue.queue.getJobCounts('wait')).toEqual({ wait: 1 });

  let attempts = 0;
  const worker = new Worker(
    TURN_QUEUE,
    async () => {
      attempts++;
      if (attempts === 1) throw new Error('blip');
      return 'idle';
    },
    { connection: redis, prefix: queuePrefix(prefix) },
  );
  try {
    await waitUntil(async () => (await queue.queue.getJob(turnId))?.finishedOn, { what: 'the job to finish', timeoutMs: 15_000 });
    expect(attempts).toBe(2);
    expect(await queue.jobState(turnId)).toEqual({ state: 'completed' });
  } finally {
    await worker.close();
    await queue.close();
  }
});
