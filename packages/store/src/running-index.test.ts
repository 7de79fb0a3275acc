import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import type { Redis } from 'ioredis';
import type { ChatMessage } from '@baton/core';
import { SessionStore } from './session-store.ts';

/** The reaper's running index: an entry leaves it when its turn ends, and its pass lock. */
const T0 = 1_700_000_000_000;
let redis: Redis;
let store: SessionStore;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  store = new SessionStore(redis, { prefix: `t-${randomUUID()}`, runningGraceMs: 5_000, now: () => T0 });
});

const user = (content: string): ChatMessage => ({ role: 'user', content });

async function startTurn(sessionId: string, policy: 'reject' | 'enqueue' = 'reject'): Promise<string> {
  const turnId = randomUUID();
  await store.submit({ sessionId, turnId, message: user('hi'), webhook: null, policy });
  return turnId;
}

async function newSession(webhook?: string): Promise<string> {
  const sessionId = randomUUID();
  await store.create({ sessionId, agent: 'echo', tenant: '', state: [], ...(webhook ? { webhook: { url: webhook, include_messages: false } } : {}) });
  return sessionId;
}

async function finishTurn(sessionId: string, turnId: string, ok = true) {
  const claim = await store.claim(sessionId, turnId);
  if (claim.kind !== 'ok') throw new Error(`claim: ${claim.kind}`);
  return store.finish(sessionId, turnId, claim.fence, ok ? { ok: true, reply: { role: 'assistant', content: 'x' } } : { ok: false, error: 'boom' });
}

const inIndex = async (sessionId: string) => (await redis.zscore(store.keys.running, sessionId)) !== null;

describe('settleRunning', () => {
  it('removes the entry of a session whose turn ended (idle or error) with nothing in its outbox', async () => {
    const done = await newSession();
    await finishTurn(done, await startTurn(done));
    const failed = await newSession();
    await finishTurn(failed, await startTurn(failed), false);
    expect(await inIndex(done)).toBe(true);
    expect(await store.running.settle(done)).toBe(true);
    expect(await store.running.settle(failed)).toBe(true);
    expect(await inIndex(done)).toBe(false);
    expect(await inIndex(failed)).toBe(false);
    // Again (a resend after a lost reply): nothing left to remove, no error.
    expect(await store.running.settle(done)).toBe(false);
  });

  it('keeps the entry while a turn runs, also the next queued one', async () => {
    const id = await newSession();
    const first = await startTurn(id);
    expect(await store.running.settle(id)).toBe(false);
    await startTurn(id, 'enqueue');
    const finished = await finishTurn(id, first);
    expect(finished).toMatchObject({ kind: 'ok', nextTurnId: expect.any(String) });
    expect(await store.running.settle(id)).toBe(false);
    expect(await inIndex(id)).toBe(true);
  });

  it('keeps the entry while turn-end events wait in the outbox (the reaper flushes them)', async () => {
    const id = await newSession('https://example.com/hook');
    await finishTurn(id, await startTurn(id));
    expect(await redis.llen(store.sessionKeys(id).outbox)).toBe(1);
    expect(await store.running.settle(id)).toBe(false);
    expect(await inIndex(id)).toBe(true);
    await redis.del(store.sessionKeys(id).outbox);
    expect(await store.running.settle(id)).toBe(true);
  });
});

describe('claimPass', () => {
  it('gives the pass to one worker until the lock lapses', async () => {
    expect(await store.running.claimPass('a', 60_000)).toBe(true);
    expect(await store.running.claimPass('b', 60_000)).toBe(false);
    expect(await store.running.claimPass('a', 60_000)).toBe(false);
    expect(await redis.pttl(store.keys.reaperLock)).toBeGreaterThan(0);
    await redis.del(store.keys.reaperLock); // as when it lapses
    expect(await store.running.claimPass('b', 60_000)).toBe(true);
  });
});

describe('due', () => {
  it('reads entries due by a given time, earliest first, skipping the first ones when asked', async () => {
    for (const [id, due] of [['c', 30], ['a', 10], ['b', 20], ['d', 40]] as const) await redis.zadd(store.keys.running, T0 + due, id);
    expect((await store.running.due(10, T0 + 30)).map((e) => e.sessionId)).toEqual(['a', 'b', 'c']);
    expect(await store.running.due(2, T0 + 30, 1)).toEqual([{ sessionId: 'b', dueAt: T0 + 20 }, { sessionId: 'c', dueAt: T0 + 30 }]);
  });
});

describe('the reaper\'s batch reads and writes', () => {
  it('turnIds: status, turn and run of many sessions in one call; null for a session that is gone', async () => {
    const idle = await newSession();
    const running = await newSession();
    const turnId = await startTurn(running);
    // A resumed turn's job carries its run: the meta hash's step_turn/run name it.
    const resumed = await newSession();
    const resumedTurn = await startTurn(resumed);
    await redis.hset(store.sessionKeys(resumed).meta, 'step_turn', resumedTurn, 'run', 2);
    expect(await store.running.turnIds([idle, running, 'gone', resumed])).toEqual([
      { status: 'idle', turnId: '', run: 0 },
      { status: 'running', turnId, run: 0 },
      null,
      { status: 'running', turnId: resumedTurn, run: 2 },
    ]);
    // The same, one session at a time.
    expect(await store.running.turn(resumed)).toMatchObject({ status: 'running', turnId: resumedTurn, run: 2 });
    expect(await store.running.turnIds([])).toEqual([]);
  });

  it('postponeMany: moves the check times of entries still in the index; one removed meanwhile stays out', async () => {
    await redis.zadd(store.keys.running, T0, 'a', T0, 'b');
    await redis.zrem(store.keys.running, 'b'); // its turn ended and a worker removed it
    await store.running.postponeMany(['a', 'b'], 5_000);
    expect(await redis.zrange(store.keys.running, 0, -1, 'WITHSCORES')).toEqual(['a', String(T0 + 5_000)]);
  });

  it('nextDue: the earliest check time after the first entries passed over, null when none', async () => {
    expect(await store.running.nextDue()).toBeNull();
    await redis.zadd(store.keys.running, T0 + 20, 'b', T0 + 10, 'a');
    expect(await store.running.nextDue()).toBe(T0 + 10);
    expect(await store.running.nextDue(1)).toBe(T0 + 20);
    expect(await store.running.nextDue(2)).toBeNull();
  });
});
