import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { WEBHOOK_QUEUE, WebhookQueue } from '@baton/queue';
import { queuePrefix } from '@baton/core';
import { type Delivery, DeliveryLog } from '@baton/store';
import type { SendResult } from '@baton/webhooks';
import { makeWebhookProcessor } from './deliver.ts';

/**
 * A worker that stalled past its job lock (its event loop blocked) and wakes after another
 * worker took the delivery over must not write its attempt over the newer record.
 * Real Redis and BullMQ: the job is fetched by hand, then its lock is taken by another token.
 */
let redis: Redis;
const prefix = `t-${randomUUID()}`;

useTestRedis((client) => (redis = client));

const delivered: SendResult = { statusCode: 200, latencyMs: 5, retryAfterMs: null, responseBody: '', error: null, errorCode: null };

it('records the attempt while it holds the lock, and discards it once another worker holds it', async () => {
  const log = new DeliveryLog(redis, prefix);
  const queue = new WebhookQueue(redis, prefix);
  const worker = new Worker(WEBHOOK_QUEUE, null, { connection: redis, prefix: queuePrefix(prefix), lockDuration: 10_000 });
  const process = makeWebhookProcessor({
    log,
    schedule: [0, 100],
    secrets: [],
    timeoutMs: 1_000,
    lockMs: 10_000,
    allowPrivate: true,
    logger: pino({ level: 'silent' }),
    send: async () => delivered,
  });
  const pending = (id: string): Delivery => ({
    id, webhook_id: `msg_${id}`, session_id: 's1', turn_id: id, type: 'turn.completed', target: 'message',
    url: 'http://127.0.0.1:1/hook', body: '{}', status: 'pending', attempts: [], schedule_base: 0, redeliveries: 0,
    next_attempt_at: null, created_at: new Date().toISOString(),
  });
  try {
    for (const [id, stolen] of [['kept', false], ['stolen', true]] as const) {
      await log.add(pending(id));
      await queue.enqueue([{ session_id: 's1', delivery_id: id, redeliveries: 0 }]);
      const token = randomUUID();
      const job = await worker.getNextJob(token);
      if (!job) throw new Error('no job');
      // Another worker's takeover: the lock now holds its token.
      if (stolen) await redis.set(`${queuePrefix(prefix)}:${WEBHOOK_QUEUE}:${job.id}:lock`, 'another-worker', 'PX', 10_000);
      expect(await process(job, token)).toBe(stolen ? 'stale' : 'delivered');
      expect(await log.get('s1', id)).toMatchObject(stolen ? { status: 'pending', attempts: [] } : { status: 'delivered' });
    }
  } finally {
    await worker.close(true);
    await queue.close();
  }
});
