import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, waitUntil } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';
import { HeldAgent } from './support/held-agent.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Cancel and interrupt on the native API, with a slow echo agent (20 s a turn) so a turn
 * is surely running when the cancel arrives. The real agents' aborted upstream requests
 * are checked in agents.test.ts.
 */
let baton: Baton;
let receiver: Receiver;
let base: string;

beforeAll(async () => {
  receiver = await Receiver.start();
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    // The reaper delivers the events of turns that never left a deleted session's queue (it
    // looks RUNNING_GRACE_MS after the DELETE).
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', RUNNING_GRACE_MS: '1000', REAPER_INTERVAL_MS: '200' },
    workerEnv: { ECHO_DELAY_MS: '20000' },
  });
  base = baton.url;
});
afterAll(async () => {
  await baton?.stop();
  await receiver?.close();
});

const contents = async (id: string) =>
  (await http(base, 'GET', `/sessions/${id}/messages`)).body.map((m: { content: string }) => m.content);

async function send(id: string, body: Record<string, unknown>) {
  const res = await http(base, 'POST', `/sessions/${id}/messages`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

describe('POST /sessions/{id}/cancel', () => {
  it('aborts the running turn: the session is idle with error "Turn cancelled", no reply, one turn.cancelled webhook', async () => {
    const id = await createSession(base, { webhook: { url: `${receiver.url}/cancel` } });
    const sent = await send(id, { content: 'long job' });
    const res = await http(base, 'POST', `/sessions/${id}/cancel`);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ session_id: id, cancelled_turn_id: sent.turn_id });

    expect(await waitForIdle(base, id, 10)).toMatchObject({ status: 'idle', error: 'Turn cancelled', response: null });
    expect(await contents(id)).toEqual(['long job']);
    const [event] = await receiver.waitFor(1);
    expect(event!.headers['webhook-id']).toBe(`msg_${sent.turn_id}`);
    expect(event!.json).toMatchObject({ type: 'turn.cancelled', turn_id: sent.turn_id, status: 'idle', error: 'Turn cancelled' });

    // Nothing to cancel now; unknown sessions are 404.
    expect((await http(base, 'POST', `/sessions/${id}/cancel`)).body).toEqual({ session_id: id, cancelled_turn_id: null });
    expect((await http(base, 'POST', `/sessions/${crypto.randomUUID()}/cancel`)).status).toBe(404);
  });
});

describe('if_busy: "interrupt"', () => {
  it('cancels the running turn and starts the new message', async () => {
    const id = await createSession(base);
    const first = await send(id, { content: 'slow' });
    const second = await send(id, { content: 'instead', if_busy: 'interrupt' });
    expect(second).toMatchObject({ queued: true, cancelled_turn_id: first.turn_id });
    // The new turn starts as soon as the worker has stopped the old one (not after 20 s).
    await waitUntilStarted(id, ['slow', 'instead']);
    expect((await http(base, 'POST', `/sessions/${id}/cancel`)).body.cancelled_turn_id).toBe(second.turn_id);
  });

  it('keeps queued messages in order: they run before the interrupting one', async () => {
    const id = await createSession(base);
    await send(id, { content: 'slow' });
    await send(id, { content: 'queued', if_busy: 'enqueue' });
    const last = await send(id, { content: 'interrupting', if_busy: 'interrupt' });
    expect(last.queued).toBe(true);
    // `queued` runs now; `interrupting` waits behind it.
    expect(await waitUntilStarted(id, ['slow', 'queued'])).toMatchObject({ pending_messages: 1 });
    await http(base, 'DELETE', `/sessions/${id}`);
  });

  it('on an idle session just starts the turn', async () => {
    const id = await createSession(base);
    const sent = await send(id, { content: 'hello', if_busy: 'interrupt' });
    expect(sent).toEqual({ session_id: id, status: 'running', turn_id: expect.any(String), queued: false });
    await http(base, 'DELETE', `/sessions/${id}`);
  });
});

/** Every turn that got a 202 ends, and says so once, also when it never left the queue. */
describe('queued turns of a deleted or archived session', () => {
  const ended = (turnId: string) => receiver.requests.filter((r) => r.json?.turn_id === turnId);

  it('DELETE of a paused session: each queued turn gets its one turn.cancelled webhook', async () => {
    const id = await createSession(base);
    expect((await http(base, 'POST', `/api/conversations/${id}/pause`)).status).toBe(200);
    const hook = { url: `${receiver.url}/paused` };
    const queued = [await send(id, { content: 'a', if_busy: 'enqueue', webhook: hook }), await send(id, { content: 'b', if_busy: 'enqueue', webhook: hook })];
    for (const q of queued) expect(q).toMatchObject({ queued: true });
    expect((await http(base, 'DELETE', `/sessions/${id}`)).status).toBe(204);

    // No worker runs a turn of this session: the reaper delivers the events.
    await waitUntil(() => queued.every((q) => ended(q.turn_id).length > 0), { timeoutMs: 15_000, what: 'both turn.cancelled webhooks' });
    for (const q of queued) {
      expect(ended(q.turn_id).map((r) => r.json)).toEqual([
        expect.objectContaining({ type: 'turn.cancelled', session_id: id, status: 'idle', error: 'Turn cancelled' }),
      ]);
    }
  });

  it('OpenHands V1: deleting the sandbox ends the queued turn as cancelled (one webhook), not pending for ever', async () => {
    const task = (await http(base, 'POST', '/api/v1/app-conversations', { initial_message: { content: [{ type: 'text', text: 'first' }] } })).body;
    const id = task.app_conversation_id as string;
    await waitUntilStarted(id, ['first']);
    const queued = await send(id, { content: 'second', if_busy: 'enqueue', webhook: { url: `${receiver.url}/archived` } });
    expect(queued).toMatchObject({ queued: true });

    expect((await http(base, 'DELETE', `/api/v1/sandboxes/${task.sandbox_id}`)).status).toBe(200);
    await waitUntil(() => ended(queued.turn_id).length > 0, { timeoutMs: 15_000, what: 'the queued turn’s webhook' });
    // The running turn is cancelled too (its sandbox is gone); nothing is left pending.
    expect(await waitForIdle(base, id, 10)).toMatchObject({ status: 'idle', error: 'Turn cancelled', pending_messages: 0 });
    expect(ended(queued.turn_id).map((r) => r.json)).toEqual([
      expect.objectContaining({ type: 'turn.cancelled', session_id: id, status: 'idle', error: 'Turn cancelled' }),
    ]);
    // Its message stays in the conversation, its turn shown as cancelled.
    expect(await contents(id)).toEqual(['first', 'second']);
  });
});

/**
 * A cancel answered with a turn's id ends that turn as cancelled even when the pub/sub
 * message that aborts its agent is lost (this worker drops every one: BATON_FAULT
 * skip:worker.cancel-message) and the agent answers after the cancel: the held agent
 * answers only once the cancel has been answered. No timing involved.
 */
describe('a cancel whose abort never reaches the agent', () => {
  const ADMIN_KEY = 'admin-key-for-cancel-tests';
  let deaf: Baton;
  let agent: HeldAgent;
  let hooks: Receiver;
  let metricsUrl: string;

  beforeAll(async () => {
    agent = await HeldAgent.start();
    hooks = await Receiver.start();
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    deaf = await Baton.start({
      redisUrl: inject('redisUrl'),
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', HTTP_AGENT_URL: agent.url, ADMIN_KEY },
      workerEnv: { BATON_FAULT: 'skip:worker.cancel-message', METRICS_PORT: String(metricsPort) },
    });
  });
  afterAll(async () => {
    await deaf?.stop();
    await agent?.close();
    await hooks?.close();
  });

  /** Sends a message on a new session and waits for the held agent to have it. */
  async function heldTurn(path: string) {
    const id = await createSession(deaf.url, { agent: 'http', webhook: { url: `${hooks.url}/${path}` } });
    const before = agent.received;
    const sent = await http(deaf.url, 'POST', `/sessions/${id}/messages`, { content: 'long job' });
    expect(sent.status).toBe(202);
    await waitUntil(() => agent.received > before, { what: 'the agent to have the turn' });
    return { id, turnId: sent.body.turn_id as string };
  }
  const events = (path: string) => hooks.requests.filter((r) => r.path === `/${path}`).map((r) => r.json);

  it('POST /cancel: the turn ends cancelled, without its reply, with one turn.cancelled webhook', async () => {
    const { id, turnId } = await heldTurn('cancel');
    const cancel = await http(deaf.url, 'POST', `/sessions/${id}/cancel`);
    expect(cancel.body).toEqual({ session_id: id, cancelled_turn_id: turnId });
    // The agent never heard of the cancel: it answers, and the worker records its reply.
    agent.release('too late');

    expect(await waitForIdle(deaf.url, id, 10)).toMatchObject({ status: 'idle', error: 'Turn cancelled', response: null });
    const history = (await http(deaf.url, 'GET', `/sessions/${id}/messages`)).body;
    expect(history.map((m: { content: string }) => m.content)).toEqual(['long job']);
    await waitUntil(() => events('cancel').length > 0, { what: 'the turn-end webhook' });
    // A later turn ends the same way; by then a second event for this turn would be in too.
    const later = await http(deaf.url, 'POST', `/sessions/${id}/messages`, { content: 'next' });
    await waitUntil(() => agent.held.size > 0, { what: 'the next turn to reach the agent' });
    agent.release('done');
    await waitUntil(() => events('cancel').length >= 2, { what: "the next turn's webhook" });
    expect(events('cancel')).toEqual([
      expect.objectContaining({ type: 'turn.cancelled', turn_id: turnId, status: 'idle', error: 'Turn cancelled', response: null }),
      expect.objectContaining({ type: 'turn.completed', turn_id: later.body.turn_id }),
    ]);
    // The worker counts it as cancelled.
    const metrics = await waitUntil(async () => {
      const body = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text();
      return /outcome="completed"\} 1\n/.test(body) && body;
    }, { what: 'the worker metrics' });
    expect(metrics).toMatch(/baton_turn_duration_seconds_count\{agent="http",outcome="cancelled"\} 1\n/);
  });

  it('if_busy: "interrupt": the interrupted turn ends cancelled, then the new message runs', async () => {
    const { id, turnId } = await heldTurn('interrupt');
    const second = await http(deaf.url, 'POST', `/sessions/${id}/messages`, { content: 'instead', if_busy: 'interrupt' });
    expect(second.body).toMatchObject({ queued: true, cancelled_turn_id: turnId });
    agent.release('too late');
    // The interrupting message's turn reaches the agent: the first one has ended.
    await waitUntil(() => agent.held.size > 0, { what: 'the interrupting turn to reach the agent' });
    agent.release('answer');
    expect(await waitForIdle(deaf.url, id, 10)).toMatchObject({ status: 'idle', error: null, response: { content: 'answer' } });
    const history = (await http(deaf.url, 'GET', `/sessions/${id}/messages`)).body;
    expect(history.map((m: { content: string }) => m.content)).toEqual(['long job', 'instead', 'answer']);
    await waitUntil(() => events('interrupt').length >= 2, { what: 'both turn-end webhooks' });
    expect(events('interrupt').map((e) => [e.type, e.turn_id])).toEqual([
      ['turn.cancelled', turnId],
      ['turn.completed', second.body.turn_id],
    ]);
  });
});

/** Polls until the session's history is `expected` (a turn started) and it is running. */
async function waitUntilStarted(id: string, expected: string[]) {
  return waitUntil(
    async () => {
      // History first: a view read after it cannot predate the turn the history shows.
      if (JSON.stringify(await contents(id)) !== JSON.stringify(expected)) return false;
      const view = (await http(base, 'GET', `/sessions/${id}`)).body;
      return view.status === 'running' && view;
    },
    { timeoutMs: 10_000, what: `session ${id} to run with history ${JSON.stringify(expected)}` },
  );
}
