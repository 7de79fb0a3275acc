import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisServer, waitUntil } from '@baton/devtools';
import { Baton, createSession, http } from './support/baton.ts';

/**
 * 1,000 clients long-polling one API process share its one subscriber connection:
 * the number of Redis connections does not grow with waiters. Runs on a Redis of its
 * own so the connection count is this API's alone.
 */
let redis: RedisServer;
let baton: Baton;
let admin: Redis;
const WAITERS = 1000;

beforeAll(async () => {
  redis = await RedisServer.start();
  admin = new Redis(redis.url);
  baton = await Baton.start({ redisUrl: redis.url, workers: 0, apiEnv: { LONG_POLL_MAX_S: '120' } });
});
afterAll(async () => {
  await baton?.stop();
  admin?.disconnect();
  await redis?.dispose();
});

async function apiConnections(): Promise<number> {
  const list = await admin.client('LIST');
  return String(list)
    .split('\n')
    .filter((line) => /name=baton-api/.test(line)).length;
}

async function inBatches<T>(count: number, size: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += size) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(size, count - i) }, (_, j) => fn(i + j)))));
  }
  return out;
}

it(`${WAITERS} concurrent long-polls use a constant number of Redis connections and all wake up`, async () => {
  const ids = await inBatches(WAITERS, 50, () => createSession(baton.url));
  // No worker yet: every session stays running.
  await inBatches(WAITERS, 50, async (i) => {
    const res = await http(baton.url, 'POST', `/sessions/${ids[i]}/messages`, { content: `n${i}` });
    expect(res.status).toBe(202);
  });
  const before = await apiConnections();

  // Long enough that a missed wake-up would outlast this test's own timeout.
  const waits = ids.map((id) => http(baton.url, 'GET', `/sessions/${id}?wait=true&timeout=110`));
  await waitUntil(async () => (await subscribedChannels()) === WAITERS, {
    timeoutMs: 30_000,
    what: `${WAITERS} subscribed session channels`,
  });
  expect(await apiConnections()).toBe(before);

  await baton.startWorker();
  const results = await Promise.all(waits);
  results.forEach((res, i) => {
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'idle', response: { content: `echo: n${i}` } });
  });
  await waitUntil(async () => (await subscribedChannels()) === 0, { what: 'channels released' });
}, 90_000);

async function subscribedChannels(): Promise<number> {
  const channels = (await admin.pubsub('CHANNELS', `${baton.prefix}:sess:*`)) as string[];
  return channels.length;
}
