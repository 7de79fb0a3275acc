import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { BatonClient } from '@baton/client';
import { RedisServer } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/**
 * Redis full (`noeviction` at `maxmemory`): every surface answers its writes with a 503
 * `storage_full` and a Retry-After, stores nothing at all, and works again once Redis has
 * room. A Redis of this file's own with a small maxmemory, filled with filler keys.
 */
let redis: RedisServer;
let baton: Baton;
let filler: Redis;
let fillerKeys = 0;
const MAXMEMORY = String(24 * 1024 * 1024);

beforeAll(async () => {
  redis = await RedisServer.start({ args: ['--maxmemory', MAXMEMORY] });
  baton = await Baton.start({ redisUrl: redis.url });
  filler = new Redis(redis.url);
});
afterEach(() => drain());
afterAll(async () => {
  filler?.disconnect();
  await baton?.stop();
  await redis?.dispose();
});

/**
 * Writes filler values until Redis refuses one with OOM: 64 KB ones, then ever smaller, since
 * a refused write's own request buffer counts while it is refused and is freed after.
 */
async function fill(): Promise<void> {
  for (const size of [64 * 1024, 4096, 64]) {
    const value = 'x'.repeat(size);
    for (;;) {
      try {
        await filler.set(`filler:${fillerKeys++}`, value);
      } catch (err) {
        expect((err as Error).message).toMatch(/^OOM command not allowed/);
        break;
      }
    }
  }
  // Hold it well over: a key expiring or a buffer freed elsewhere must not make room for a test's write.
  const used = Number(/^used_memory:(\d+)/m.exec(await filler.info('memory'))?.[1]);
  await filler.config('SET', 'maxmemory', String(used - 1024 * 1024));
}

async function drain(): Promise<void> {
  const keys = Array.from({ length: fillerKeys }, (_, i) => `filler:${i}`);
  for (let i = 0; i < keys.length; i += 500) await filler.del(...keys.slice(i, i + 500));
  fillerKeys = 0;
  await filler.config('SET', 'maxmemory', MAXMEMORY);
}

/** Every key but the filler, with its DUMP: equal snapshots mean nothing was written. */
async function snapshot(): Promise<Map<string, string | null>> {
  // Locks that come and go on their own clock (BullMQ's stalled-job checks, the reaper's pass
  // lock: short PX keys) are not state a request writes: left out of the comparison.
  const transient = (k: string) => k.endsWith(':stalled-check') || k.endsWith(':running:lock');
  const keys = (await filler.keys('*')).filter((k) => !k.startsWith('filler:') && !transient(k)).sort();
  const dumps = await Promise.all(keys.map((key) => filler.dumpBuffer(key)));
  return new Map(keys.map((key, i) => [key, dumps[i]?.toString('base64') ?? null]));
}

function expectStorageFull(res: { status: number; headers: Headers }, what: string): void {
  expect(res.status, what).toBe(503);
  expect(res.headers.get('retry-after'), what).toBe('5');
}

describe('Redis at maxmemory', () => {
  it('every surface answers its writes 503 storage_full with Retry-After, and nothing is stored', async () => {
    const sid = await createSession(baton.url);
    const oh = await http(baton.url, 'POST', '/api/conversations', {});
    expect(oh.status).toBe(201);
    const ohId = oh.body.id as string;
    const agen = await http(baton.url, 'POST', '/api/v1/sessions', {});
    expect(agen.status).toBe(200);
    const agenId = agen.body.id as string;

    await fill();
    const before = await snapshot();
    const key = { 'idempotency-key': `full-${randomUUID()}` };

    const native = await http(baton.url, 'POST', `/sessions/${sid}/messages`, { content: 'hello' }, key);
    expectStorageFull(native, 'native message');
    expect(native.body.error).toMatchObject({ code: 'storage_full', message: expect.stringContaining('maxmemory') });
    expectStorageFull(await http(baton.url, 'POST', '/sessions', {}), 'native create');
    expectStorageFull(await http(baton.url, 'PUT', `/sessions/${randomUUID()}`, {}), 'native PUT');

    const ohSend = await http(baton.url, 'POST', `/api/conversations/${ohId}/events`, { role: 'user', content: [{ type: 'text', text: 'hi' }], run: true });
    expectStorageFull(ohSend, 'OpenHands event');
    expect(ohSend.body).toEqual({ detail: expect.stringContaining('maxmemory') });
    expectStorageFull(await http(baton.url, 'POST', '/api/conversations', {}), 'OpenHands create');

    const v1 = await http(baton.url, 'POST', '/api/v1/app-conversations', { initial_message: { content: [{ type: 'text', text: 'hi' }] } });
    expectStorageFull(v1, 'V1 start');
    expect(v1.body).toEqual({ detail: expect.stringContaining('maxmemory') });

    const agenSend = await http(baton.url, 'POST', `/api/v1/sessions/${agenId}/messages`, { message: 'hi' });
    expectStorageFull(agenSend, 'agenhq message');
    expect(agenSend.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', code: 'storage_full' });
    expectStorageFull(await http(baton.url, 'POST', '/api/v1/sessions', {}), 'agenhq create');

    // Reads still work while Redis is full.
    expect((await http(baton.url, 'GET', `/sessions/${sid}`)).body).toMatchObject({ status: 'idle', total_messages: 0 });

    // Not a key, not a byte: no half-made session, sandbox, index entry, turn, job or Idempotency-Key record.
    const after = await snapshot();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [k, dump] of before) expect(after.get(k), k).toBe(dump);

    // Room again: the same request under the same key runs now (the 503 was not kept).
    await drain();
    const retried = await http(baton.url, 'POST', `/sessions/${sid}/messages`, { content: 'hello' }, key);
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    await waitForIdle(baton.url, sid);
    expect((await http(baton.url, 'GET', `/sessions/${sid}/messages`)).body).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'echo: hello' },
    ]);
  });

  it('OpenHands V1 start whose first message no longer fits: 503 storage_full, and the conversation and sandbox it made are taken back', async () => {
    const before = await snapshot();
    // Room for the conversation, not for its ~600 KB first message (a command's own bytes count while Redis checks).
    const used = Number(/^used_memory:(\d+)/m.exec(await filler.info('memory'))?.[1]);
    await filler.config('SET', 'maxmemory', String(used + 256 * 1024));
    const text = 'y'.repeat(600 * 1024);
    const v1 = await http(baton.url, 'POST', '/api/v1/app-conversations', { initial_message: { content: [{ type: 'text', text }] } });
    expectStorageFull(v1, 'V1 start with a large first message');
    const after = await snapshot();
    // Only the deleted conversation's tombstone (a minute's trace that makes a resent delete answer alike) is new.
    const added = [...after.keys()].filter((k) => !before.has(k));
    expect(added).toEqual([expect.stringMatching(new RegExp(`^${baton.prefix}:sess:\\{[0-9a-f-]+\\}:deleted$`))]);
    for (const [k, dump] of before) expect(after.get(k), k).toBe(dump);
    expect((await http(baton.url, 'GET', '/api/v1/app-conversations/search')).body.items).toHaveLength(0);
  });

  it('native POST /sessions whose history no longer fits: 503 storage_full, no index entry, no Idempotency-Key record', async () => {
    const before = await snapshot();
    const used = Number(/^used_memory:(\d+)/m.exec(await filler.info('memory'))?.[1]);
    await filler.config('SET', 'maxmemory', String(used + 256 * 1024));
    const state = [{ role: 'user', content: 'z'.repeat(600 * 1024) }];
    const res = await http(baton.url, 'POST', '/sessions', { state }, { 'idempotency-key': `big-${randomUUID()}` });
    expectStorageFull(res, 'create with a large history');
    const after = await snapshot();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [k, dump] of before) expect(after.get(k), k).toBe(dump);
  });

  it('@baton/client retries a 503 storage_full after its Retry-After, under the same Idempotency-Key', async () => {
    const sid = await createSession(baton.url);
    await fill();
    const tries: { status: number; code?: string; retryAfter: string | null; key: string | null; at: number }[] = [];
    const client = new BatonClient({
      baseUrl: baton.url,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (init?.method === 'POST') {
          const body = (await res.clone().json()) as { error?: { code: string } };
          tries.push({ status: res.status, code: body.error?.code, retryAfter: res.headers.get('retry-after'), key: new Headers(init.headers).get('idempotency-key'), at: Date.now() });
          // Redis gets room once the client has been told it is full.
          if (res.status === 503) await drain();
        }
        return res;
      },
    });
    const accepted = await client.sendMessage(sid, 'hello');
    expect(tries.map((t) => [t.status, t.code, t.retryAfter])).toEqual([
      [503, 'storage_full', '5'],
      [202, undefined, null],
    ]);
    expect(tries[1]?.key).toBe(tries[0]?.key);
    expect((tries[1]?.at ?? 0) - (tries[0]?.at ?? 0)).toBeGreaterThanOrEqual(5000 - 50);
    await waitForIdle(baton.url, sid);
    const history = (await http(baton.url, 'GET', `/sessions/${sid}/messages`)).body as unknown[];
    expect(history).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'echo: hello' },
    ]);
    expect(accepted.turn_id).toEqual(expect.any(String));
  });
});
