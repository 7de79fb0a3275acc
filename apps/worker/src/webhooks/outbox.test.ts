import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { WebhookQueue } from '@baton/queue';
import { DeliveryLog, SessionStore } from '@baton/store';
import { flushOutbox } from './outbox.ts';

let redis: Redis;
let prefix: string;
let store: SessionStore;
let log: DeliveryLog;
let queue: WebhookQueue;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
  store = new SessionStore(redis, { prefix, runningGraceMs: 1000, notifyAll: true });
  log = new DeliveryLog(redis, prefix);
  queue = new WebhookQueue(redis, prefix);
});
afterEach(() => queue.close());


/** A session whose one turn completed with a message webhook and a session default webhook. */
async function finishedTurn(): Promise<{ sessionId: string; turnId: string }> {
  const sessionId = randomUUID();
  const turnId = randomUUID();
  await store.create({ sessionId, agent: 'echo', tenant: '', state: [], webhook: { url: 'https://s.example/hook', include_messages: true } });
  await store.submit({
    sessionId,
    turnId,
    message: { role: 'user', content: 'hi' },
    webhook: { url: 'https://m.example/hook', token: 'tok', include_messages: false },
    policy: 'reject',
  });
  const claim = await store.claim(sessionId, turnId);
  if (claim.kind !== 'ok') throw new Error('claim failed');
  await store.finish(sessionId, turnId, claim.fence, { ok: true, reply: { role: 'assistant', content: 'echo: hi' } });
  return { sessionId, turnId };
}

it('turns one event into a delivery per target, queued, and empties the outbox', async () => {
  const { sessionId, turnId } = await finishedTurn();
  const n = await flushOutbox({ log, queue, endpoints: ['https://e.example/all'] }, sessionId);
  expect(n).toBe(3);
  const deliveries = await log.list(sessionId);
  expect(deliveries.map((d) => [d.id, d.target, d.url, d.webhook_id, d.status])).toEqual([
    [`${turnId}.e0`, 'server', 'https://e.example/all', `msg_${turnId}`, 'pending'],
    [`${turnId}.m`, 'message', 'https://m.example/hook', `msg_${turnId}`, 'pending'],
    [`${turnId}.s`, 'session', 'https://s.example/hook', `msg_${turnId}`, 'pending'],
  ]);
  const withBodies = await Promise.all(deliveries.map((d) => log.get(sessionId, d.id)));
  const bodies = Object.fromEntries(withBodies.map((d) => [d?.target, JSON.parse(d?.body ?? '{}')]));
  expect(bodies.message).toMatchObject({
    type: 'turn.completed',
    turn_id: turnId,
    session_id: sessionId,
    status: 'idle',
    response: { role: 'assistant', content: 'echo: hi' },
    error: null,
  });
  expect(bodies.message.messages).toBeUndefined();
  // Only the webhook that asked for them gets the history, without Baton's metadata.
  expect(bodies.session.messages).toEqual([
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'echo: hi' },
  ]);
  expect(deliveries.find((d) => d.target === 'message')?.token).toBe('tok');
  expect(await redis.llen(store.sessionKeys(sessionId).outbox)).toBe(0);
  expect((await queue.getJobCounts('wait')).wait).toBe(3);
});

it('repeating a flush cut short after queueing (a crash) adds no delivery and no job', async () => {
  const { sessionId } = await finishedTurn();
  const [entry] = await log.outbox(sessionId);
  await flushOutbox({ log, queue, endpoints: [] }, sessionId);
  // As if the worker died before removing the outbox entry: put it back and flush again.
  await redis.rpush(store.sessionKeys(sessionId).outbox, entry!.raw);
  await flushOutbox({ log, queue, endpoints: [] }, sessionId);
  expect((await log.list(sessionId)).length).toBe(2);
  expect((await queue.getJobCounts('wait')).wait).toBe(2);
  expect(await redis.llen(store.sessionKeys(sessionId).outbox)).toBe(0);
});

it('a deleted session’s running and queued turns are delivered as cancelled', async () => {
  const sessionId = randomUUID();
  await store.create({ sessionId, agent: 'echo', tenant: '', state: [] });
  const running = randomUUID();
  const queued = randomUUID();
  const hook = { url: 'https://m.example/hook', include_messages: true };
  await store.submit({ sessionId, turnId: running, message: { role: 'user', content: 'a' }, webhook: hook, policy: 'reject' });
  await store.submit({ sessionId, turnId: queued, message: { role: 'user', content: 'b' }, webhook: hook, policy: 'enqueue' });
  await store.delete(sessionId);
  expect(await flushOutbox({ log, queue, endpoints: [] }, sessionId)).toBe(2);
  // (A session's list shows its live incarnation's deliveries: a deleted one's are read by id.)
  expect(await log.list(sessionId)).toEqual([]);
  const deliveries = await Promise.all([running, queued].map((turn) => log.get(sessionId, `${turn}.m`)));
  const bodies = deliveries.map((d) => JSON.parse(d?.body ?? '{}'));
  expect(bodies.map((b) => [b.turn_id, b.type, b.status, b.error, b.messages])).toEqual(
    expect.arrayContaining([
      [running, 'turn.cancelled', 'idle', 'Turn cancelled', []],
      [queued, 'turn.cancelled', 'idle', 'Turn cancelled', []],
    ]),
  );
  // The log of a deleted session expires.
  expect(await redis.pttl(store.sessionKeys(sessionId).deliveries)).toBeGreaterThan(0);
});

it('an event of a deleted session, flushed once a new session has its id: its own log only, and none of the new history', async () => {
  // The turn ended (its event, wanting the history, waits in the outbox); then the session
  // is deleted and another made with its id before any worker flushed the outbox.
  const { sessionId, turnId } = await finishedTurn();
  await store.delete(sessionId);
  await store.create({ sessionId, agent: 'echo', tenant: '', state: [{ role: 'user', content: 'the new session’s secret' }] });
  expect(await flushOutbox({ log, queue, endpoints: [] }, sessionId)).toBe(2);

  const delivered = await log.get(sessionId, `${turnId}.s`);
  expect(JSON.parse(delivered?.body ?? '{}')).toMatchObject({ turn_id: turnId, type: 'turn.completed', messages: [] });
  // The new session's log does not show it, and does not expire on the deleted one's clock
  // (a day) but on a live log's: WEBHOOK_LOG_TTL_S after its last write.
  expect(await log.list(sessionId)).toEqual([]);
  expect(await redis.pttl(store.sessionKeys(sessionId).deliveries)).toBeGreaterThan(86_400_000);
});

it('include_messages carries a bounded copy: the newest messages within the count and byte caps, flagged as truncated', async () => {
  const sessionId = randomUUID();
  // 300 earlier messages of 400 bytes each, then one turn.
  const state = Array.from({ length: 300 }, (_, i) => ({ role: 'user' as const, content: `${String(i).padStart(3, '0')}${'x'.repeat(397)}` }));
  await store.create({ sessionId, agent: 'echo', tenant: '', state, webhook: { url: 'https://s.example/hook', include_messages: true } });
  const turnId = randomUUID();
  await store.submit({ sessionId, turnId, message: { role: 'user', content: 'hi' }, webhook: null, policy: 'reject' });
  const claim = await store.claim(sessionId, turnId);
  if (claim.kind !== 'ok') throw new Error('claim failed');
  await store.finish(sessionId, turnId, claim.fence, { ok: true, reply: { role: 'assistant', content: 'echo: hi' } });

  await flushOutbox({ log, queue, endpoints: [], messagesMax: 50, messagesMaxBytes: 10_000 }, sessionId);
  const body = JSON.parse((await log.get(sessionId, `${turnId}.s`))?.body ?? '{}');
  // 10,000 bytes hold the reply, the turn's message and 23 of the 400-byte messages (each about 430 as JSON).
  expect(body.messages_truncated).toBe(true);
  expect(body.messages_total).toBe(302);
  expect(body.messages.at(-1)).toEqual({ role: 'assistant', content: 'echo: hi' });
  expect(body.messages.at(-2)).toEqual({ role: 'user', content: 'hi' });
  expect(body.messages.at(0).content.slice(0, 3)).toBe(String(300 - (body.messages.length - 2)));
  expect(Buffer.byteLength(JSON.stringify(body.messages))).toBeLessThanOrEqual(10_000);
  expect(Buffer.byteLength(JSON.stringify(body.messages))).toBeGreaterThan(10_000 - 500);

  // The count cap: at most the last 50.
  const turn2 = randomUUID();
  await store.submit({ sessionId, turnId: turn2, message: { role: 'user', content: 'again' }, webhook: null, policy: 'reject' });
  const claim2 = await store.claim(sessionId, turn2);
  if (claim2.kind !== 'ok') throw new Error('claim failed');
  await store.finish(sessionId, turn2, claim2.fence, { ok: true, reply: { role: 'assistant', content: 'echo: again' } });
  await flushOutbox({ log, queue, endpoints: [], messagesMax: 50, messagesMaxBytes: 1_000_000 }, sessionId);
  const body2 = JSON.parse((await log.get(sessionId, `${turn2}.s`))?.body ?? '{}');
  expect(body2.messages).toHaveLength(50);
  expect(body2).toMatchObject({ messages_truncated: true, messages_total: 304 });
  expect(body2.messages.at(-1)).toEqual({ role: 'assistant', content: 'echo: again' });
});

it('a history within the caps goes whole, not flagged', async () => {
  const { sessionId, turnId } = await finishedTurn();
  await flushOutbox({ log, queue, endpoints: [] }, sessionId);
  const body = JSON.parse((await log.get(sessionId, `${turnId}.s`))?.body ?? '{}');
  expect(body).toMatchObject({ messages_truncated: false, messages_total: 2 });
  expect(body.messages).toHaveLength(2);
});
