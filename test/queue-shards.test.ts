import { randomUUID } from 'node:crypto';
import { afterEach, expect, inject, it } from 'vitest';
import { shardOf } from '@baton/core';
import { Baton, http, waitForIdle } from './support/baton.ts';

/**
 * Sharded queues (TURN_QUEUE_SHARDS) across processes: workers consume only the shards
 * they are given (WORKER_SHARDS), and a worker on a sharded layout still runs the turns
 * left in the unsharded queue from before the change.
 */
let baton: Baton | null = null;
afterEach(async () => {
  await baton?.stop();
  baton = null;
});

/** A new session id on `shard` of `shards`. */
function idOnShard(shard: number, shards: number): string {
  for (;;) {
    const id = randomUUID();
    if (shardOf(id, shards) === shard) return id;
  }
}

async function post(url: string, id: string, content: string): Promise<void> {
  expect((await http(url, 'PUT', `/sessions/${id}`)).status).toBe(201);
  expect((await http(url, 'POST', `/sessions/${id}/messages`, { content })).status).toBe(202);
}

it('a worker consumes only its WORKER_SHARDS: the other shard\'s turn waits for a worker of its own', async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), workers: 0, env: { TURN_QUEUE_SHARDS: '2' } });
  await baton.startWorker({ WORKER_SHARDS: '0' });
  const [zero, one] = [idOnShard(0, 2), idOnShard(1, 2)];
  await post(baton.url, one, 'for shard 1');
  await post(baton.url, zero, 'for shard 0');
  expect(await waitForIdle(baton.url, zero, 20)).toMatchObject({ response: { content: 'echo: for shard 0' } });
  // Shard 0's turn, posted after shard 1's, is done; shard 1's is still waiting in its queue.
  expect((await http(baton.url, 'GET', `/sessions/${one}`)).body).toMatchObject({ status: 'running' });
  expect(await baton.keys(`{${baton.prefix}:t1*}:turns:wait`)).toHaveLength(1);

  await baton.startWorker({ WORKER_SHARDS: '1' });
  expect(await waitForIdle(baton.url, one, 20)).toMatchObject({ response: { content: 'echo: for shard 1' } });
});

it('after a change from one queue to shards, workers run the turns left in the unsharded queue, then stop looking', async () => {
  // The API still on the old layout, no worker: the turn waits in `{prefix}:turns`.
  baton = await Baton.start({ redisUrl: inject('redisUrl'), workers: 0, env: { TURN_QUEUE_SHARDS: '1' } });
  const old = randomUUID();
  await post(baton.url, old, 'left behind');
  expect(await baton.keys(`{${baton.prefix}}:turns:wait`)).toHaveLength(1);

  // No reaper: it would enqueue the turn again in its new shard after RUNNING_GRACE_MS.
  const worker = await baton.startWorker({ TURN_QUEUE_SHARDS: '4', REAPER: 'false' });
  expect(await waitForIdle(baton.url, old, 30)).toMatchObject({ response: { content: 'echo: left behind' } });
  await worker.waitForLog(/unsharded queue drained/, 30_000);
  expect(await baton.keys(`{${baton.prefix}}:turns:wait`)).toHaveLength(0);
});
