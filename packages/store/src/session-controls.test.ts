import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { Redis } from 'ioredis';
import { waitForReady } from './connections.ts';
import type { ChatMessage } from '@baton/core';
import { SessionStore } from './session-store.ts';

/** Append without a run, runs without a message, pause/resume, cancel/archive and timelines. */
const T0 = 1_700_000_000_000;
let redis: Redis;
let store: SessionStore;
let clock: number;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  clock = T0;
  store = new SessionStore(redis, { prefix: `t-${randomUUID()}`, runningGraceMs: 5_000, now: () => clock });
});

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

async function newSession(): Promise<string> {
  const sessionId = randomUUID();
  await store.create({ sessionId, agent: 'echo', tenant: '', state: [] });
  return sessionId;
}

async function submit(sessionId: string, content: string | null, policy: 'reject' | 'enqueue' | 'interrupt' = 'reject', clientId?: string) {
  const turnId = randomUUID();
  const message = content === null ? null : user(content);
  const result = await store.submit({ sessionId, turnId, message, webhook: null, policy, ...(clientId ? { clientId } : {}) });
  return { turnId, result };
}

async function runTurn(sessionId: string, turnId: string, reply: string) {
  const claim = await store.claim(sessionId, turnId);
  if (claim.kind !== 'ok') throw new Error(`claim: ${claim.kind}`);
  return store.finish(sessionId, turnId, claim.fence, { ok: true, reply: assistant(reply) });
}

describe('append', () => {
  it('adds to the history without starting a turn, and lands before a running turn’s reply', async () => {
    const id = await newSession();
    expect(await store.append(id, user('note'))).toBe('ok');
    expect(await store.get(id)).toMatchObject({ status: 'idle', total_messages: 1 });
    const { turnId } = await submit(id, 'q');
    expect(await store.append(id, user('meanwhile'))).toBe('ok');
    await runTurn(id, turnId, 'a');
    expect(await store.messages(id)).toEqual([user('note'), user('q'), user('meanwhile'), assistant('a')]);
  });

  it('answers not_found and archived', async () => {
    expect(await store.append(randomUUID(), user('x'))).toBe('not_found');
    const id = await newSession();
    await store.cancel(id, 'archive');
    expect(await store.append(id, user('x'))).toBe('archived');
  });
});

describe('a turn without a new message', () => {
  it('runs on the history as it is', async () => {
    const id = await newSession();
    await store.append(id, user('already here'));
    const { turnId, result } = await submit(id, null);
    expect(result).toEqual({ kind: 'started', turnId });
    const claim = await store.claim(id, turnId);
    expect(claim).toMatchObject({ kind: 'ok', history: [user('already here')] });
  });

  it('queued behind a running turn, adds nothing to the history when it starts', async () => {
    const id = await newSession();
    const first = await submit(id, 'one');
    const second = await submit(id, null, 'enqueue');
    expect(second.result).toMatchObject({ kind: 'queued' });
    expect(await runTurn(id, first.turnId, 'r1')).toMatchObject({ nextTurnId: second.turnId });
    expect(await store.messages(id)).toEqual([user('one'), assistant('r1')]);
  });
});

describe('pause and resume', () => {
  it('while paused: reject answers paused, enqueue waits, a finishing turn starts nothing; resume starts the first queued', async () => {
    const id = await newSession();
    const running = await submit(id, 'running');
    expect(await store.pause(id)).toBe('ok');
    expect(await store.get(id)).toMatchObject({ paused: true, status: 'running' });
    const queued = await submit(id, 'queued', 'enqueue');
    expect(queued.result).toMatchObject({ kind: 'queued' });
    // The running turn finishes; the paused session starts nothing after it.
    expect(await runTurn(id, running.turnId, 'r')).toMatchObject({ status: 'idle', nextTurnId: null });
    expect((await submit(id, 'refused')).result).toEqual({ kind: 'paused' });
    const later = await submit(id, 'later', 'enqueue');
    expect(later.result).toEqual({ kind: 'queued', turnId: later.turnId, runningTurnId: '' });
    expect(await store.get(id)).toMatchObject({ status: 'idle', pending_messages: 2 });

    expect(await store.resume(id)).toEqual({ kind: 'ok', runningTurnId: queued.turnId });
    expect(await store.get(id)).toMatchObject({ paused: false, status: 'running', turn_id: queued.turnId, pending_messages: 1 });
    // The resumed turn is in the reaper's index, in case no job is enqueued for it.
    expect(await redis.zscore(store.keys.running, id)).not.toBeNull();
    expect(await runTurn(id, queued.turnId, 'r2')).toMatchObject({ nextTurnId: later.turnId });
  });

  it('resume of an idle session with nothing queued starts nothing', async () => {
    const id = await newSession();
    await store.pause(id);
    expect(await store.resume(id)).toEqual({ kind: 'ok', runningTurnId: null });
    expect(await store.resume(randomUUID())).toEqual({ kind: 'not_found' });
  });
});

describe('cancel and archive', () => {
  it('cancel marks the running turn: announced to workers, and a later claim sees it cancelled', async () => {
    const id = await newSession();
    const { turnId } = await submit(id, 'slow');
    const subscriber = new Redis(inject('redisUrl'));
    // Ready first: SUBSCRIBE sent before ioredis's ready check (INFO) makes that check fail.
    await waitForReady(subscriber, inject('redisUrl'));
    await subscriber.subscribe(store.keys.cancel);
    const announced = new Promise<string>((resolve) => subscriber.on('message', (_c, m) => resolve(m)));
    expect(await store.cancel(id)).toEqual({ kind: 'cancelling', turnId });
    expect(await announced).toBe(`${id}\n${turnId}`);
    subscriber.disconnect();
    const claim = await store.claim(id, turnId);
    expect(claim).toMatchObject({ kind: 'ok', cancelled: true });
    if (claim.kind !== 'ok') return;
    const done = await store.finish(id, turnId, claim.fence, { ok: false, error: 'Turn cancelled', cancelled: true });
    expect(done).toMatchObject({ kind: 'ok', status: 'idle' });
    // The next turn is not cancelled.
    const next = await submit(id, 'again');
    expect(await store.claim(id, next.turnId)).toMatchObject({ kind: 'ok', cancelled: false });
  });

  it('interrupt queues the message behind any queued ones and cancels the running turn, announced to workers', async () => {
    const id = await newSession();
    const running = await submit(id, 'slow');
    const queued = await submit(id, 'queued', 'enqueue');
    const subscriber = new Redis(inject('redisUrl'));
    // Ready first: SUBSCRIBE sent before ioredis's ready check (INFO) makes that check fail.
    await waitForReady(subscriber, inject('redisUrl'));
    await subscriber.subscribe(store.keys.cancel);
    const announced = new Promise<string>((resolve) => subscriber.on('message', (_c, m) => resolve(m)));
    const interrupting = await submit(id, 'instead', 'interrupt');
    expect(interrupting.result).toEqual({ kind: 'interrupting', turnId: interrupting.turnId, cancelledTurnId: running.turnId });
    expect(await announced).toBe(`${id}\n${running.turnId}`);
    subscriber.disconnect();
    const claim = await store.claim(id, running.turnId);
    expect(claim).toMatchObject({ kind: 'ok', cancelled: true });
    if (claim.kind !== 'ok') return;
    const done = await store.finish(id, running.turnId, claim.fence, { ok: false, error: 'Turn cancelled', cancelled: true });
    expect(done).toMatchObject({ kind: 'ok', nextTurnId: queued.turnId });
    expect(await runTurn(id, queued.turnId, 'r')).toMatchObject({ nextTurnId: interrupting.turnId });
    expect(await runTurn(id, interrupting.turnId, 'r2')).toMatchObject({ status: 'idle', nextTurnId: null });
    expect(await store.messages(id)).toEqual([user('slow'), user('queued'), assistant('r'), user('instead'), assistant('r2')]);
  });

  it('interrupt of an idle session starts the turn; of a paused one queues it', async () => {
    const id = await newSession();
    const started = await submit(id, 'now', 'interrupt');
    expect(started.result).toEqual({ kind: 'started', turnId: started.turnId });
    await runTurn(id, started.turnId, 'r');
    await store.pause(id);
    expect((await submit(id, 'later', 'interrupt')).result).toMatchObject({ kind: 'queued', runningTurnId: '' });
  });

  it('cancel of an idle session does nothing; of a missing one, not_found', async () => {
    expect(await store.cancel(await newSession())).toEqual({ kind: 'idle' });
    expect(await store.cancel(randomUUID())).toEqual({ kind: 'not_found' });
  });

  it('archive makes the session read-only for good', async () => {
    const id = await newSession();
    await store.cancel(id, 'archive');
    expect(await store.get(id)).toMatchObject({ archived: true, paused: true });
    expect((await submit(id, 'x', 'enqueue')).result).toEqual({ kind: 'archived' });
    expect(await store.resume(id)).toEqual({ kind: 'archived' });
  });
});

describe('timeline', () => {
  it('shows each message with its time, turn and client id, and each turn’s status', async () => {
    const id = await newSession();
    const done = await submit(id, 'done', 'reject', 'c-1');
    clock += 10;
    await runTurn(id, done.turnId, 'r-done');
    const failed = await submit(id, 'fails');
    const claim = await store.claim(id, failed.turnId);
    if (claim.kind !== 'ok') throw new Error('claim');
    await store.finish(id, failed.turnId, claim.fence, { ok: false, error: 'boom' });
    const running = await submit(id, 'running');
    const queued = await submit(id, 'queued', 'enqueue', 'c-2');

    const timeline = await store.timeline(id);
    expect(timeline?.map((e) => [e.seq, e.message.content, e.status, e.meta?.turn, e.meta?.client_id])).toEqual([
      [0, 'done', 'completed', done.turnId, 'c-1'],
      [1, 'r-done', 'completed', done.turnId, undefined],
      [2, 'fails', 'failed', failed.turnId, undefined],
      [3, 'running', 'processing', running.turnId, undefined],
      [4, 'queued', 'queued', queued.turnId, 'c-2'],
    ]);
    expect(timeline?.[0]?.meta?.at).toBe(T0);
    expect(timeline?.[1]?.meta?.at).toBe(T0 + 10);
    expect(await store.timeline(randomUUID())).toBeNull();
  });
});
