import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { Redis } from 'ioredis';
import { waitForReady } from './connections.ts';
import type { ChatMessage, SessionView, WebhookSpec } from '@baton/core';
import { SessionStore } from './session-store.ts';
import { listCursor } from './session-view.ts';

const GRACE = 5_000;
const T0 = 1_700_000_000_000;

let redis: Redis;
let prefix: string;
let clock: number;
let store: SessionStore;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
  clock = T0;
  store = new SessionStore(redis, { prefix, runningGraceMs: GRACE, now: () => clock });
});

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

async function newSession(state: ChatMessage[] = []): Promise<string> {
  const sessionId = randomUUID();
  expect(await store.create({ sessionId, agent: 'echo', tenant: '', state })).toBe(true);
  return sessionId;
}

async function submit(sessionId: string, content: string, policy: 'reject' | 'enqueue' = 'reject', webhook: WebhookSpec | null = null) {
  const turnId = randomUUID();
  const result = await store.submit({ sessionId, turnId, message: user(content), webhook, policy });
  return { turnId, result };
}

/** Every key under this test's prefix, found with SCAN. */
async function keysUnder(pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

describe('create / get', () => {
  it('creates an idle session holding its initial state', async () => {
    const state = [{ role: 'system', content: 'be brief' } as ChatMessage, user('hi'), assistant('hello')];
    const id = await newSession(state);
    const view = await store.get(id);
    expect(view).toEqual({
      session_id: id,
      status: 'idle',
      response: null,
      error: null,
      agent: 'echo',
      tenant: '',
      paused: false,
      archived: false,
      attributes: {},
      total_messages: 3,
      pending_messages: 0,
      turn_id: null,
      interrupts: [],
      created_at: new Date(T0).toISOString(),
      updated_at: new Date(T0).toISOString(),
    });
    expect(await store.messages(id)).toEqual(state);
    expect(await store.count()).toBe(1);
  });

  it('refuses to create a session that exists, without a second index entry', async () => {
    const id = await newSession([user('first')]);
    clock += 1000;
    expect(await store.create({ sessionId: id, agent: 'openai', tenant: '', state: [user('second')] })).toBe(false);
    expect(await store.count()).toBe(1);
    expect(await store.messages(id)).toEqual([user('first')]);
    expect((await store.get(id))?.agent).toBe('echo');
  });

  it('answers null for a session that does not exist', async () => {
    expect(await store.get(randomUUID())).toBeNull();
    expect(await store.messages(randomUUID())).toBeNull();
  });

  it('keeps prefixes apart', async () => {
    const id = await newSession();
    const other = new SessionStore(redis, { prefix: `${prefix}-other`, runningGraceMs: GRACE });
    expect(await other.get(id)).toBeNull();
    expect(await other.count()).toBe(0);
  });
});

describe('submit', () => {
  it('answers not_found for an unknown session', async () => {
    const { result } = await submit(randomUUID(), 'hello');
    expect(result).toEqual({ kind: 'not_found' });
  });

  it('starts a turn on an idle session', async () => {
    const id = await newSession();
    clock += 10;
    const { turnId, result } = await submit(id, 'hello');
    expect(result).toEqual({ kind: 'started', turnId });
    expect(await store.get(id)).toMatchObject({
      status: 'running',
      turn_id: turnId,
      interrupts: [],
      total_messages: 1,
      pending_messages: 0,
      updated_at: new Date(T0 + 10).toISOString(),
    });
    expect(await store.messages(id)).toEqual([user('hello')]);
    expect(await store.running.turn(id)).toEqual({ status: 'running', turnId, acceptedAt: T0 + 10, run: 0 });
  });

  it('answers busy while a turn runs, with the reject policy, and stores nothing', async () => {
    const id = await newSession();
    const first = await submit(id, 'one');
    const { result } = await submit(id, 'two', 'reject');
    expect(result).toEqual({ kind: 'busy', status: 'running' });
    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: first.turnId, total_messages: 1, pending_messages: 0 });
  });

  it('queues behind the running turn, with the enqueue policy', async () => {
    const id = await newSession();
    const first = await submit(id, 'one');
    const second = await submit(id, 'two', 'enqueue');
    expect(second.result).toEqual({ kind: 'queued', turnId: second.turnId, runningTurnId: first.turnId });
    const third = await submit(id, 'three', 'enqueue');
    expect(third.result).toMatchObject({ kind: 'queued', runningTurnId: first.turnId });
    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: first.turnId, total_messages: 1, pending_messages: 2 });
  });
});

describe('submit under an Idempotency-Key', () => {
  const request = (key: string, fingerprint = 'fp-1') => ({ key, fingerprint });
  const send = (sessionId: string, content: string, policy: 'reject' | 'enqueue', key: ReturnType<typeof request>) =>
    store.submit({ sessionId, turnId: randomUUID(), message: user(content), webhook: null, policy, request: key });

  it('a retry gets the turn the first request started, and the message is stored once', async () => {
    const id = await newSession();
    const first = await send(id, 'hello', 'reject', request('k1'));
    expect(first.kind).toBe('started');
    clock += 1_000; // a retry comes later: a new turn id and a new time, as from a new request
    const retry = await send(id, 'hello', 'reject', request('k1'));
    expect(retry).toEqual(first);
    expect(await store.messages(id)).toEqual([user('hello')]);
    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: (first as { turnId: string }).turnId, pending_messages: 0 });
  });

  it('a retry of a queued message gets its queued turn, not a refusal and not a second copy', async () => {
    const id = await newSession();
    const running = await submit(id, 'one');
    const queued = await send(id, 'two', 'enqueue', request('k2'));
    expect(queued).toMatchObject({ kind: 'queued', runningTurnId: running.turnId });
    // Sent with `reject` this time: the first request's outcome stands.
    expect(await send(id, 'two', 'reject', request('k2'))).toEqual(queued);
    expect(await store.get(id)).toMatchObject({ total_messages: 1, pending_messages: 1 });
  });

  it('the same key with a different request is refused; another key is a new message', async () => {
    const id = await newSession();
    const first = await send(id, 'hello', 'enqueue', request('k3', 'fp-1'));
    expect(await send(id, 'hello', 'enqueue', request('k3', 'fp-2'))).toEqual({ kind: 'reused' });
    const other = await send(id, 'hello', 'enqueue', request('k4', 'fp-1'));
    expect(other).toMatchObject({ kind: 'queued', runningTurnId: (first as { turnId: string }).turnId });
    expect(await store.get(id)).toMatchObject({ total_messages: 1, pending_messages: 1 });
  });

  it('a refusal records nothing: a retry once the session is free starts the turn', async () => {
    const id = await newSession();
    const running = await submit(id, 'one');
    expect(await send(id, 'two', 'reject', request('k5'))).toEqual({ kind: 'busy', status: 'running' });
    await store.finish(id, running.turnId, '*', { ok: true, reply: assistant('echo: one') });
    const retry = await send(id, 'two', 'reject', request('k5'));
    expect(retry.kind).toBe('started');
    expect(await store.messages(id)).toEqual([user('one'), assistant('echo: one'), user('two')]);
  });

  it('the record is kept for requestTtlMs', async () => {
    const ttlStore = new SessionStore(redis, { prefix, runningGraceMs: GRACE, requestTtlMs: 60_000, now: () => clock });
    const id = await newSession();
    await ttlStore.submit({ sessionId: id, turnId: randomUUID(), message: user('x'), webhook: null, policy: 'reject', request: request('k6') });
    const [key] = await keysUnder(`${prefix}:sess:{${id}}:request:*`);
    expect(await redis.pttl(key!)).toBeGreaterThan(59_000);
    expect(await redis.pttl(key!)).toBeLessThanOrEqual(60_000);
  });
});

describe('reasoning fields (Motus)', () => {
  it('keeps reasoning and reasoning_details of messages as given, in the history and at claim', async () => {
    const thought: ChatMessage = { role: 'assistant', content: 'hi', reasoning: 'Said hi.', reasoning_details: [{ type: 'reasoning.text', text: 'Said hi.', index: 0 }] };
    const id = await newSession([user('hello'), thought]);
    expect(await store.messages(id)).toEqual([user('hello'), thought]);
    const { turnId } = await submit(id, 'again');
    const claimed = await store.claim(id, turnId);
    expect(claimed.kind === 'ok' && claimed.history[1]).toStrictEqual(thought);
  });
});

describe('claim', () => {
  it('returns the agent and the history, and bumps the fence on every claim', async () => {
    const id = await newSession([assistant('earlier')]);
    const { turnId } = await submit(id, 'now');
    const first = await store.claim(id, turnId);
    expect(first).toEqual({
      kind: 'ok',
      fence: '1',
      agent: 'echo',
      cancelled: false,
      history: [assistant('earlier'), user('now')],
      steps: 0,
      turnStart: 2,
      outboxPending: false,
      config: {},
    });
    const second = await store.claim(id, turnId);
    expect(second).toMatchObject({ kind: 'ok', fence: '2' });
  });

  it("returns the session's agent config as stored at create ({} without one)", async () => {
    const sessionId = randomUUID();
    const config = { model: 'gpt-x', temperature: 0.2, nested: { ok: true } };
    expect(await store.create({ sessionId, agent: 'assistant', tenant: '', state: [], config })).toBe(true);
    const turnId = randomUUID();
    await store.submit({ sessionId, turnId, message: { role: 'user', content: 'go', user_params: { units: 'metric' } }, webhook: null, policy: 'reject' });
    const claimed = await store.claim(sessionId, turnId);
    expect(claimed).toMatchObject({ kind: 'ok', agent: 'assistant', config });
    // The message's user_params are stored with it, for the agent to read.
    expect(claimed.kind === 'ok' && claimed.history.at(-1)).toEqual({ role: 'user', content: 'go', user_params: { units: 'metric' } });

    const other = await newSession();
    const { turnId: plain } = await submit(other, 'no config');
    expect(await store.claim(other, plain)).toMatchObject({ kind: 'ok', config: {} });
  });

  it('answers stale for a turn that is not the running one, gone for a missing session', async () => {
    const id = await newSession();
    expect(await store.claim(id, randomUUID())).toEqual({ kind: 'stale' }); // idle
    await submit(id, 'x');
    expect(await store.claim(id, randomUUID())).toEqual({ kind: 'stale' }); // another turn runs
    expect(await store.claim(randomUUID(), randomUUID())).toEqual({ kind: 'gone' });
  });
});

describe('finish', () => {
  it('refuses the result of an earlier claimant once the turn was claimed again (fence)', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'q');
    const lost = await store.claim(id, turnId);
    const taken = await store.claim(id, turnId);
    if (lost.kind !== 'ok' || taken.kind !== 'ok') throw new Error('claims failed');

    expect(await store.finish(id, turnId, lost.fence, { ok: true, reply: assistant('old') })).toEqual({ kind: 'stale' });
    // Nothing of the stale result was written.
    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: turnId, total_messages: 1 });

    expect(await store.finish(id, turnId, taken.fence, { ok: true, reply: assistant('new') })).toEqual({
      kind: 'ok',
      status: 'idle',
      notify: false,
      nextTurnId: null,
      cancelled: false,
    });
    // No webhook anywhere: nothing goes to the outbox.
    expect(await redis.llen(store.sessionKeys(id).outbox)).toBe(0);
    expect(await store.messages(id)).toEqual([user('q'), assistant('new')]);
  });

  it('answers stale for a turn that is no longer the running one', async () => {
    const id = await newSession();
    const first = await submit(id, 'one');
    const claim = await store.claim(id, first.turnId);
    if (claim.kind !== 'ok') throw new Error('claim failed');
    expect(await store.finish(id, first.turnId, claim.fence, { ok: true, reply: assistant('a') })).toMatchObject({ kind: 'ok' });
    // Finishing it again, while idle: stale.
    expect(await store.finish(id, first.turnId, claim.fence, { ok: true, reply: assistant('again') })).toEqual({ kind: 'stale' });
    // And while a later turn runs (even with the reaper's wildcard fence): stale.
    const second = await submit(id, 'two');
    expect(await store.finish(id, first.turnId, '*', { ok: false, error: 'late' })).toEqual({ kind: 'stale' });
    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: second.turnId, total_messages: 3, error: null });
  });

  it('answers gone for a deleted session', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'q');
    const claim = await store.claim(id, turnId);
    if (claim.kind !== 'ok') throw new Error('claim failed');
    expect(await store.delete(id)).not.toBeNull();
    expect(await store.finish(id, turnId, claim.fence, { ok: true, reply: assistant('a') })).toEqual({ kind: 'gone' });
    // The finish did not bring any of the session's keys back; only the outbox, holding
    // the turn's cancelled event for the webhook dispatcher, outlives the session (and, for
    // a minute, the delete's tombstone, for a resend of that delete).
    expect(await keysUnder(`${prefix}:sess:*`)).toEqual([`${store.sessionKeys(id).meta}:deleted`, store.sessionKeys(id).outbox]);
  });

  it('the reaper fence "*" finishes whatever the claims', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'q');
    await store.claim(id, turnId);
    expect(await store.finish(id, turnId, '*', { ok: false, error: 'job lost' })).toMatchObject({ kind: 'ok', status: 'error' });
  });

  it('records an error outcome: status error with the error text, nothing appended', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'q');
    const claim = await store.claim(id, turnId);
    if (claim.kind !== 'ok') throw new Error('claim failed');
    clock += 42;
    const result = await store.finish(id, turnId, claim.fence, { ok: false, error: 'Agent failed: boom' });
    expect(result).toEqual({ kind: 'ok', status: 'error', notify: false, nextTurnId: null, cancelled: false });
    expect(await store.get(id)).toMatchObject({
      status: 'error',
      error: 'Agent failed: boom',
      response: null,
      turn_id: turnId,
      total_messages: 1,
      updated_at: new Date(T0 + 42).toISOString(),
    });
    expect(await store.messages(id)).toEqual([user('q')]);
    // A session in error accepts the next message.
    expect((await submit(id, 'retry')).result.kind).toBe('started');
    expect(await store.get(id)).toMatchObject({ status: 'running', error: null });
  });

  it('records a reply: status idle, response shown, reply appended', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'q');
    const claim = await store.claim(id, turnId);
    if (claim.kind !== 'ok') throw new Error('claim failed');
    await store.finish(id, turnId, claim.fence, { ok: true, reply: assistant('a') });
    expect(await store.get(id)).toMatchObject({ status: 'idle', response: assistant('a'), error: null, total_messages: 2 });
  });

  it('promotes the next queued message: history order, nextTurnId, still running, webhooks per turn', async () => {
    const hookA: WebhookSpec = { url: 'https://example.com/a', include_messages: false };
    const hookB: WebhookSpec = { url: 'https://example.com/b', include_messages: true, token: 't' };
    const id = await newSession([{ role: 'system', content: 'sys' }]);
    const a = await submit(id, 'A', 'reject', hookA);
    clock += 100;
    const b = await submit(id, 'B', 'enqueue', hookB);
    clock += 100;
    const c = await submit(id, 'C', 'enqueue');

    const claimA = await store.claim(id, a.turnId);
    if (claimA.kind !== 'ok') throw new Error('claim failed');
    clock += 1000;
    const scheduled = Number(await redis.zscore(store.keys.running, id));
    expect(await store.finish(id, a.turnId, claimA.fence, { ok: true, reply: assistant('rA') })).toEqual({
      kind: 'ok',
      status: 'idle',
      notify: true,
      nextTurnId: b.turnId,
      cancelled: false,
    });
    // A's end, with A's webhook, is in the outbox for the webhook dispatcher.
    const [eventA] = (await redis.lrange(store.sessionKeys(id).outbox, 0, -1)).map((r) => JSON.parse(r));
    expect(eventA).toMatchObject({ turn_id: a.turnId, type: 'turn.completed', status: 'idle', error: '', history_len: 3 });
    expect(JSON.parse(eventA.webhook)).toEqual(hookA);
    expect(JSON.parse(eventA.response)).toMatchObject(assistant('rA'));
    expect(await store.get(id)).toMatchObject({
      status: 'running',
      turn_id: b.turnId,
      response: null,
      pending_messages: 1,
      total_messages: 4,
    });
    // The promoted turn keeps its own acceptance time; its reaper check is re-marked (no later).
    expect(await store.running.turn(id)).toEqual({ status: 'running', turnId: b.turnId, acceptedAt: T0 + 100, run: 0 });
    expect(Number(await redis.zscore(store.keys.running, id))).toBe(scheduled - 1);

    // B fails: the error is the finished turn's outcome, and C starts.
    const claimB = await store.claim(id, b.turnId);
    if (claimB.kind !== 'ok') throw new Error('claim failed');
    expect(claimB.history).toEqual([{ role: 'system', content: 'sys' }, user('A'), assistant('rA'), user('B')]);
    expect(await store.finish(id, b.turnId, claimB.fence, { ok: false, error: 'boom' })).toEqual({
      kind: 'ok',
      status: 'error',
      notify: true,
      nextTurnId: c.turnId,
      cancelled: false,
    });
    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: c.turnId, error: null, pending_messages: 0 });

    const claimC = await store.claim(id, c.turnId);
    if (claimC.kind !== 'ok') throw new Error('claim failed');
    expect(await store.finish(id, c.turnId, claimC.fence, { ok: true, reply: assistant('rC') })).toEqual({
      kind: 'ok',
      status: 'idle',
      notify: false,
      nextTurnId: null,
      cancelled: false,
    });
    const outbox = (await redis.lrange(store.sessionKeys(id).outbox, 0, -1)).map((r) => JSON.parse(r));
    expect(outbox.map((e) => [e.turn_id, e.type, e.error])).toEqual([
      [a.turnId, 'turn.completed', ''],
      [b.turnId, 'turn.failed', 'boom'],
    ]);
    expect(await store.messages(id)).toEqual([
      { role: 'system', content: 'sys' },
      user('A'),
      assistant('rA'),
      user('B'),
      user('C'),
      assistant('rC'),
    ]);
    expect(await store.get(id)).toMatchObject({ status: 'idle', response: assistant('rC'), pending_messages: 0 });
  });

  it('keeps messages whose text holds newlines intact through the inbox', async () => {
    const id = await newSession();
    const a = await submit(id, 'first');
    const tricky = 'line1\nline2\n\n{"json":true}\n';
    const b = await submit(id, tricky, 'enqueue', { url: 'https://example.com/x?a=1\n', include_messages: false });
    const claim = await store.claim(id, a.turnId);
    if (claim.kind !== 'ok') throw new Error('claim failed');
    await store.finish(id, a.turnId, claim.fence, { ok: true, reply: assistant('r') });
    const claimB = await store.claim(id, b.turnId);
    if (claimB.kind !== 'ok') throw new Error('claim failed');
    expect(claimB.history.at(-1)).toEqual(user(tricky));
    const done = await store.finish(id, b.turnId, claimB.fence, { ok: true, reply: assistant('r2') });
    expect(done).toMatchObject({ kind: 'ok', notify: true });
    const [event] = (await redis.lrange(store.sessionKeys(id).outbox, 0, -1)).map((r) => JSON.parse(r));
    expect(JSON.parse(event.webhook)).toMatchObject({ url: 'https://example.com/x?a=1\n' });
  });
});

describe('list', () => {
  it('pages through many sessions in creation order with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      clock = T0 + i;
      ids.push(await newSession(Array.from({ length: i % 3 }, (_, j) => user(`m${j}`))));
    }
    const seen: SessionView[] = [];
    let cursor: string | undefined;
    const pageSizes: number[] = [];
    for (let page = 0; page < 10; page++) {
      const { items, nextCursor } = await store.list(10, cursor);
      pageSizes.push(items.length);
      seen.push(...items);
      if (!nextCursor) break;
      cursor = nextCursor;
    }
    expect(pageSizes).toEqual([10, 10, 5]);
    expect(seen.map((s) => s.session_id)).toEqual(ids);
    seen.forEach((s, i) => expect(s).toMatchObject({ session_id: ids[i], total_messages: i % 3, status: 'idle' }));
    // Each item's own cursor continues the listing right after it.
    const resumed = await store.list(3, listCursor(seen[9] as SessionView));
    expect(resumed.items.map((s) => s.session_id)).toEqual(ids.slice(10, 13));
  });

  it('ends with an empty page when the count is a multiple of the limit', async () => {
    for (let i = 0; i < 4; i++) {
      clock = T0 + i;
      await newSession();
    }
    const first = await store.list(2);
    const second = await store.list(2, first.nextCursor ?? undefined);
    expect(second.items).toHaveLength(2);
    const third = await store.list(2, second.nextCursor ?? undefined);
    expect(third).toEqual({ items: [], nextCursor: null });
  });

  it('reflects current status and skips deleted sessions', async () => {
    const a = await newSession();
    clock += 1;
    const b = await newSession();
    clock += 1;
    const c = await newSession();
    await submit(a, 'x');
    await store.delete(b);
    const { items, nextCursor } = await store.list(10);
    expect(items.map((s) => [s.session_id, s.total_messages, s.status])).toEqual([
      [a, 1, 'running'],
      [c, 0, 'idle'],
    ]);
    expect(nextCursor).toBeNull();
  });

  it('skips an index entry whose session is missing and still pages on', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock = T0 + i;
      ids.push(await newSession());
    }
    // As if a process died between the delete script and the index removal.
    const k = store.sessionKeys(ids[1] as string);
    await redis.del(k.meta, k.messages);
    const first = await store.list(2);
    expect(first.items.map((s) => s.session_id)).toEqual([ids[0]]);
    expect(first.nextCursor).not.toBeNull();
    const second = await store.list(2, first.nextCursor ?? undefined);
    expect(second.items.map((s) => s.session_id)).toEqual([ids[2], ids[3]]);
    const third = await store.list(2, second.nextCursor ?? undefined);
    expect(third.items.map((s) => s.session_id)).toEqual([ids[4]]);
    expect(third.nextCursor).toBeNull();
  });
});

describe('delete', () => {
  it('removes every key of the session and its index entry, leaving other sessions alone', async () => {
    const keep = await newSession([user('keep')]);
    const id = await newSession([user('s')]);
    const running = await submit(id, 'one');
    await submit(id, 'two', 'enqueue');
    const k = store.sessionKeys(id);
    expect(await keysUnder(`${prefix}:sess:{${id}}*`)).toEqual([k.meta, k.inbox, k.messages, k.stream].sort());
    expect(await store.count()).toBe(2);

    expect(await store.delete(id)).toEqual({ status: 'running', turnId: running.turnId });

    // Only the outbox is left: both turns ended as cancelled, for the webhook dispatcher
    // (and, for a minute, the delete's tombstone, for a resend of that delete).
    expect(await keysUnder(`${prefix}:sess:{${id}}*`)).toEqual([`${k.meta}:deleted`, k.outbox]);
    expect(await redis.pttl(`${k.meta}:deleted`)).toBeLessThanOrEqual(60_000);
    const events = (await redis.lrange(k.outbox, 0, -1)).map((raw) => JSON.parse(raw));
    expect(events.map((e) => [e.turn_id === running.turnId, e.type, e.error])).toEqual([
      [true, 'turn.cancelled', 'Turn cancelled'],
      [false, 'turn.cancelled', 'Turn cancelled'],
    ]);
    expect(await store.count()).toBe(1);
    expect(await redis.zrange(store.keys.sessionIndex, 0, -1)).toEqual([expect.stringMatching(new RegExp(`:${keep}$`))]);
    expect(await store.get(id)).toBeNull();
    expect(await store.get(keep)).toMatchObject({ status: 'idle', total_messages: 1 });
    expect(await store.delete(id)).toBeNull();
  });

  it('of a running session announces a cancel for its turn; of an idle one, none', async () => {
    const subscriber = new Redis(inject('redisUrl'));
    // Ready first: SUBSCRIBE sent before ioredis's ready check (INFO) makes that check fail.
    await waitForReady(subscriber, inject('redisUrl'));
    try {
      await subscriber.subscribe(store.keys.cancel);
      const received: string[] = [];
      subscriber.on('message', (_channel: string, message: string) => received.push(message));

      const idle = await newSession();
      const id = await newSession();
      const { turnId } = await submit(id, 'x');
      expect(await store.delete(idle)).toEqual({ status: 'idle', turnId: '' });
      const message = once(subscriber, 'message');
      expect(await store.delete(id)).toEqual({ status: 'running', turnId });
      await message;
      expect(received).toEqual([`${id}\n${turnId}`]);
    } finally {
      await subscriber.quit();
    }
  });

  it('wakes the session’s long-pollers', async () => {
    const subscriber = new Redis(inject('redisUrl'));
    // Ready first: SUBSCRIBE sent before ioredis's ready check (INFO) makes that check fail.
    await waitForReady(subscriber, inject('redisUrl'));
    try {
      const id = await newSession();
      await subscriber.subscribe(store.sessionKeys(id).events);
      const message = once(subscriber, 'message');
      await store.delete(id);
      expect(await message).toEqual([store.sessionKeys(id).events, 'deleted']);
    } finally {
      await subscriber.quit();
    }
  });
});

describe('running index', () => {
  it('gets an entry at accept time + grace when a turn starts', async () => {
    const id = await newSession();
    expect(await redis.zscore(store.keys.running, id)).toBeNull();
    clock += 7;
    await submit(id, 'x');
    expect(Number(await redis.zscore(store.keys.running, id))).toBe(T0 + 7 + GRACE);
  });

  it('gets no entry for a message to a missing session or to another tenant\'s', async () => {
    const missing = randomUUID();
    expect((await submit(missing, 'x')).result.kind).toBe('not_found');
    expect(await redis.zscore(store.keys.running, missing)).toBeNull();
    const theirs = randomUUID();
    expect(await store.create({ sessionId: theirs, agent: 'echo', tenant: 'them', state: [] })).toBe(true);
    const result = await store.submit({ sessionId: theirs, turnId: randomUUID(), message: user('x'), webhook: null, policy: 'reject', tenant: 'us' });
    expect(result.kind).toBe('not_found');
    expect(await redis.zscore(store.keys.running, theirs)).toBeNull();
  });

  it('running.due returns the entries whose check time has come, oldest first, up to the limit', async () => {
    const a = await newSession();
    const b = await newSession();
    const c = await newSession();
    await submit(a, 'x');
    clock += 10;
    await submit(b, 'x');
    clock += 10;
    await submit(c, 'x');

    clock = T0 + GRACE - 1;
    expect(await store.running.due(10)).toEqual([]);
    clock = T0 + GRACE;
    expect(await store.running.due(10)).toEqual([{ sessionId: a, dueAt: T0 + GRACE }]);
    clock = T0 + GRACE + 20;
    expect(await store.running.due(10)).toEqual([
      { sessionId: a, dueAt: T0 + GRACE },
      { sessionId: b, dueAt: T0 + GRACE + 10 },
      { sessionId: c, dueAt: T0 + GRACE + 20 },
    ]);
    expect(await store.running.due(2)).toHaveLength(2);
  });

  it('running.release removes the entry only while its score is unchanged (compare-and-remove)', async () => {
    const id = await newSession();
    await submit(id, 'x');
    clock += GRACE;
    const [seen] = await store.running.due(10);
    if (!seen) throw new Error('entry not due');

    // Meanwhile the turn was rescheduled (a new turn started, or the reaper postponed it).
    await store.running.postpone(id, 1000);
    expect(await store.running.release(seen)).toBe(false);
    expect(Number(await redis.zscore(store.keys.running, id))).toBe(clock + 1000);

    // With the score it now has, the entry goes.
    clock += 1000;
    const [current] = await store.running.due(10);
    if (!current) throw new Error('entry not due');
    expect(await store.running.release(current)).toBe(true);
    expect(await redis.zscore(store.keys.running, id)).toBeNull();
    // Releasing twice is harmless.
    expect(await store.running.release(current)).toBe(false);
  });

  it('running.mark never puts a scheduled check later, but always changes its score; postpone does', async () => {
    const id = await newSession();
    const score = async () => Number(await redis.zscore(store.keys.running, id));
    await store.running.mark(id);
    expect(await score()).toBe(T0 + GRACE);
    await store.running.mark(id, T0 + 3);
    expect(await score()).toBe(T0 + GRACE - 1);
    await store.running.mark(id, T0 - GRACE); // check due at T0: earlier, so taken
    expect(await score()).toBe(T0);
    await store.running.postpone(id, 50);
    expect(await score()).toBe(T0 + 50);
  });

  it('a refused or queued message does not put off the check of the running turn', async () => {
    const id = await newSession();
    const score = async () => Number(await redis.zscore(store.keys.running, id));
    expect((await submit(id, 'running')).result.kind).toBe('started');
    const scheduled = await score();
    for (let i = 0; i < 5; i++) {
      clock += 1_000;
      expect((await submit(id, `refused ${i}`, 'reject')).result.kind).toBe('busy');
      clock += 1_000;
      expect((await submit(id, `queued ${i}`, 'enqueue')).result.kind).toBe('queued');
    }
    expect(await score()).toBeLessThanOrEqual(scheduled);
    expect((await store.running.due(10)).map((e) => e.sessionId)).toEqual([id]);
  });
});
