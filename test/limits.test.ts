import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { SseClient } from './support/sse.ts';

/**
 * The documented limits, each answered with its own clear error: messages per session
 * (409), long-poll waiters per API process (503), requests per API key (429 with
 * Retry-After). The body-size limit (413) is in bad-input.test.ts.
 */
const KEY = 'limits-key-a';
const OTHER = 'limits-key-b';
const ADMIN = 'limits-admin-key';
const auth = (key = KEY) => ({ authorization: `Bearer ${key}` });
let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { API_KEYS: `${KEY},${OTHER}`, ADMIN_KEY: ADMIN, MAX_MESSAGES_PER_SESSION: '3', MAX_WAITERS: '2', RATE_LIMIT_PER_S: '2', RATE_LIMIT_BURST: '40' },
    workerEnv: { ECHO_DELAY_MS: '1500' },
  });
  base = baton.url;
});
afterAll(() => baton?.stop());

const newSession = async (key = KEY) => (await http(base, 'POST', '/sessions', {}, auth(key))).body.session_id as string;
const waitIdle = (id: string) => http(base, 'GET', `/sessions/${id}?wait=true&timeout=10`, undefined, auth());

describe('MAX_MESSAGES_PER_SESSION', () => {
  it('refuses a new message once history plus queued messages reach it: 409 message_limit_reached', async () => {
    const id = await newSession();
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'one' }, auth())).status).toBe(202);
    // Queued messages count too: history 1 + queued 1 = 2 < 3.
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'two', if_busy: 'enqueue' }, auth())).status).toBe(202);
    await waitUntil(async () => (await waitIdle(id)).body.status === 'idle', { timeoutMs: 15_000, what: 'both turns to end' });
    const full = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'three' }, auth());
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe('message_limit_reached');
    expect(full.body.error.message).toContain('MAX_MESSAGES_PER_SESSION');
    // Also through a compatibility API (OpenHands: add without running), in its shape.
    const appended = await http(base, 'POST', `/api/conversations/${id}/events`, { content: [{ type: 'text', text: 'x' }], run: false }, { 'x-session-api-key': KEY });
    expect(appended.status).toBe(409);
    expect(appended.body.detail).toContain('MAX_MESSAGES_PER_SESSION');
    const history = (await http(base, 'GET', `/sessions/${id}/messages`, undefined, auth())).body;
    expect(history.map((m: { content: string }) => m.content)).toEqual(['one', 'echo: one', 'two', 'echo: two']);
  });
});

describe('MAX_WAITERS', () => {
  it('a long-poll beyond the process limit gets 503 too_many_waiters with Retry-After; slots free up when polls end', async () => {
    const id = await newSession();
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'slow' }, auth())).status).toBe(202);
    const held = [waitIdle(id), waitIdle(id)];
    const refused = await waitUntil(
      async () => {
        const probe = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=0.2`, undefined, auth());
        return probe.status === 503 && probe;
      },
      { timeoutMs: 5_000, what: 'the two long-polls to hold both slots' },
    );
    expect(refused.body.error.code).toBe('too_many_waiters');
    expect(refused.headers.get('retry-after')).toBe('1');
    // A plain read still works, and the held polls answer when the turn ends.
    expect((await http(base, 'GET', `/sessions/${id}`, undefined, auth())).status).toBe(200);
    for (const res of await Promise.all(held)) expect(res.body.status).toBe('idle');
    expect((await http(base, 'GET', `/sessions/${id}?wait=true&timeout=0.2`, undefined, auth())).status).toBe(200);
  });
});

describe('MAX_WAITERS counts event streams', () => {
  it('with every slot held by SSE streams, one more stream or long-poll gets 503 too_many_waiters; closing one frees a slot', async () => {
    const id = await newSession();
    const url = `${base}/sessions/${id}/events`;
    const streams = [await SseClient.open(url, auth()), await SseClient.open(url, auth())];
    try {
      for (const stream of streams) {
        expect(stream.status).toBe(200);
        expect(await stream.next()).toMatchObject({ event: 'status', data: { snapshot: true } });
      }
      const refused = await SseClient.open(url, auth());
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('too_many_waiters');
      expect(refused.body.error.message).toContain('event streams');
      expect(refused.headers.get('retry-after')).toBe('1');
      // Long-polls share the slots: a running session's long-poll is refused too.
      expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'slow' }, auth())).status).toBe(202);
      const poll = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=0.2`, undefined, auth());
      expect(poll.status).toBe(503);
      expect(poll.body.error.code).toBe('too_many_waiters');

      streams.pop()!.close();
      const again = await waitUntil(
        async () => {
          const next = await SseClient.open(url, auth());
          if (next.status === 200) return next;
          expect(next.status).toBe(503);
          return false;
        },
        { timeoutMs: 5_000, what: 'the closed stream to give its slot back' },
      );
      streams.push(again);
    } finally {
      for (const stream of streams) stream.close();
    }
    await waitUntil(async () => (await waitIdle(id)).status === 200, { timeoutMs: 15_000, what: 'the slots to be free and the turn to end' });
  });
});

describe('RATE_LIMIT_PER_S', () => {
  it('beyond the burst, a key gets 429 rate_limited with Retry-After; other keys are not affected', async () => {
    const id = await newSession(OTHER);
    // 2 per second with a burst of 40: a quick run of requests hits the limit.
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof http<any>>> | undefined;
    for (let i = 0; i < 60 && !limited; i++) {
      const res = await http(base, 'GET', `/sessions/${id}`, undefined, auth(OTHER));
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(limited, `statuses: ${statuses.join(',')}`).toBeDefined();
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(30);
    expect(limited!.body.error.code).toBe('rate_limited');
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another API key has its own budget.
    expect((await http(base, 'GET', '/sessions', undefined, auth(KEY))).status).toBe(200);
    // After Retry-After, the key may go on.
    await waitUntil(async () => (await http(base, 'GET', `/sessions/${id}`, undefined, auth(OTHER))).status === 200, {
      timeoutMs: 5_000,
      what: 'the rate limit to let the key through again',
    });
  });

  it('the admin key is limited too, in a budget of its own', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 60 && !statuses.includes(429); i++) statuses.push((await http(base, 'GET', '/sessions?limit=1', undefined, auth(ADMIN))).status);
    expect(statuses, `statuses: ${statuses.join(',')}`).toContain(429);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(30);
    expect((await http(base, 'GET', '/sessions?limit=1', undefined, auth(KEY))).status).toBe(200);
  });
});
