import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisServer, waitUntil } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/** Redis goes away and comes back (AOF on): requests fail fast, nothing accepted is lost. */
let redis: RedisServer;
let baton: Baton;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: true, args: ['--appendfsync', 'always'] });
  baton = await Baton.start({ redisUrl: redis.url });
});
afterAll(async () => {
  await baton?.stop();
  await redis?.dispose();
});

it('answers 503 at once while Redis is down, and carries on when it is back', async () => {
  const id = await createSession(baton.url);
  expect((await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'before' })).status).toBe(202);
  expect(await waitForIdle(baton.url, id, 10)).toMatchObject({ status: 'idle', response: { content: 'echo: before' } });

  await redis.stop();
  const down = await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'during' });
  expect(down.status).toBe(503);
  expect(down.body.error.code).toBe('service_unavailable');
  expect(down.headers.get('retry-after')).toBe('1');
  expect((await http(baton.url, 'GET', `/sessions/${id}?wait=true&timeout=5`)).status).toBe(503);
  expect((await http(baton.url, 'POST', '/sessions')).status).toBe(503);
  expect((await http(baton.url, 'GET', '/health')).status).toBe(200);

  await redis.launch();
  const after = await waitUntil(
    async () => {
      const res = await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'after' });
      return res.status === 202 && res;
    },
    { timeoutMs: 15_000, what: 'the API to accept messages again' },
  );
  expect(after.status).toBe(202);
  expect(await waitForIdle(baton.url, id, 20)).toMatchObject({ status: 'idle', response: { content: 'echo: after' } });
  const history = (await http(baton.url, 'GET', `/sessions/${id}/messages`)).body;
  expect(history.map((m: { content: string }) => m.content)).toEqual(['before', 'echo: before', 'after', 'echo: after']);
});
