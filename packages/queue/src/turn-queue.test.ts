import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { queuePrefix } from '@baton/core';
import { waitUntil } from '@baton/devtools';
import { TURN_QUEUE } from './catalog.ts';
import { TurnQueue } from './turn-queue.ts';

let redis: Redis;
useTestRedis((client) => (redis = client));

it('jobState: missing, alive, then completed for a job that failed once and succeeded on retry', async () => {
  const prefix = `t-${randomUUID()}`;
  const queue = new TurnQueue(redis, prefix);
  const sessionId = randomUUID();
  const turnId = randomUUID();
  expect(await queue.jobState(sessionId, turnId)).toEqual({ state: 'missing' });

  await queue.enqueue({ session_id: sessionId, turn_id: turnId });
  expect(await queue.jobState(sessionId, turnId)).toEqual({ state: 'alive' });
  // Enqueueing the same turn again is a no-op: the job id is the turn id.
  await queue.enqueue({ session_id: sessionId, turn_id: turnId });
  expect(await queue.getJobCounts('wait')).toEqual({ wait: 1 });

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
    await waitUntil(async () => (await queue.queueFor(sessionId).getJob(turnId))?.finishedOn, { what: 'the job to finish', timeoutMs: 15_000 });
    expect(attempts).toBe(2);
    expect(await queue.jobState(sessionId, turnId)).toEqual({ state: 'completed' });
  } finally {
    await worker.close();
    await queue.close();
  }
});

it('sharded: a session\'s turns go to its own shard, in order, and jobState finds them there', async () => {
  const prefix = `t-${randomUUID()}`;
  const queue = new TurnQueue(redis, prefix, 4);
  try {
    const sessions = Array.from({ length: 40 }, () => randomUUID());
    const turns = new Map(sessions.map((s) => [s, [randomUUID(), randomUUID()]] as const));
    for (const [session_id, ids] of turns) for (const turn_id of ids) await queue.enqueue({ session_id, turn_id });

    const perShard = await Promise.all(queue.shards.map((q) => q.getWaiting(0, -1)));
    // Every shard got some sessions; every job sits in its session's shard, in submit order.
    expect(perShard.map((jobs) => jobs.length > 0)).toEqual([true, true, true, true]);
    expect(perShard.flat()).toHaveLength(80);
    for (const [shard, jobs] of perShard.entries()) {
      for (const job of jobs) expect(queue.shardOf(job.data.session_id)).toBe(shard);
    }
    for (const [session, ids] of turns) {
      const mine = perShard[queue.shardOf(session)]!.filter((j) => j.data.session_id === session).map((j) => j.id);
      expect(mine).toEqual(ids);
      expect(await queue.jobState(session, ids[0]!)).toEqual({ state: 'alive' });
    }
    // The shards' keys are under hash tags of their own.
    expect(new Set(queue.shards.map((q) => q.opts.prefix)).size).toBe(4);
    expect(await redis.exists(`{${prefix}}:turns:wait`)).toBe(0);
  } finally {
    await queue.close();
  }
});

it('aliveJobs: per turn, whether its job exists and is not done for good, read shard by shard', async () => {
  const prefix = `t-${randomUUID()}`;
  const queue = new TurnQueue(redis, prefix, 4);
  try {
    // A turn whose job has completed (a worker on its shard only, closed before the others are queued).
    const done = { sessionId: randomUUID(), turnId: randomUUID(), run: 0 };
    await queue.enqueue({ session_id: done.sessionId, turn_id: done.turnId });
    const doneShard = queue.queueFor(done.sessionId);
    const worker = new Worker(TURN_QUEUE, async () => 'idle', { connection: redis, prefix: doneShard.opts.prefix });
    try {
      await waitUntil(async () => (await doneShard.getJob(done.turnId))?.finishedOn, { what: 'the job to complete', timeoutMs: 15_000 });
    } finally {
      await worker.close();
    }
    // Waiting jobs on every shard, one of them a resumed turn's (its job id carries the run).
    const waiting: { sessionId: string; turnId: string; run: number }[] = [];
    for (let shard = 0; shard < 4; shard++) {
      for (let n = 0; n < 3; ) {
        const sessionId = randomUUID();
        if (queue.shardOf(sessionId) !== shard) continue;
        waiting.push({ sessionId, turnId: randomUUID(), run: waiting.length === 0 ? 2 : 0 });
        n++;
      }
    }
    for (const t of waiting) await queue.enqueue({ session_id: t.sessionId, turn_id: t.turnId, run: t.run });
    const missing = [{ sessionId: randomUUID(), turnId: randomUUID(), run: 0 }, { ...waiting[0]!, run: 0 }];

    expect(await queue.aliveJobs([done, ...waiting, ...missing])).toEqual([false, ...waiting.map(() => true), false, false]);
    expect(await queue.aliveJobs([])).toEqual([]);
  } finally {
    await queue.close();
  }
});
