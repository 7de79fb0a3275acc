import { randomUUID } from 'node:crypto';
import { beforeEach, expect, it, vi } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import type { Redis } from 'ioredis';
import type { ChatMessage } from '@baton/core';
import { SessionStore } from './session-store.ts';
import { HistoryCache, sha1Hex } from './history-cache.ts';
import { callScript } from './scripts.ts';
import { encodeMessage } from './message-record.ts';

let redis: Redis;
let prefix: string;
/** Two workers: each its own store, so each its own history cache. */
let workerA: SessionStore;
let workerB: SessionStore;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
  workerA = new SessionStore(redis, { prefix, runningGraceMs: 5_000 });
  workerB = new SessionStore(redis, { prefix, runningGraceMs: 5_000 });
});

const user = (content: string): ChatMessage => ({ role: 'user', content });
const call: ChatMessage = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'clock', arguments: '{}' } }] };
const result: ChatMessage = { role: 'tool', tool_call_id: 'c1', content: '12:00' };

async function newSession(state: ChatMessage[]): Promise<string> {
  const sessionId = randomUUID();
  expect(await workerA.create({ sessionId, agent: 'echo', tenant: '', state })).toBe(true);
  return sessionId;
}

async function startTurn(sessionId: string, content: string): Promise<string> {
  const turnId = randomUUID();
  expect(await workerA.submit({ sessionId, turnId, message: user(content), webhook: null, policy: 'reject' })).toMatchObject({ kind: 'started' });
  return turnId;
}

async function claimed(store: SessionStore, sessionId: string, turnId: string) {
  const claim = await store.claim(sessionId, turnId);
  if (claim.kind !== 'ok') throw new Error(`claim: ${claim.kind}`);
  return claim;
}

it("the claim script's reply carries no history: its length, the last entry's hash and the incarnation", async () => {
  const state = Array.from({ length: 50 }, (_, i) => user(`message ${i} ${'x'.repeat(1000)}`));
  const id = await newSession(state);
  const turnId = await startTurn(id, 'go');
  const k = workerA.sessionKeys(id);
  const reply = (await callScript(redis, 'claim', [k.meta, k.messages, k.outbox], [turnId, 0])) as (string | number)[];
  const last = (await redis.lindex(k.messages, -1)) as string;
  expect(reply).toEqual(['ok', '1', 'echo', '', '0', '', 0, 51, sha1Hex(last), await workerA.incarnation(id)]);
  // Nothing near a history entry's size came back.
  expect(JSON.stringify(reply).length).toBeLessThan(300);
});

it("a worker's history is the whole history across a takeover: steps another worker recorded are seen", async () => {
  const id = await newSession([user('hello'), { role: 'assistant', content: 'hi' }]);
  const turn1 = await startTurn(id, 'first');
  const a1 = await claimed(workerA, id, turn1);
  expect(a1.history).toEqual(await workerA.messages(id));
  expect(await workerA.steps.record({ sessionId: id, turnId: turn1, fence: a1.fence, index: 0, messages: [call] })).toMatchObject({ kind: 'ok' });
  // Worker A stalls; worker B takes the turn over, sees A's step, records one more and finishes.
  const b1 = await claimed(workerB, id, turn1);
  expect(b1.history).toEqual(await workerA.messages(id));
  expect(b1.history.at(-1)).toEqual(call);
  expect(b1).toMatchObject({ steps: 1, turnStart: 3 });
  expect(await workerB.steps.record({ sessionId: id, turnId: turn1, fence: b1.fence, index: 1, messages: [result] })).toMatchObject({ kind: 'ok' });
  expect(await workerB.finish(id, turn1, b1.fence, { ok: true, reply: { role: 'assistant', content: 'done' } })).toMatchObject({ kind: 'ok' });

  // A runs the next turn from its cached copy: it reads only what B wrote since, and has it all.
  const turn2 = await startTurn(id, 'second');
  const hits = workerA.history.stats.hits;
  const read = workerA.history.stats.entriesRead;
  const a2 = await claimed(workerA, id, turn2);
  expect(a2.history).toEqual(await workerA.messages(id));
  expect(a2.history.slice(-4)).toEqual([call, result, { role: 'assistant', content: 'done' }, user('second')]);
  expect(a2).toMatchObject({ steps: 0, turnStart: 7 });
  expect(workerA.history.stats.hits).toBe(hits + 1);
  expect(workerA.history.stats.entriesRead - read).toBe(4);
});

it('a copy that is not the history any more (last entry differs, or another incarnation) is read again', async () => {
  const id = await newSession([user('a'), user('b')]);
  const turn1 = await startTurn(id, 'c');
  await claimed(workerA, id, turn1);
  // The copy's last entry no longer matches (as if the list were another one of the same length).
  const k = workerA.sessionKeys(id);
  await redis.lset(k.messages, -1, encodeMessage(user('changed'), { at: 1, turn: turn1 }));
  const misses = workerA.history.stats.misses;
  const again = await claimed(workerA, id, turn1);
  expect(again.history).toEqual([user('a'), user('b'), user('changed')]);
  expect(workerA.history.stats.misses).toBe(misses + 1);

  // Deleted and made again under the same id with as many messages: another incarnation.
  await workerA.delete(id);
  expect(await workerA.create({ sessionId: id, agent: 'echo', tenant: '', state: [user('x')] })).toBe(true);
  const turn2 = await startTurn(id, 'y');
  expect((await claimed(workerA, id, turn2)).history).toEqual([user('x'), user('y')]);
});

it('a large history (2,000 × 1 KB) is the agent input in full, read in chunks of at most 500 entries', async () => {
  const big = Array.from({ length: 2_000 }, (_, i) => user(`${i} ${'y'.repeat(1024)}`));
  const id = await newSession([]);
  const k = workerA.sessionKeys(id);
  for (let i = 0; i < big.length; i += 500) await redis.rpush(k.messages, ...big.slice(i, i + 500).map((m) => encodeMessage(m, { at: 1 })));
  const turnId = await startTurn(id, 'last');
  const lrange = vi.spyOn(redis, 'lrange');
  try {
    const claim = await claimed(workerB, id, turnId);
    expect(claim.history).toEqual([...big, user('last')]);
    expect(claim.turnStart).toBe(2_001);
    const ranges = lrange.mock.calls.map(([, start, stop]) => Number(stop) - Number(start) + 1);
    expect(ranges.length).toBeGreaterThanOrEqual(5);
    for (const n of ranges) expect(n).toBeLessThanOrEqual(500);
  } finally {
    lrange.mockRestore();
  }
});

it('the cache holds at most its byte bound: least recently used copies go first', async () => {
  const cache = new HistoryCache(5_000);
  const ids = await Promise.all([0, 1, 2].map(() => newSession([user('z'.repeat(2_000))])));
  for (const id of ids) {
    const k = workerA.sessionKeys(id);
    const state = { length: 1, lastHash: sha1Hex((await redis.lindex(k.messages, 0)) as string), incarnation: (await workerA.incarnation(id)) as string };
    await cache.read(redis, k.messages, id, state);
  }
  expect(cache.bytes).toBeLessThanOrEqual(5_000);
  // The first session's copy was dropped (a miss), the last one's kept (a hit).
  const read = async (id: string) => {
    const k = workerA.sessionKeys(id);
    const state = { length: 1, lastHash: sha1Hex((await redis.lindex(k.messages, 0)) as string), incarnation: (await workerA.incarnation(id)) as string };
    return cache.read(redis, k.messages, id, state);
  };
  const { hits, misses } = cache.stats;
  await read(ids[2] as string);
  expect(cache.stats.hits).toBe(hits + 1);
  await read(ids[0] as string);
  expect(cache.stats.misses).toBe(misses + 1);
  expect(cache.bytes).toBeLessThanOrEqual(5_000);
});
