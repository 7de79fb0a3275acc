import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { Redis } from 'ioredis';
import { waitForReady } from './connections.ts';
import type { ChatMessage } from '@baton/core';
import { SessionStore } from './session-store.ts';
import { type StreamEvent, compareStreamIds, parseStreamId } from './session-stream.ts';

const TTL = 60_000;

let redis: Redis;
let prefix: string;
let store: SessionStore;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
  store = new SessionStore(redis, { prefix, runningGraceMs: 5_000, streamTtlMs: TTL });
});

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

async function newSession(): Promise<string> {
  const sessionId = randomUUID();
  expect(await store.create({ sessionId, agent: 'echo', tenant: '', state: [] })).toBe(true);
  return sessionId;
}

async function submit(sessionId: string, content: string, policy: 'reject' | 'enqueue' = 'reject') {
  const turnId = randomUUID();
  const result = await store.submit({ sessionId, turnId, message: user(content), webhook: null, policy });
  return { turnId, result };
}

async function claim(sessionId: string, turnId: string): Promise<string> {
  const claimed = await store.claim(sessionId, turnId);
  if (claimed.kind !== 'ok') throw new Error(`claim: ${claimed.kind}`);
  return claimed.fence;
}

/** Every event of the session's stream, as [type, data]. */
async function events(sessionId: string): Promise<[string, unknown][]> {
  const read = await store.streams.read(sessionId, '0-0');
  if (!read) throw new Error('no session');
  return read.events.map((e) => [e.type, JSON.parse(e.data)]);
}

function expectIncreasing(list: StreamEvent[]): void {
  for (let i = 1; i < list.length; i++) expect(compareStreamIds(list[i - 1]!.id, list[i]!.id)).toBe(-1);
}

describe('stream writes of the store scripts', () => {
  it('a turn writes status running, then its deltas, message and status idle, in order', async () => {
    const id = await newSession();
    expect(await events(id)).toEqual([]);
    const { turnId } = await submit(id, 'hi');
    const fence = await claim(id, turnId);
    expect(await store.streams.appendDelta(id, turnId, fence, 'ec', 0)).toMatch(/^\d+-\d+$/);
    expect(await store.streams.appendDelta(id, turnId, fence, 'ho', 2)).toMatch(/^\d+-\d+$/);
    await store.finish(id, turnId, fence, { ok: true, reply: assistant('echo') });
    expect(await events(id)).toEqual([
      ['status', { status: 'running', turn_id: turnId }],
      ['delta', { turn_id: turnId, content: 'ec', offset: 0 }],
      ['delta', { turn_id: turnId, content: 'ho', offset: 2 }],
      ['message', { turn_id: turnId, message: assistant('echo') }],
      ['status', { status: 'idle', turn_id: turnId }],
    ]);
    expectIncreasing((await store.streams.read(id, '0-0'))!.events);
  });

  it('a failed turn writes error then status error; a queued message starts with status running', async () => {
    const id = await newSession();
    const first = await submit(id, 'one');
    const second = await submit(id, 'two', 'enqueue');
    expect(second.result.kind).toBe('queued');
    await store.finish(id, first.turnId, await claim(id, first.turnId), { ok: false, error: 'Agent failed: boom' });
    await store.finish(id, second.turnId, await claim(id, second.turnId), { ok: false, error: 'Turn cancelled', cancelled: true });
    expect(await events(id)).toEqual([
      ['status', { status: 'running', turn_id: first.turnId }],
      ['error', { turn_id: first.turnId, error: 'Agent failed: boom' }],
      ['status', { status: 'running', turn_id: second.turnId }],
      ['error', { turn_id: second.turnId, error: 'Turn cancelled' }],
      ['status', { status: 'idle', turn_id: second.turnId }],
    ]);
  });

  it('resuming a paused session writes the queued turn’s status running; refused messages write nothing', async () => {
    const id = await newSession();
    await store.pause(id);
    const queued = await submit(id, 'later', 'enqueue');
    expect(queued.result).toMatchObject({ kind: 'queued', runningTurnId: '' });
    expect((await submit(id, 'no')).result.kind).toBe('paused');
    expect(await events(id)).toEqual([]);
    await store.resume(id);
    expect(await events(id)).toEqual([['status', { status: 'running', turn_id: queued.turnId }]]);
    expect((await submit(id, 'busy')).result.kind).toBe('busy');
    expect(await events(id)).toHaveLength(1);
  });

  it('refuses deltas of a turn that is not running under that fence, and never re-creates a deleted stream', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'q');
    const oldFence = await claim(id, turnId);
    const fence = await claim(id, turnId); // taken over: the first claimant is stale
    expect(await store.streams.appendDelta(id, turnId, oldFence, 'stale', 0)).toBeNull();
    expect(await store.streams.appendDelta(id, randomUUID(), fence, 'other turn', 0)).toBeNull();
    expect(await store.streams.appendDelta(id, turnId, fence, 'ok', 0)).not.toBeNull();
    await store.finish(id, turnId, fence, { ok: true, reply: assistant('done') });
    expect(await store.streams.appendDelta(id, turnId, fence, 'after the end', 2)).toBeNull();
    expect((await events(id)).filter(([type]) => type === 'delta')).toEqual([['delta', { turn_id: turnId, content: 'ok', offset: 0 }]]);

    const k = store.sessionKeys(id);
    expect(await redis.exists(k.stream)).toBe(1);
    await store.delete(id);
    expect(await redis.exists(k.stream)).toBe(0);
    expect(await store.streams.appendDelta(id, turnId, fence, 'late', 2)).toBeNull();
    expect(await redis.exists(k.stream)).toBe(0);
  });

  it('announces each entry, and the deletion, on the stream’s channel', async () => {
    const id = await newSession();
    const subscriber = new Redis(inject('redisUrl'));
    // Ready first: SUBSCRIBE sent before ioredis's ready check (INFO) makes that check fail.
    await waitForReady(subscriber, inject('redisUrl'));
    try {
      const seen: string[] = [];
      subscriber.on('message', (_channel: string, message: string) => seen.push(message));
      await subscriber.subscribe(store.streams.channel(id));
      const { turnId } = await submit(id, 'q');
      const fence = await claim(id, turnId);
      await store.streams.appendDelta(id, turnId, fence, 'x', 0);
      await store.finish(id, turnId, fence, { ok: true, reply: assistant('y') });
      await store.delete(id);
      // A marker published after the deletion arrives after everything before it.
      const marker = once(subscriber, 'message');
      await redis.publish(store.streams.channel(id), 'end');
      await marker;
      expect(seen).toEqual(['status', 'delta', 'message', 'status', 'deleted', 'end']);
    } finally {
      subscriber.disconnect();
    }
  });

  it('keeps the stream to about 1,000 entries and expires it TTL after the newest', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'long');
    const fence = await claim(id, turnId);
    const pipeline = [];
    for (let i = 0; i < 1500; i++) pipeline.push(store.streams.appendDelta(id, turnId, fence, 'x', i));
    await Promise.all(pipeline);
    const k = store.sessionKeys(id);
    const length = await redis.xlen(k.stream);
    expect(length).toBeGreaterThanOrEqual(1000);
    expect(length).toBeLessThan(1200);
    const ttl = await redis.pttl(k.stream);
    expect(ttl).toBeGreaterThan(TTL - 5_000);
    expect(ttl).toBeLessThanOrEqual(TTL);
  });
});

describe('open / read', () => {
  it('answers null for a session that does not exist', async () => {
    expect(await store.streams.open(randomUUID(), null)).toBeNull();
    expect(await store.streams.open(randomUUID(), '1-0')).toBeNull();
    expect(await store.streams.read(randomUUID(), '0-0')).toBeNull();
  });

  it('without an id: a snapshot of the state as of the newest event', async () => {
    const id = await newSession();
    const empty = await store.streams.open(id, null);
    expect(empty).toMatchObject({ kind: 'snapshot', resync: false, event: { id: '0-0', type: 'status' } });
    if (empty?.kind !== 'snapshot') throw new Error('expected a snapshot');
    expect(JSON.parse(empty.event.data)).toEqual({ status: 'idle', turn_id: null, snapshot: true });

    const { turnId } = await submit(id, 'q');
    const snap = await store.streams.open(id, null);
    if (snap?.kind !== 'snapshot') throw new Error('expected a snapshot');
    const [newest] = (await store.streams.read(id, '0-0'))!.events.slice(-1);
    expect(snap.event.id).toBe(newest!.id);
    expect(JSON.parse(snap.event.data)).toEqual({ status: 'running', turn_id: turnId, snapshot: true });
    // Following from the snapshot's id gets exactly what comes next.
    const fence = await claim(id, turnId);
    await store.finish(id, turnId, fence, { ok: true, reply: assistant('a') });
    const next = await store.streams.read(id, snap.event.id);
    expect(next?.events.map((e) => e.type)).toEqual(['message', 'status']);
    expect(next?.createdAt).toBe(snap.createdAt);
  });

  it('with an id: exactly the events after it; 0-0 reads everything kept', async () => {
    const id = await newSession();
    for (const content of ['a', 'b']) {
      const { turnId } = await submit(id, content);
      await store.finish(id, turnId, await claim(id, turnId), { ok: true, reply: assistant(content) });
    }
    const all = (await store.streams.read(id, '0-0'))!.events;
    expect(all).toHaveLength(6);
    for (let i = 0; i < all.length; i++) {
      const opened = await store.streams.open(id, all[i]!.id);
      expect(opened).toEqual({ kind: 'events', createdAt: expect.any(String), events: all.slice(i + 1), more: false });
    }
    expect(await store.streams.open(id, '0-0')).toMatchObject({ kind: 'events', events: all });
    // `count` pages through.
    expect((await store.streams.read(id, all[1]!.id, 2))!.events).toEqual(all.slice(2, 4));
  });

  it('maxBytes: no more event data than asked for (one event at least, however large), and says more are waiting', async () => {
    const id = await newSession();
    for (const content of ['x'.repeat(3000), 'y'.repeat(3000)]) {
      const { turnId } = await submit(id, content);
      await store.finish(id, turnId, await claim(id, turnId), { ok: true, reply: assistant(content) });
    }
    const all = (await store.streams.read(id, '0-0'))!.events;
    const size = (e: { type: string; data: string }) => e.type.length + e.data.length;
    // status, message (3000+), status, status, message (3000+), status
    const limited = (await store.streams.read(id, '0-0', 500, 1000))!;
    expect(limited).toMatchObject({ more: true, events: all.slice(0, 1) });
    const big = (await store.streams.read(id, all[0]!.id, 500, 1000))!;
    expect(big).toMatchObject({ more: true, events: all.slice(1, 2) });
    expect(size(big.events[0]!)).toBeGreaterThan(1000);
    const budget = size(all[2]!) + size(all[3]!);
    expect(await store.streams.open(id, all[1]!.id, 500, budget)).toMatchObject({ kind: 'events', more: true, events: all.slice(2, 4) });
    expect(await store.streams.read(id, all[3]!.id, 500, 100_000)).toMatchObject({ more: false, events: all.slice(4) });
  });

  it('resyncs with a snapshot when events after the id are gone (trimmed, expired) or the id is from the future', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'q');
    const fence = await claim(id, turnId);
    const [running] = (await store.streams.read(id, '0-0'))!.events;
    for (let i = 0; i < 1500; i++) await store.streams.appendDelta(id, turnId, fence, 'x', i);
    const kept = (await store.streams.read(id, '0-0', 5000))!.events;
    expect(compareStreamIds(running!.id, kept[0]!.id)).toBe(-1); // the first event was trimmed

    const trimmed = await store.streams.open(id, running!.id);
    expect(trimmed).toMatchObject({ kind: 'snapshot', resync: true, event: { id: kept[kept.length - 1]!.id, type: 'status' } });
    if (trimmed?.kind !== 'snapshot') throw new Error('expected a snapshot');
    expect(JSON.parse(trimmed.event.data)).toEqual({ status: 'running', turn_id: turnId, snapshot: true, resync: true });
    // The oldest entry kept, and any after it, still read normally.
    expect(await store.streams.open(id, kept[0]!.id)).toMatchObject({ kind: 'events', events: kept.slice(1, 501) });

    const [ms] = kept[kept.length - 1]!.id.split('-');
    expect(await store.streams.open(id, `${Number(ms) + 60_000}-0`)).toMatchObject({ kind: 'snapshot', resync: true });

    await redis.del(store.sessionKeys(id).stream); // as when it expires
    expect(await store.streams.open(id, kept[0]!.id)).toMatchObject({ kind: 'snapshot', resync: true, event: { id: '0-0' } });
  });

  it('read reports a deleted session as null, and a re-created one by its new created_at', async () => {
    let clock = 1_700_000_000_000;
    const clocked = new SessionStore(redis, { prefix, runningGraceMs: 5_000, now: () => clock });
    const id = randomUUID();
    await clocked.create({ sessionId: id, agent: 'echo', tenant: '', state: [] });
    const opened = await clocked.streams.open(id, null);
    expect(opened?.createdAt).toBe(String(clock));
    await clocked.delete(id);
    expect(await clocked.streams.read(id, '0-0')).toBeNull();
    clock += 1;
    expect(await clocked.create({ sessionId: id, agent: 'echo', tenant: '', state: [] })).toBe(true);
    expect((await clocked.streams.read(id, '0-0'))?.createdAt).toBe(String(clock));
  });
});

describe('parseStreamId / compareStreamIds', () => {
  it('normalizes Last-Event-IDs and refuses anything else', () => {
    expect(parseStreamId('1700000000000-3')).toBe('1700000000000-3');
    expect(parseStreamId(' 42 ')).toBe('42-0');
    expect(parseStreamId('0')).toBe('0-0');
    for (const bad of ['', '-', '1-', 'abc', '1-2-3', '1.5', '-1', '18446744073709551616-0', '1-18446744073709551616']) {
      expect(parseStreamId(bad), bad).toBeNull();
    }
  });

  it('orders by time, then sequence', () => {
    expect(compareStreamIds('1-0', '2-0')).toBe(-1);
    expect(compareStreamIds('2-0', '1-9')).toBe(1);
    expect(compareStreamIds('5-1', '5-10')).toBe(-1);
    expect(compareStreamIds('5-3', '5-3')).toBe(0);
    expect(compareStreamIds('18446744073709551615-0', '18446744073709551614-9')).toBe(1);
  });
});
