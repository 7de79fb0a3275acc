import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { HeldAgent } from './support/held-agent.ts';

/**
 * The calls the Motus Python client (`motus.cloud`, `_transport.py`) makes, as it makes
 * them: `Authorization: Bearer`, a message, then `GET /sessions/{id}?wait=true&timeout=90`
 * until the status is idle, interrupted or error; `GET /sessions` with no paging; the
 * FastAPI `detail` string of error bodies, which is what it shows.
 */

let baton: Baton;
let agent: HeldAgent;
let base: string;
const KEY = 'motus-key-1';
const auth = (key = KEY) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  agent = await HeldAgent.start();
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { API_KEYS: `${KEY},motus-key-2,motus-key-3`, HTTP_AGENT_URL: agent.url } });
  base = baton.url;
});
afterAll(async () => {
  await baton?.stop();
  await agent?.close();
});

async function heldTurn(): Promise<string> {
  const id = (await http(base, 'POST', '/sessions', { agent: 'http' }, auth())).body.session_id as string;
  const before = agent.received;
  expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'hi' }, auth())).status).toBe(202);
  await waitUntil(() => agent.received > before, { what: 'the turn to reach the agent' });
  return id;
}

describe('waiting for a turn', () => {
  it.each(['90', '90.0'])('GET ?wait=true&timeout=%s holds while the turn runs and answers when it ends', async (timeout) => {
    const id = await heldTurn();
    let answered = false;
    const poll = http(base, 'GET', `/sessions/${id}?wait=true&timeout=${timeout}`, undefined, auth()).finally(() => (answered = true));
    // Still held once the turn is running (the answer would be `running` if it were not waiting).
    const running = await http(base, 'GET', `/sessions/${id}`, undefined, auth());
    expect(running.body.status).toBe('running');
    expect(answered).toBe(false);
    agent.release('done');
    const res = await poll;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ session_id: id, status: 'idle', response: { role: 'assistant', content: 'done' }, error: null });
  });

  it('a wait holds up to LONG_POLL_MAX_S, 300 s by default, and as long without timeout', async () => {
    const doc = (await http(base, 'GET', '/openapi.json')).body;
    expect(doc.paths['/sessions/{id}'].get.description).toContain('(default 300, capped at 300)');
  });

  it('without timeout, the wait lasts until the turn ends', async () => {
    const id = await heldTurn();
    const poll = http(base, 'GET', `/sessions/${id}?wait=true`, undefined, auth());
    agent.release('over');
    expect((await poll).body).toMatchObject({ status: 'idle', response: { content: 'over' } });
  });
});

describe('listing', () => {
  it('GET /sessions without limit or cursor lists every session, with no cursor to follow', async () => {
    const key = 'motus-key-2';
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push((await http(base, 'POST', '/sessions', {}, auth(key))).body.session_id);
    const res = await http(base, 'GET', '/sessions', undefined, auth(key));
    expect(res.status).toBe(200);
    expect(res.body.map((s: any) => s.session_id)).toEqual(ids);
    expect(res.body[0]).toMatchObject({ session_id: ids[0], total_messages: 0, status: 'idle' });
    expect(res.headers.get('x-next-cursor')).toBeNull();
    // Asking for a page still pages.
    const page = await http(base, 'GET', '/sessions?limit=50', undefined, auth(key));
    expect(page.body).toHaveLength(50);
    expect(page.headers.get('x-next-cursor')).toBeTruthy();
  });
});

describe('error bodies', () => {
  it('carry a FastAPI-style detail string beside error: "Session not found", "Session is running"', async () => {
    const missing = await http(base, 'GET', '/sessions/00000000-0000-4000-8000-000000000000', undefined, auth());
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'session_not_found' }, detail: 'Session not found' });

    const id = await heldTurn();
    const busy = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'again' }, auth());
    expect(busy.status).toBe(409);
    expect(busy.body).toEqual({ error: { code: 'session_running', message: expect.stringMatching(/^Session is running; send with if_busy/) }, detail: 'Session is running' });
    agent.release('ok');

    // Another key's session is missing too, in the same words.
    const other = await http(base, 'GET', `/sessions/${id}`, undefined, auth('motus-key-3'));
    expect(other.body.detail).toBe('Session not found');

    const invalid = await http(base, 'POST', `/sessions/${id}/messages`, { content: 5 }, auth());
    expect(invalid.status).toBe(422);
    expect(invalid.body.detail).toBe(invalid.body.error.message);
    expect(invalid.body.detail).toMatch(/content/);
  });
});

describe('interrupts and resume, as the Motus client does them', () => {
  /** The client's loop: long-poll with timeout=90 until idle, interrupted or error. */
  async function untilEnd(id: string): Promise<any> {
    for (;;) {
      const res = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=90`, undefined, auth());
      expect(res.status).toBe(200);
      if (['idle', 'interrupted', 'error'].includes(res.body.status)) return res.body;
    }
  }

  it('a turn that asks for input ends the wait as interrupted; resume continues it; a second resume is 409, an unknown interrupt 404', async () => {
    const id = (await http(base, 'POST', '/sessions', {}, auth())).body.session_id as string;
    const ask = { echo: { interrupt: { type: 'tool_approval', payload: { tool: 'deploy' } } } };
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'deploy it', user_params: ask }, auth())).status).toBe(202);

    const waiting = await untilEnd(id);
    expect(waiting).toMatchObject({ session_id: id, status: 'interrupted', response: null, error: null });
    expect(waiting.interrupts).toEqual([{ interrupt_id: expect.any(String), type: 'tool_approval', payload: { tool: 'deploy' } }]);
    const interruptId = waiting.interrupts[0].interrupt_id as string;

    // While it waits: a message is refused, and an interrupt it does not wait on is not found (with `detail`).
    const busy = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'again' }, auth());
    expect(busy.status).toBe(409);
    expect(typeof busy.body.detail).toBe('string');
    const unknown = await http(base, 'POST', `/sessions/${id}/resume`, { interrupt_id: 'no-such-interrupt', value: true }, auth());
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toMatch(/not found/);

    const resumed = await http(base, 'POST', `/sessions/${id}/resume`, { interrupt_id: interruptId, value: { approved: true } }, auth());
    expect(resumed.status).toBe(200);
    expect(resumed.body).toEqual({ session_id: id, status: 'running' });

    const done = await untilEnd(id);
    expect(done).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: deploy it {"approved":true}' }, error: null });

    const again = await http(base, 'POST', `/sessions/${id}/resume`, { interrupt_id: interruptId, value: true }, auth());
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe('Session is idle, not interrupted');
    // Another key's session is not found, as the client shows it.
    const foreign = await http(base, 'POST', `/sessions/${id}/resume`, { interrupt_id: interruptId, value: true }, auth('motus-key-2'));
    expect(foreign.status).toBe(404);
    expect(foreign.body.detail).toBe('Session not found');
  });
});
