import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { BatonClient } from '@baton/client';
import { waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, createSession, http, waitForIdle } from './support/baton.ts';
import { Receiver, type ReceivedRequest } from './support/receiver.ts';
import { SseClient } from './support/sse.ts';

/**
 * Human in the loop, with the echo agent's contract (`user_params.echo.interrupt`): a turn
 * that stops for a person waits in Redis (no job, no worker) through a SIGKILL of every
 * worker and a restart of the API, and goes on after `POST /sessions/{id}/resume` on any
 * process; a waiting turn ended by cancel, delete or `if_busy: "interrupt"`; `turn.interrupted`
 * webhooks, signed; the SSE `interrupted` event.
 */
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
let baton: Baton;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await Receiver.start();
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { ...FAST_RECOVERY, WEBHOOK_ALLOW_PRIVATE: 'true' },
    // Each step takes a moment, so a long-poll is surely waiting when the interrupt lands.
    workerEnv: { ECHO_DELAY_MS: '200', WEBHOOK_SECRET: SECRET },
  });
});
afterAll(async () => {
  await baton?.stop();
  await receiver?.close();
});

const base = () => baton.url;

async function send(id: string, body: Record<string, unknown>) {
  const res = await http(base(), 'POST', `/sessions/${id}/messages`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { turn_id: string; queued: boolean; cancelled_turn_id?: string };
}

const ask = (type: string, payload: unknown, toolSteps = 0) => ({ echo: { tool_steps: toolSteps, interrupt: { type, payload } } });

/** The webhook requests the receiver got for one session, in arrival order. */
function hooksFor(id: string): ReceivedRequest[] {
  return receiver.requests.filter((r) => r.json?.session_id === id);
}
async function waitForHooks(id: string, count: number): Promise<ReceivedRequest[]> {
  await waitUntil(() => hooksFor(id).length >= count, { timeoutMs: 20_000, what: `${count} webhooks for ${id}` });
  return hooksFor(id);
}

/** Turn jobs BullMQ holds as active (a job lock) or waiting. */
async function turnJobs(): Promise<number> {
  const q = `{${baton.prefix}}:turns`;
  return (await baton.redis.llen(`${q}:active`)) + (await baton.redis.llen(`${q}:wait`));
}

/** Sends an interrupting message and long-polls (already waiting as the interrupt lands) until it stops. */
async function interrupted(id: string, type: string, payload: unknown, toolSteps = 0) {
  const sent = await send(id, { content: 'deploy it', user_params: ask(type, payload, toolSteps) });
  const view = await waitForIdle(base(), id);
  expect(view.status).toBe('interrupted');
  return { turnId: sent.turn_id, view };
}

describe('a round trip across a SIGKILL of every worker and a restart of the API', () => {
  it.each([
    ['tool_approval', { tool: 'deploy', arguments: { env: 'prod' } }, { approved: true }],
    ['user_input', { question: 'Which region?' }, { answer: 'eu-west-1' }],
  ] as const)('%s: stops, waits in Redis only, and goes on from its step on a new API and worker', async (type, payload, value) => {
    const id = await createSession(base(), { webhook: { url: `${receiver.url}/hooks` } });
    const { turnId, view } = await interrupted(id, type, payload, 1);
    expect(view.interrupts).toEqual([{ interrupt_id: expect.any(String), type, payload }]);
    expect(view).toMatchObject({ response: null, error: null, total_messages: 3 });
    const interruptId = view.interrupts[0].interrupt_id as string;

    // turn.interrupted, signed (Standard Webhooks), with the interrupts; its own webhook-id.
    const [hook] = await waitForHooks(id, 1);
    expect(new Webhook(SECRET).verify(hook!.body, hook!.headers)).toMatchObject({
      type: 'turn.interrupted',
      turn_id: turnId,
      status: 'interrupted',
      response: null,
      interrupts: [{ interrupt_id: interruptId, type, payload }],
    });
    expect(hook!.headers['webhook-id']).toBe(`msg_${interruptId}`);

    // No worker slot, job lock or job: the turn waits in Redis alone.
    expect(await turnJobs()).toBe(0);
    await Promise.all(baton.workers.map((w) => w.stop()));
    for (const api of baton.apis) await api.stop();
    await baton.startApi();
    expect((await http(base(), 'GET', `/sessions/${id}`)).body).toMatchObject({ status: 'interrupted', interrupts: view.interrupts });

    await baton.startWorker();
    const res = await http(base(), 'POST', `/sessions/${id}/resume`, { interrupt_id: interruptId, value });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ session_id: id, status: 'running' });

    const done = await waitForIdle(base(), id);
    expect(done).toMatchObject({ status: 'idle', response: { role: 'assistant', content: `echo: deploy it ${JSON.stringify(value)}` } });
    expect(done.interrupts).toBeUndefined();
    const history = (await http(base(), 'GET', `/sessions/${id}/messages`)).body;
    // The step recorded before the interrupt stays, once: message, clock call, result, reply.
    expect(history.map((m: any) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(history[1].tool_calls[0].id).toBe(`call_${turnId}_0`);

    // Then the turn's end, as usual: one of each.
    const hooks = await waitForHooks(id, 2);
    expect(hooks.map((h) => h.json.type)).toEqual(['turn.interrupted', 'turn.completed']);
    expect(hooks[1]!.headers['webhook-id']).toBe(`msg_${turnId}`);
  });
});

describe('POST /sessions/{id}/resume', () => {
  it('409 session_not_interrupted when nothing waits, 404 for an unknown interrupt or session, 422 without interrupt_id', async () => {
    const id = await createSession(base());
    const idle = await http(base(), 'POST', `/sessions/${id}/resume`, { interrupt_id: 'x', value: 1 });
    expect(idle.status).toBe(409);
    expect(idle.body.error).toMatchObject({ code: 'session_not_interrupted', message: 'Session is idle, not interrupted' });

    await interrupted(id, 'user_input', { question: '?' });
    const unknown = await http(base(), 'POST', `/sessions/${id}/resume`, { interrupt_id: 'not-this-one', value: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('interrupt_not_found');
    expect((await http(base(), 'POST', `/sessions/${crypto.randomUUID()}/resume`, { interrupt_id: 'x' })).status).toBe(404);
    const bad = await http(base(), 'POST', `/sessions/${id}/resume`, { value: 1 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].path).toBe('body.interrupt_id');
    // Still waiting after all that.
    expect((await http(base(), 'GET', `/sessions/${id}`)).body.status).toBe('interrupted');
    await http(base(), 'DELETE', `/sessions/${id}`);
  });

  it('an Idempotency-Key replays the first answer (200), not a 409; the turn goes on once', async () => {
    const id = await createSession(base());
    const { view } = await interrupted(id, 'user_input', { question: 'name?' });
    const body = { interrupt_id: view.interrupts[0].interrupt_id, value: 'Ada' };
    const headers = { 'idempotency-key': `resume-${id}` };
    const first = await http(base(), 'POST', `/sessions/${id}/resume`, body, headers);
    expect(first.status).toBe(200);
    await waitForIdle(base(), id);
    const again = await http(base(), 'POST', `/sessions/${id}/resume`, body, headers);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // Without the key a second resume is refused: the turn is over.
    expect((await http(base(), 'POST', `/sessions/${id}/resume`, body)).body.error.message).toBe('Session is idle, not interrupted');
    const history = (await http(base(), 'GET', `/sessions/${id}/messages`)).body;
    expect(history.map((m: any) => m.content)).toEqual(['deploy it', 'echo: deploy it "Ada"']);
  });

  it('a message while interrupted: 409 "Session is interrupted" with reject; with enqueue it runs after the resumed turn', async () => {
    const id = await createSession(base());
    const { view } = await interrupted(id, 'tool_approval', { tool: 'rm' });
    const refused = await http(base(), 'POST', `/sessions/${id}/messages`, { content: 'hello?' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'session_running', message: expect.stringMatching(/^Session is interrupted; send with if_busy/) });
    expect(refused.body.detail).toBe('Session is interrupted');
    expect((await send(id, { content: 'next', if_busy: 'enqueue' })).queued).toBe(true);
    expect((await http(base(), 'GET', `/sessions/${id}`)).body).toMatchObject({ status: 'interrupted', pending_messages: 1 });

    await http(base(), 'POST', `/sessions/${id}/resume`, { interrupt_id: view.interrupts[0].interrupt_id, value: { approved: false, reason: 'no' } });
    await waitUntil(async () => (await http(base(), 'GET', `/sessions/${id}/messages`)).body.length === 4, { what: 'both turns' });
    const history = (await http(base(), 'GET', `/sessions/${id}/messages`)).body;
    expect(history.map((m: any) => m.content)).toEqual([
      'deploy it',
      'echo: deploy it {"approved":false,"reason":"no"}',
      'next',
      'echo: next',
    ]);
  });

  it('SSE: the interrupted event with the interrupts, then the status', async () => {
    const id = await createSession(base());
    const sse = await SseClient.open(`${base()}/sessions/${id}/events`);
    await sse.next(); // the snapshot
    const { turn_id } = await send(id, { content: 'ask me', user_params: ask('user_input', { question: 'why?' }) });
    const events = await sse.until((e) => e.event === 'status' && e.data.status === 'interrupted');
    sse.close();
    const last = events.slice(-2);
    expect(last[0]).toMatchObject({ event: 'interrupted', data: { turn_id, interrupts: [{ type: 'user_input', payload: { question: 'why?' } }] } });
    expect(last[1]).toMatchObject({ event: 'status', data: { status: 'interrupted', turn_id } });
    await http(base(), 'DELETE', `/sessions/${id}`);
  });
});

describe('the client SDK', () => {
  it('waitForTurn ends on interrupted with the interrupts; resume lets the turn go on', async () => {
    const client = new BatonClient({ baseUrl: base() });
    const { session_id: id } = await client.createSession();
    await client.sendMessage(id, { content: 'pick', user_params: ask('user_input', { options: ['a', 'b'] }, 1) });
    const waiting = await client.waitForTurn(id, { timeoutS: 20 });
    expect(waiting.status).toBe('interrupted');
    const [interrupt] = waiting.interrupts ?? [];
    expect(interrupt).toMatchObject({ type: 'user_input', payload: { options: ['a', 'b'] } });
    expect(await client.resume(id, { interruptId: interrupt!.interrupt_id, value: 'b' })).toEqual({ session_id: id, status: 'running' });
    expect((await client.waitForTurn(id, { timeoutS: 20 })).response).toEqual({ role: 'assistant', content: 'echo: pick "b"' });
  });
});

describe('ending a waiting turn: no worker holds it, so the request itself ends it', () => {
  /** A session waiting on an interrupt, with a webhook, and its first webhook (turn.interrupted) in. */
  async function waiting() {
    const id = await createSession(base(), { webhook: { url: `${receiver.url}/end` } });
    const { turnId } = await interrupted(id, 'tool_approval', { tool: 'x' });
    await waitForHooks(id, 1);
    return { id, turnId };
  }

  /**
   * The session's webhooks: one interrupted, then one end event for the waiting turn; when a
   * next turn ran (`next`), its own turn.completed too (it may arrive before or after the
   * cancelled one is seen, so the waiting turn's events are checked on their own).
   */
  async function expectEnd(id: string, turnId: string, next?: string) {
    const hooks = await waitForHooks(id, next ? 3 : 2);
    const own = hooks.filter((h) => h.json.turn_id === turnId);
    expect(own.map((h) => [h.json.type, h.json.turn_id])).toEqual([
      ['turn.interrupted', turnId],
      ['turn.cancelled', turnId],
    ]);
    expect(own[1]!.json).toMatchObject({ status: 'idle', error: 'Turn cancelled' });
    if (next) expect(hooks.filter((h) => h.json.turn_id !== turnId).map((h) => [h.json.type, h.json.turn_id])).toEqual([['turn.completed', next]]);
    expect(hooks).toHaveLength(next ? 3 : 2);
    return own;
  }

  it('POST /cancel: idle with "Turn cancelled" at once, one turn.cancelled webhook', async () => {
    const { id, turnId } = await waiting();
    const res = await http(base(), 'POST', `/sessions/${id}/cancel`);
    expect(res.body).toEqual({ session_id: id, cancelled_turn_id: turnId });
    // Ended by the request: already so when it answered.
    expect((await http(base(), 'GET', `/sessions/${id}`)).body).toMatchObject({ status: 'idle', error: 'Turn cancelled' });
    await expectEnd(id, turnId);
    expect((await http(base(), 'GET', `/sessions/${id}/messages`)).body.map((m: any) => m.content)).toEqual(['deploy it']);
    expect((await http(base(), 'POST', `/sessions/${id}/resume`, { interrupt_id: 'x' })).status).toBe(409);
  });

  it('DELETE: 204, one turn.cancelled webhook', async () => {
    const { id, turnId } = await waiting();
    expect((await http(base(), 'DELETE', `/sessions/${id}`)).status).toBe(204);
    await expectEnd(id, turnId);
  });

  it('if_busy: "interrupt": the waiting turn is cancelled (one webhook) and the new message runs at once', async () => {
    const { id, turnId } = await waiting();
    const sent = await send(id, { content: 'instead', if_busy: 'interrupt' });
    expect(sent).toMatchObject({ queued: false, cancelled_turn_id: turnId });
    const done = await waitForIdle(base(), id);
    expect(done).toMatchObject({ status: 'idle', response: { content: 'echo: instead' } });
    await expectEnd(id, turnId, sent.turn_id);
    expect((await http(base(), 'GET', `/sessions/${id}/messages`)).body.map((m: any) => m.content)).toEqual([
      'deploy it',
      'instead',
      'echo: instead',
    ]);
  });

  it('cancel with a queued message starts it (its job queued by the request)', async () => {
    const { id, turnId } = await waiting();
    const queued = await send(id, { content: 'queued', if_busy: 'enqueue' });
    await http(base(), 'POST', `/sessions/${id}/cancel`);
    expect((await waitForIdle(base(), id)).response).toEqual({ role: 'assistant', content: 'echo: queued' });
    await expectEnd(id, turnId, queued.turn_id);
  });
});
