import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sessionKeys } from '@baton/core';
import { BatonProcess, waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { HeldAgent } from './support/held-agent.ts';
import { Receiver } from './support/receiver.ts';
import { SseClient } from './support/sse.ts';

/**
 * SESSION_TTL_S: a session idle that long (no turn running, queued or waiting for a person)
 * is removed — 404 on every route, gone from listings, its keys gone from Redis, its tenant's
 * session and byte quotas released — and its id may be used again with nothing of it showing.
 * A session whose turn runs (held by a real HTTP agent) or waits for a person past the TTL stays,
 * and expires only once idle that long. Nothing here sleeps: the tests poll for a 404, and
 * "past the TTL" is "after a control session made later has expired".
 */
const TTL_S = 2;
const ALICE = 'ttl-key-alice';
const BOB = 'ttl-key-bob';
const CAROL = 'ttl-key-carol';
const DAVE = 'ttl-key-dave';
const ADMIN = 'ttl-admin-key';
/** Room for Redis's expiry plus a reaper pass on a busy 2-core machine. */
const WAIT = { timeoutMs: 30_000, intervalMs: 50 };

let baton: Baton;
let agent: HeldAgent;
let hooks: Receiver;

beforeAll(async () => {
  [agent, hooks] = await Promise.all([HeldAgent.start(), Receiver.start()]);
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: {
      API_KEYS: `${ALICE},${BOB},${CAROL},${DAVE}`,
      ADMIN_KEY: ADMIN,
      TENANT_MAX_SESSIONS: '2',
      TENANT_MAX_BYTES: '3000',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      HTTP_AGENT_URL: agent.url,
    },
    // Heartbeats far apart: an event stream that ends on its session's expiry was told, not polled.
    apiEnv: { SESSION_TTL_S: String(TTL_S), SSE_HEARTBEAT_S: '300' },
    workerEnv: { REAPER_INTERVAL_MS: '200' },
  });
});
afterAll(async () => {
  await baton?.stop();
  await agent?.close();
  await hooks?.close();
});

const as = (key: string) => ({ authorization: `Bearer ${key}` });
const get = (path: string, key: string) => http(baton.url, 'GET', path, undefined, as(key));
const post = (path: string, body: unknown, key: string) => http(baton.url, 'POST', path, body, as(key));

async function create(key: string, body: unknown = {}): Promise<string> {
  const res = await post('/sessions', body, key);
  expect(res.status).toBe(201);
  return res.body.session_id as string;
}

/** Long-polls until the session's turn is no longer running (idle, error, or waiting for a person). */
async function settled(id: string, key: string) {
  const res = await get(`/sessions/${id}?wait=true&timeout=20`, key);
  expect(res.status).toBe(200);
  return res.body;
}

/** Sends a message to a new session of the held agent and waits for the agent to have its turn. */
async function heldTurn(key: string, body: Record<string, unknown> = {}, content = 'long job'): Promise<string> {
  const id = await create(key, { agent: 'http', ...body });
  const before = agent.received;
  expect((await post(`/sessions/${id}/messages`, { content }, key)).status).toBe(202);
  await waitUntil(() => agent.received > before, { ...WAIT, what: 'the agent to have the turn' });
  return id;
}

/** Polls until GET /sessions/{id} answers 404; returns when that was first seen (ms). */
async function expiry(id: string, key: string): Promise<number> {
  return waitUntil(async () => ((await get(`/sessions/${id}`, key)).status === 404 ? Date.now() : 0), { ...WAIT, what: `session ${id} to expire` });
}

/** The session's keys left in Redis (every master of a cluster). */
const keysOf = (id: string) => baton.keys(`${baton.prefix}:sess:{${id}}*`);

describe('SESSION_TTL_S', () => {
  it('an idle session is removed SESSION_TTL_S after its last write; its id is used again with nothing of it showing', async () => {
    const id = await create(ALICE, { webhook: { url: `${hooks.url}/old` } });
    expect((await post(`/sessions/${id}/messages`, { content: 'remember me' }, ALICE)).status).toBe(202);
    const ended = await settled(id, ALICE);
    expect(ended.status).toBe('idle');
    await waitUntil(() => hooks.requests.some((r) => r.path === '/old'), { ...WAIT, what: 'the turn-end webhook' });
    expect((await get(`/sessions/${id}/webhooks`, ALICE)).body).toHaveLength(1);
    expect((await get('/sessions', ALICE)).body.map((s: { session_id: string }) => s.session_id)).toContain(id);

    const gone = await expiry(id, ALICE);
    // Not before its time: its keys expire SESSION_TTL_S after the turn's end was written (updated_at is taken just before).
    expect(gone).toBeGreaterThanOrEqual(Date.parse(ended.updated_at) + TTL_S * 1000);
    for (const path of [`/sessions/${id}/messages`, `/sessions/${id}/webhooks`, `/sessions/${id}/events`]) {
      expect((await get(path, ALICE)).status, path).toBe(404);
    }
    expect((await post(`/sessions/${id}/messages`, { content: 'too late' }, ALICE)).body.error.code).toBe('session_not_found');
    expect((await get('/sessions', ALICE)).body.map((s: { session_id: string }) => s.session_id)).not.toContain(id);
    // Nothing of it is left in Redis but its delivery log (kept on its own clock, WEBHOOK_LOG_TTL_S,
    // as after a DELETE: a delivery may still be retried or redelivered); the reaper took the rest.
    const k = sessionKeys(baton.prefix, id);
    await waitUntil(async () => (await keysOf(id)).every((key) => key === k.deliveries || key === k.deliveriesAt || key === k.deliveryBodies), { ...WAIT, what: 'only the delivery log to be left' });

    // Another tenant takes the id: a new, empty session; the old delivery log does not show.
    const reused = await http(baton.url, 'PUT', `/sessions/${id}`, {}, as(BOB));
    expect(reused.status).toBe(201);
    expect(reused.body).toMatchObject({ status: 'idle', total_messages: 0, response: null });
    expect((await get(`/sessions/${id}/messages`, BOB)).body).toEqual([]);
    expect((await get(`/sessions/${id}/webhooks`, BOB)).body).toEqual([]);
    expect((await get(`/sessions/${id}`, ALICE)).status).toBe(404);
    expect(await baton.redis.exists(k.stream)).toBe(0);
  });

  it('a turn running, queued or waiting for a person past SESSION_TTL_S keeps its session; it expires once idle that long', async () => {
    // A turn held by the agent, with a message queued behind it.
    const held = await heldTurn(ADMIN);
    expect((await post(`/sessions/${held}/messages`, { content: 'after it', if_busy: 'enqueue' }, ADMIN)).body.queued).toBe(true);
    // A turn waiting for a person (the echo agent's interrupt contract).
    const waiting = await create(ADMIN);
    const ask = { content: 'ask me', user_params: { echo: { interrupt: { type: 'user_input', payload: { question: 'go on?' } } } } };
    expect((await post(`/sessions/${waiting}/messages`, ask, ADMIN)).status).toBe(202);
    const asked = await settled(waiting, ADMIN);
    expect(asked.status).toBe('interrupted');

    // Both were last written before this control session was made: once it has expired, so would they have.
    const control = await create(ADMIN);
    await expiry(control, ADMIN);
    expect((await get(`/sessions/${held}`, ADMIN)).body).toMatchObject({ status: 'running', pending_messages: 1 });
    expect((await get(`/sessions/${waiting}`, ADMIN)).body).toMatchObject({ status: 'interrupted' });
    for (const id of [held, waiting]) expect(await baton.redis.pttl(sessionKeys(baton.prefix, id).meta)).toBe(-1);

    // The held turn ends, then the queued one (held too); the person answers.
    const received = agent.received;
    agent.release('first done');
    await waitUntil(() => agent.held.size === 1 && agent.received === received + 1, { ...WAIT, what: 'the queued turn to reach the agent' });
    agent.release('second done');
    const resumed = await post(`/sessions/${waiting}/resume`, { interrupt_id: asked.interrupts[0].interrupt_id, value: 'yes' }, ADMIN);
    expect(resumed.status).toBe(200);
    const heldEnd = await settled(held, ADMIN);
    const waitingEnd = await settled(waiting, ADMIN);
    expect([heldEnd.status, waitingEnd.status]).toEqual(['idle', 'idle']);
    expect(heldEnd.response.content).toBe('second done');
    expect((await get(`/sessions/${held}/messages`, ADMIN)).body).toHaveLength(4);

    // Idle now: each expires SESSION_TTL_S after its turn's end.
    const [heldGone, waitingGone] = await Promise.all([expiry(held, ADMIN), expiry(waiting, ADMIN)]);
    expect(heldGone).toBeGreaterThanOrEqual(Date.parse(heldEnd.updated_at) + TTL_S * 1000);
    expect(waitingGone).toBeGreaterThanOrEqual(Date.parse(waitingEnd.updated_at) + TTL_S * 1000);
  });

  it('an event stream open on a session that expires gets a deleted event and ends (told at once, not at its next heartbeat)', async () => {
    const id = await create(ALICE);
    const sse = await SseClient.open(`${baton.url}/sessions/${id}/events`, as(ALICE));
    try {
      expect(await sse.next()).toMatchObject({ event: 'status', data: { status: 'idle', snapshot: true } });
      // Heartbeats are 300 s apart here: only the expiry's message can end the stream in time.
      const events = await sse.until((e) => e.event === 'deleted', WAIT.timeoutMs);
      expect(events.at(-1)).toMatchObject({ event: 'deleted', data: { session_id: id } });
      expect(await sse.next(WAIT.timeoutMs)).toBeNull();
      expect((await get(`/sessions/${id}`, ALICE)).status).toBe(404);
    } finally {
      sse.close();
    }
  });

  it("expired sessions release their tenant's TENANT_MAX_SESSIONS and TENANT_MAX_BYTES quotas", async () => {
    // Held turns: the sessions cannot expire while the quotas are checked.
    // DAVE holds his 2 sessions; CAROL's messages reach her 3,000 bytes (2 × ~1,030 preloaded, one more sent).
    const big = 'x'.repeat(1000);
    const sessions = await Promise.all([heldTurn(DAVE), heldTurn(DAVE), heldTurn(CAROL, { state: [{ role: 'user', content: big }, { role: 'user', content: big }] }, big)]);
    expect((await post('/sessions', {}, DAVE)).body.error.code).toBe('session_quota_exceeded');
    expect((await post('/sessions', {}, CAROL)).body.error.code).toBe('storage_quota_exceeded');

    // The turns end, the sessions expire, the reaper releases their counts: both may create again.
    agent.release('done');
    for (const [i, id] of sessions.entries()) expect((await settled(id, i < 2 ? DAVE : CAROL)).status).toBe('idle');
    await Promise.all(sessions.map((id, i) => expiry(id, i < 2 ? DAVE : CAROL)));
    const dave = await waitUntil(async () => {
      const res = await post('/sessions', {}, DAVE);
      return res.status === 201 && (res.body.session_id as string);
    }, { ...WAIT, what: "DAVE's expired sessions to be released" });
    await waitUntil(async () => (await post('/sessions', {}, CAROL)).status === 201, { ...WAIT, what: "CAROL's bytes to be released" });
    // Only the new session is listed.
    expect((await get('/sessions', DAVE)).body.map((s: { session_id: string }) => s.session_id)).toEqual([dave]);
  });

  it('a bad SESSION_TTL_S stops the API at start with an error naming it', async () => {
    for (const value of ['1.5', '-3', 'soon']) {
      const start = BatonProcess.start('api', { REDIS_URL: inject('redisUrl'), BATON_PREFIX: baton.prefix, SESSION_TTL_S: value });
      await expect(start).rejects.toThrow(/exited with 1 [\s\S]*SESSION_TTL_S: must be a whole number of seconds from 1 to 315360000/);
    }
  });
});
