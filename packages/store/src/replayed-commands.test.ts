import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, inject, it } from 'vitest';
import { ReplyDropper, waitUntil } from '@baton/devtools';
import type { ChatMessage } from '@baton/core';
import { type RedisClient, makeProducerConnection, waitForReady } from './connections.ts';
import { IdempotencyStore } from './idempotency-store.ts';
import { SessionStore } from './session-store.ts';

/**
 * A write whose reply is lost runs twice: when the connection breaks after Redis ran a
 * command but before its answer arrived, ioredis sends the command again once it has
 * reconnected. Each of the API's writes must recognise its own repeat. A real Redis, the
 * API's kind of connection, and a proxy in between that loses the replies.
 */
let dropper: ReplyDropper;
let producer: RedisClient;
let direct: RedisClient;
let store: SessionStore; // through the proxy, as the API writes
let reader: SessionStore; // straight to Redis, to see what ran
let prefix: string;

beforeAll(async () => {
  dropper = await ReplyDropper.start(inject('redisUrl'));
  producer = makeProducerConnection(dropper.url, 'replay-test');
  direct = makeProducerConnection(inject('redisUrl'), 'replay-test-reader');
  await Promise.all([waitForReady(producer, dropper.url), waitForReady(direct, inject('redisUrl'))]);
});
afterAll(async () => {
  producer?.disconnect();
  direct?.disconnect();
  await dropper?.close();
});
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
  store = new SessionStore(producer, { prefix, runningGraceMs: 5_000 });
  reader = new SessionStore(direct, { prefix, runningGraceMs: 5_000 });
});

const user = (content: string): ChatMessage => ({ role: 'user', content });

/** Runs `call` with its reply lost once `ran` sees its effect in Redis; returns what the resent call answered. */
async function withLostReply<T>(call: () => Promise<T>, ran: () => Promise<boolean>): Promise<T> {
  dropper.holdReplies();
  const answer = call();
  await waitUntil(ran, { intervalMs: 5, what: 'the write to run in Redis' });
  dropper.dropConnections();
  return answer;
}

async function newSession(): Promise<string> {
  const sessionId = randomUUID();
  expect(await reader.create({ sessionId, agent: 'echo', tenant: '', state: [] })).toBe(true);
  return sessionId;
}

it('submit: the resent call is the same message, not a second one (nor "busy")', async () => {
  const id = await newSession();
  const turnId = randomUUID();
  const submit = () => store.submit({ sessionId: id, turnId, message: user('once'), webhook: null, policy: 'reject' });
  const result = await withLostReply(submit, async () => (await reader.get(id))?.status === 'running');
  expect(result).toEqual({ kind: 'started', turnId });
  expect(await reader.messages(id)).toEqual([user('once')]);
  expect(await reader.get(id)).toMatchObject({ turn_id: turnId, pending_messages: 0 });
});

it('create: the resent call reports the session created, not already existing', async () => {
  const sessionId = randomUUID();
  const create = () => store.create({ sessionId, agent: 'echo', tenant: 'acme', state: [user('hello')] });
  const created = await withLostReply(create, async () => (await reader.get(sessionId)) !== null);
  expect(created).toBe(true);
  expect(await reader.messages(sessionId)).toEqual([user('hello')]);
  expect(await reader.count('acme')).toBe(1);
  // A real second create of the id is still refused.
  expect(await store.create({ sessionId, agent: 'echo', tenant: 'acme', state: [] })).toBe(false);
});

it('append (a message without a turn): the resent call does not add it twice', async () => {
  const id = await newSession();
  const append = () => store.append(id, user('noted'));
  const result = await withLostReply(append, async () => ((await reader.messages(id))?.length ?? 0) > 0);
  expect(result).toBe('ok');
  expect(await reader.messages(id)).toEqual([user('noted')]);
});

it('Idempotency-Key begin: the resent claim of a new key is still the request’s own, not "in flight"', async () => {
  const keys = new IdempotencyStore(producer, { prefix, ttlMs: 60_000, pendingTtlMs: 60_000 });
  const begun = await withLostReply(
    () => keys.begin('acme', 'key-1', 'fingerprint'),
    async () => (await direct.keys(`${prefix}:idem:*`)).length > 0,
  );
  expect(begun).toMatchObject({ kind: 'new' });
  // Another request under the key meanwhile is still told the first one is in flight.
  expect(await keys.begin('acme', 'key-1', 'fingerprint')).toMatchObject({ kind: 'in_flight' });
});

it('finish (a worker recording a reply): the resent call is the same outcome with the next turn, not "stale"', async () => {
  const id = await newSession();
  const [first, next] = [randomUUID(), randomUUID()];
  await reader.submit({ sessionId: id, turnId: first, message: user('one'), webhook: { url: 'https://example.com/hook', include_messages: false }, policy: 'reject' });
  await reader.submit({ sessionId: id, turnId: next, message: user('two'), webhook: null, policy: 'enqueue' });
  const claim = await reader.claim(id, first);
  if (claim.kind !== 'ok') throw new Error(`claim: ${claim.kind}`);
  const reply: ChatMessage = { role: 'assistant', content: 'echo: one' };
  const finish = () => store.finish(id, first, claim.fence, { ok: true, reply });
  const finished = await withLostReply(finish, async () => (await reader.get(id))?.turn_id === next);
  // "stale" would leave the next turn without a job and the event unsent until the reaper came.
  expect(finished).toEqual({ kind: 'ok', status: 'idle', notify: true, nextTurnId: next, cancelled: false });
  expect(await reader.messages(id)).toEqual([user('one'), reply, user('two')]);
  // A later finish of the same turn by an outdated claim is still stale.
  expect(await store.finish(id, first, '0', { ok: true, reply })).toEqual({ kind: 'stale' });
});

it('resume (OpenHands, V1 sandboxes): the resent call still names the turn it started, so its job gets queued', async () => {
  const id = await newSession();
  expect(await reader.pause(id)).toBe('ok');
  const turnId = randomUUID();
  await reader.submit({ sessionId: id, turnId, message: user('waiting'), webhook: null, policy: 'enqueue' });
  const resumed = await withLostReply(() => store.resume(id), async () => (await reader.get(id))?.status === 'running');
  expect(resumed).toEqual({ kind: 'ok', runningTurnId: turnId });
  expect(await reader.get(id)).toMatchObject({ paused: false, turn_id: turnId, pending_messages: 0 });
});

it('delete: the resent call reports the session deleted, not "not found"', async () => {
  const id = await newSession();
  const deleted = await withLostReply(() => store.delete(id), async () => (await reader.get(id)) === null);
  expect(deleted).toEqual({ status: 'idle', turnId: '' });
  // A real second delete finds nothing.
  expect(await store.delete(id)).toBeNull();
});

it('delete: a resent call after the id was used again leaves the new session alone', async () => {
  const id = await newSession();
  const deleted = await withLostReply(
    () => store.delete(id),
    async () => {
      if ((await reader.get(id)) !== null) return false;
      // Before the resend arrives, another session is made with the id.
      return reader.create({ sessionId: id, agent: 'echo', tenant: '', state: [user('new')] });
    },
  );
  expect(deleted).toEqual({ status: 'idle', turnId: '' });
  expect(await reader.messages(id)).toEqual([user('new')]);
});

it('the session id recorded under an Idempotency-Key: a resent record keeps the id it proposed', async () => {
  const request = { key: 'create-key', fingerprint: 'fp' };
  const proposed = { sessionId: randomUUID(), incarnation: randomUUID() };
  const recorded = await withLostReply(
    () => store.sessionIdFor('acme', request, proposed),
    async () => (await direct.keys(`${prefix}:idem:*`)).length > 0,
  );
  expect(recorded).toEqual(proposed);
  // Later tries under the key get that id; another request under it gets none.
  const again = { sessionId: randomUUID(), incarnation: randomUUID() };
  expect(await store.sessionIdFor('acme', request, again)).toEqual(proposed);
  expect(await store.sessionIdFor('acme', { ...request, fingerprint: 'other' }, again)).toBeNull();
});

it('submit under an Idempotency-Key: the resent call finds its own record (with the session’s incarnation), not a second turn', async () => {
  const id = await newSession();
  const turnId = randomUUID();
  const request = { key: 'message-key', fingerprint: 'fp' };
  const submit = () => store.submit({ sessionId: id, turnId, message: user('once'), webhook: null, policy: 'reject', request });
  expect(await withLostReply(submit, async () => (await reader.get(id))?.status === 'running')).toEqual({ kind: 'started', turnId });
  // A retry under the key (another turn id) gets the first turn back.
  expect(await store.submit({ sessionId: id, turnId: randomUUID(), message: user('once'), webhook: null, policy: 'reject', request })).toEqual({
    kind: 'started',
    turnId,
  });
  expect(await reader.messages(id)).toEqual([user('once')]);
});

it('finish of a turn whose cancel was recorded: the resent call answers "cancelled" again, with the next turn', async () => {
  const id = await newSession();
  const [first, next] = [randomUUID(), randomUUID()];
  await reader.submit({ sessionId: id, turnId: first, message: user('one'), webhook: null, policy: 'reject' });
  const claim = await reader.claim(id, first);
  if (claim.kind !== 'ok') throw new Error(`claim: ${claim.kind}`);
  await reader.submit({ sessionId: id, turnId: next, message: user('two'), webhook: null, policy: 'interrupt' });
  const finish = () => store.finish(id, first, claim.fence, { ok: true, reply: { role: 'assistant', content: 'too late' } });
  const finished = await withLostReply(finish, async () => (await reader.get(id))?.turn_id === next);
  expect(finished).toEqual({ kind: 'ok', status: 'idle', notify: false, nextTurnId: next, cancelled: true });
  expect(await reader.messages(id)).toEqual([user('one'), user('two')]);
});

it('archive (V1 sandbox deleted): the resent call cancels the queued turns once and still names the running turn', async () => {
  const id = await newSession();
  const [running, queued] = [randomUUID(), randomUUID()];
  await reader.submit({ sessionId: id, turnId: running, message: user('one'), webhook: null, policy: 'reject' });
  await reader.submit({ sessionId: id, turnId: queued, message: user('two'), webhook: null, policy: 'enqueue' });
  const archived = await withLostReply(() => store.cancel(id, 'archive'), async () => (await reader.get(id))?.archived === true);
  expect(archived).toEqual({ kind: 'cancelling', turnId: running });
  expect(await reader.messages(id)).toEqual([user('one'), user('two')]);
  const outbox = await direct.lrange(reader.sessionKeys(id).outbox, 0, -1);
  expect(outbox.map((raw) => JSON.parse(raw) as { turn_id: string; type: string })).toEqual([
    expect.objectContaining({ turn_id: queued, type: 'turn.cancelled' }),
  ]);
});

/** A session whose turn has been claimed (a worker's fence), its message in the history. */
async function claimedTurn(id: string, turnId = randomUUID()) {
  await reader.submit({ sessionId: id, turnId, message: user('go'), webhook: null, policy: 'reject' });
  const claim = await reader.claim(id, turnId);
  if (claim.kind !== 'ok') throw new Error(`claim: ${claim.kind}`);
  return { turnId, fence: claim.fence };
}
const call: ChatMessage = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'clock', arguments: '{}' } }] };
const result: ChatMessage = { role: 'tool', tool_call_id: 'c1', content: '12:00' };

it('step (a worker recording a step): the resent call is the same step, recorded once, not "stale"', async () => {
  const id = await newSession();
  const { turnId, fence } = await claimedTurn(id);
  const step = () => store.steps.record({ sessionId: id, turnId, fence, index: 0, messages: [call, result] });
  const recorded = await withLostReply(step, async () => ((await reader.messages(id))?.length ?? 0) === 3);
  // "stale" would make the worker drop a turn it still holds.
  expect(recorded).toEqual({ kind: 'ok', notify: false });
  expect(await reader.messages(id)).toEqual([user('go'), call, result]);
  // The next step goes on from there; a second try of step 0 by the same claim is refused.
  expect(await store.steps.record({ sessionId: id, turnId, fence, index: 0, messages: [call] })).toEqual({ kind: 'stale' });
  expect(await store.steps.record({ sessionId: id, turnId, fence, index: 1, messages: [] })).toEqual({ kind: 'ok', notify: false });
});

it('step with an interrupt, then resume: each resent call answers as the first time (not "stale", not 409)', async () => {
  const id = await newSession();
  const { turnId, fence } = await claimedTurn(id);
  const interrupt = { type: 'user_input' as const, payload: { question: 'why?' } };
  const stepped = await withLostReply(
    () => store.steps.record({ sessionId: id, turnId, fence, index: 0, messages: [], interrupt }),
    async () => (await reader.get(id))?.status === 'interrupted',
  );
  expect(stepped).toMatchObject({ kind: 'ok', interrupt: { type: 'user_input', interrupt_id: expect.any(String) } });
  const [waiting] = (await reader.get(id))?.interrupts ?? [];
  const resumed = await withLostReply(
    () => store.steps.resume(id, waiting?.interrupt_id as string, 'because'),
    async () => (await reader.get(id))?.status === 'running',
  );
  expect(resumed).toEqual({ kind: 'ok', turnId, run: 1 });
  // The job of run 1 claims the turn, with the answer; another resume is refused.
  expect(await reader.claim(id, turnId, 1)).toMatchObject({ kind: 'ok', steps: 1, resume: { interrupt: waiting, value: 'because' } });
  expect(await store.steps.resume(id, waiting?.interrupt_id as string, 'again')).toEqual({ kind: 'not_interrupted', status: 'running' });
});

it('cancel of a turn waiting for a person: the resent call answers "ended", and the turn it started is not cancelled', async () => {
  const id = await newSession();
  const { turnId, fence } = await claimedTurn(id);
  await reader.steps.record({ sessionId: id, turnId, fence, index: 0, messages: [], interrupt: { type: 'tool_approval', payload: null } });
  const next = randomUUID();
  await reader.submit({ sessionId: id, turnId: next, message: user('next'), webhook: null, policy: 'enqueue' });
  const cancelled = await withLostReply(() => store.cancel(id), async () => (await reader.get(id))?.turn_id === next);
  expect(cancelled).toEqual({ kind: 'ended', turnId, startedTurnId: next });
  expect(await reader.get(id)).toMatchObject({ status: 'running', turn_id: next });
  expect(await reader.claim(id, next)).toMatchObject({ kind: 'ok', cancelled: false });
});

it('set attributes (OpenHands PATCH): the resent call sets the same values, with the same answer', async () => {
  const id = await newSession();
  const patch = () => store.setAttributes(id, { title: 'Once', tags: '{"a":"1"}' });
  const result = await withLostReply(patch, async () => (await reader.get(id))?.attributes.title === 'Once');
  expect(result).toBe('ok');
  expect((await reader.get(id))?.attributes).toEqual({ title: 'Once', tags: '{"a":"1"}' });
});
