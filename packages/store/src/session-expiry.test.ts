import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import type { Redis } from 'ioredis';
import type { ChatMessage } from '@baton/core';
import { waitUntil } from '@baton/devtools';
import { SessionStore } from './session-store.ts';
import { TenantUsage } from './tenant-usage.ts';

/**
 * SESSION_TTL_S at the store: which writes start a session's idle expiry, which stop it, and what
 * the reaper's sweep (and a create of the same id) releases once Redis has expired the keys.
 */
const TENANT = 't_expiry';
const LONG = 60_000;
/** Short enough to wait for (by polling Redis, not sleeping). */
const SHORT = 200;

let redis: Redis;
let prefix: string;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
});

const user = (content: string): ChatMessage => ({ role: 'user', content });
const reply = (content: string) => ({ ok: true as const, reply: { role: 'assistant' as const, content } });
const makeStore = (sessionTtlMs?: number) =>
  new SessionStore(redis, { prefix, runningGraceMs: 5_000, ...(sessionTtlMs ? { sessionTtlMs } : {}) });

async function create(store: SessionStore, sessionId: string = randomUUID(), state: ChatMessage[] = [user('hello')]): Promise<string> {
  expect(await store.create({ sessionId, agent: 'echo', tenant: TENANT, state })).toBe(true);
  return sessionId;
}

/** PTTL of the session's keys that hold data (-1: no expiry, -2: no key). */
async function ttls(store: SessionStore, id: string) {
  const k = store.sessionKeys(id);
  const [meta, messages, stream] = await Promise.all([redis.pttl(k.meta), redis.pttl(k.messages), redis.pttl(k.stream)]);
  return { meta, messages, stream };
}

const expired = (store: SessionStore, id: string) => waitUntil(async () => (await redis.exists(store.sessionKeys(id).meta)) === 0, { what: 'Redis to expire the session' });

describe('idle expiry of a session made with sessionTtlMs', () => {
  it('runs while idle, stops while a turn runs or is queued, starts again when the last turn ends', async () => {
    const store = makeStore(LONG);
    const id = await create(store);
    let t = await ttls(store, id);
    expect(t.meta).toBeGreaterThan(0);
    expect(t.meta).toBeLessThanOrEqual(LONG);
    expect(t.messages).toBeGreaterThan(0);

    const first = randomUUID();
    expect((await store.submit({ sessionId: id, turnId: first, message: user('one'), webhook: null, policy: 'reject' })).kind).toBe('started');
    const second = randomUUID();
    expect((await store.submit({ sessionId: id, turnId: second, message: user('two'), webhook: null, policy: 'enqueue' })).kind).toBe('queued');
    t = await ttls(store, id);
    expect([t.meta, t.messages]).toEqual([-1, -1]);

    // The first turn ends; the queued one starts: still no expiry.
    const claim = await store.claim(id, first);
    expect(claim.kind).toBe('ok');
    const finished = await store.finish(id, first, claim.kind === 'ok' ? claim.fence : '', reply('one back'));
    expect(finished).toMatchObject({ kind: 'ok', nextTurnId: second });
    t = await ttls(store, id);
    expect([t.meta, t.messages]).toEqual([-1, -1]);
    // The stream keeps its own clock (STREAM_TTL_S, 10 min by default) while a turn runs.
    expect(t.stream).toBeGreaterThan(LONG);

    // The last turn ends: the clock runs again, the stream cut to it (never outliving the session).
    await store.finish(id, second, '*', { ok: false, error: 'boom' });
    t = await ttls(store, id);
    for (const left of [t.meta, t.messages, t.stream, await redis.pttl(store.sessionKeys(id).turns)]) {
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(LONG);
    }
  });

  it('takes the time index of the history along: its early set expires with the history', async () => {
    let clock = 1_700_000_000_000;
    const store = new SessionStore(redis, { prefix, runningGraceMs: 5_000, sessionTtlMs: LONG, now: () => clock });
    const id = await create(store);
    const first = randomUUID();
    await store.submit({ sessionId: id, turnId: first, message: user('one'), webhook: null, policy: 'reject' });
    clock += 1;
    const second = randomUUID();
    await store.submit({ sessionId: id, turnId: second, message: user('two'), webhook: null, policy: 'enqueue' });
    clock += 5;
    const claim = await store.claim(id, first);
    // 'two' starts after the reply to 'one', with its earlier time: an early entry.
    await store.finish(id, first, claim.kind === 'ok' ? claim.fence : '', reply('one back'));
    const early = store.sessionKeys(id).early;
    expect(await redis.zcard(early)).toBe(1);
    expect(await redis.pttl(early)).toBe(-1);
    await store.finish(id, second, '*', reply('two back'));
    const left = await redis.pttl(early);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(LONG);
  });

  it('does not run while a paused session holds queued messages', async () => {
    const store = makeStore(LONG);
    const id = await create(store);
    await store.pause(id);
    expect((await store.submit({ sessionId: id, turnId: randomUUID(), message: user('later'), webhook: null, policy: 'enqueue' })).kind).toBe('queued');
    expect((await store.get(id))?.status).toBe('idle');
    expect(await ttls(store, id)).toMatchObject({ meta: -1, messages: -1 });
  });

  it('caps the Idempotency-Key record of a message at the session ttl', async () => {
    const store = new SessionStore(redis, { prefix, runningGraceMs: 5_000, sessionTtlMs: LONG, requestTtlMs: 86_400_000 });
    const id = await create(store);
    const request = { key: 'k-1', fingerprint: 'f-1' };
    await store.submit({ sessionId: id, turnId: randomUUID(), message: user('once'), webhook: null, policy: 'reject', request });
    const [record] = await redis.keys(`${store.sessionKeys(id).meta}:request:*`);
    expect(await redis.pttl(record as string)).toBeLessThanOrEqual(LONG);
  });

  it('is not set for sessions made without a ttl', async () => {
    const store = makeStore();
    const id = await create(store);
    expect(await ttls(store, id)).toMatchObject({ meta: -1, messages: -1 });
    expect(await redis.exists(store.sessionKeys(id).expiry)).toBe(0);
    expect(await redis.zcard(store.keys.expiring)).toBe(0);
  });
});

describe('releasing an expired session', () => {
  it('the sweep takes it off the indexes and its bytes off its tenant; a live session is looked at again when it expires', async () => {
    const store = makeStore(SHORT);
    const usage = new TenantUsage(redis, prefix, 1_000_000);
    const id = await create(store);
    await usage.add(id, 120);
    const live = await create(makeStore(LONG));
    expect(await store.count(TENANT)).toBe(2);
    expect(await usage.used(TENANT)).toBe(120);

    await expired(store, id);
    // Gone from Redis, still counted until the sweep.
    expect(await store.get(id)).toBeNull();
    expect(await store.count(TENANT)).toBe(2);
    const swept = await store.expiry.sweep(100, Date.now() + LONG);
    expect(swept).toEqual({ due: 2, released: 1, failed: 0 });
    expect(await store.count(TENANT)).toBe(1);
    expect(await store.count()).toBe(1);
    expect(await usage.used(TENANT)).toBe(0);
    expect((await store.list(10, undefined, TENANT)).items.map((s) => s.session_id)).toEqual([live]);
    expect(await redis.exists(store.sessionKeys(id).expiry)).toBe(0);
    // The live one's entry now waits for its own expiry.
    expect(await redis.zrange(store.keys.expiring, 0, -1)).toEqual([live]);
    const lookAt = Number(await redis.zscore(store.keys.expiring, live));
    expect(lookAt).toBeGreaterThan(Date.now() + LONG / 2);
  });

  it('a create of the same id before the sweep releases what the expired session left, and keeps its own entry', async () => {
    const store = makeStore(SHORT);
    const usage = new TenantUsage(redis, prefix, 1_000_000);
    const id = await create(store, randomUUID(), [user('old secret')]);
    await usage.add(id, 80);
    await expired(store, id);

    await create(makeStore(LONG), id, []);
    expect(await store.count(TENANT)).toBe(1);
    expect(await usage.used(TENANT)).toBe(0);
    expect(await store.messages(id)).toEqual([]);
    expect((await store.list(10, undefined, TENANT)).items).toHaveLength(1);
    // The new session is not released by a sweep: it lives.
    expect(await store.expiry.sweep(100, Date.now() + LONG)).toMatchObject({ released: 0, failed: 0 });
    expect(await store.count(TENANT)).toBe(1);
    expect(await redis.zcard(store.keys.expiring)).toBe(1);
  });

  it('the entry of a deleted session is dropped by the sweep, with nothing to release', async () => {
    const store = makeStore(LONG);
    const id = await create(store);
    expect(await store.delete(id)).not.toBeNull();
    expect(await redis.exists(store.sessionKeys(id).expiry)).toBe(0);
    expect(await store.expiry.sweep(100, Date.now() + LONG)).toEqual({ due: 1, released: 0, failed: 0 });
    expect(await redis.zcard(store.keys.expiring)).toBe(0);
  });
});
