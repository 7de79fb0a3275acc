import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';
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
    env: { WEBHOOK_ALLOW_PRIVATE: 'true' },
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
