import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/**
 * One core behind five APIs: a session made through one surface is used through the
 * others, with one history and one queue (the agent is the echo agent).
 */
let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl') });
  base = baton.url;
});
afterAll(() => baton?.stop());

const text = (t: string) => ({ type: 'text', text: t });

async function nativeHistory(id: string): Promise<string[]> {
  const res = await http(base, 'GET', `/sessions/${id}/messages`);
  return res.body.map((m: { role: string; content: string }) => `${m.role}: ${m.content}`);
}

it('native create → agenhq send → OpenHands events → OpenHands send → agenhq timeline and native history', async () => {
  const id = await createSession(base);

  const sent = await http(base, 'POST', `/api/v1/sessions/${id}/messages`, { message: 'from agenhq', client_id: 'c-1' });
  expect(sent.status).toBe(200);
  expect(sent.body).toMatchObject({ session_id: id, status: 'processing', client_id: 'c-1' });
  expect(await waitForIdle(base, id)).toMatchObject({ status: 'idle', response: { content: 'echo: from agenhq' } });

  // The OpenHands agent server sees the same conversation and its events.
  const conversation = await http(base, 'GET', `/api/conversations/${id}`);
  expect(conversation.body).toMatchObject({ id, execution_status: 'finished' });
  const events = await http(base, 'GET', `/api/conversations/${id}/events/search`);
  expect(events.body.items.map((e: any) => [e.source, e.llm_message.content[0].text])).toEqual([
    ['user', 'from agenhq'],
    ['agent', 'echo: from agenhq'],
  ]);

  const more = await http(base, 'POST', `/api/conversations/${id}/events`, { role: 'user', content: [text('from openhands')], run: true });
  expect(more.body).toEqual({ success: true });
  await waitForIdle(base, id);

  // agenhq's timeline: every message, completed, the first still carrying its client id.
  const timeline = await http(base, 'GET', `/api/v1/sessions/${id}/events`);
  expect(timeline.body.map((e: any) => [e.type, e.payload.message, e.status, e.client_id])).toEqual([
    ['user_message', 'from agenhq', 'completed', 'c-1'],
    ['agent_message', 'echo: from agenhq', 'completed', null],
    ['user_message', 'from openhands', 'completed', null],
    ['agent_message', 'echo: from openhands', 'completed', null],
  ]);
  expect(timeline.body[0].id).toBe(sent.body.id);
  expect(await nativeHistory(id)).toEqual([
    'user: from agenhq',
    'assistant: echo: from agenhq',
    'user: from openhands',
    'assistant: echo: from openhands',
  ]);
});

it('OpenHands V1 start → native and agenhq use it → deleting its sandbox archives it everywhere', async () => {
  const task = await http(base, 'POST', '/api/v1/app-conversations', { title: 'cross' });
  expect(task.status).toBe(200);
  const id: string = task.body.app_conversation_id;

  const native = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'from native' });
  expect(native.status).toBe(202);
  await waitForIdle(base, id);
  const session = await http(base, 'GET', `/api/v1/sessions/${id}`);
  expect(session.body).toMatchObject({ id, title: 'cross', agent_status: 'idle' });
  const v1 = await http(base, 'GET', `/api/v1/app-conversations/${id}`);
  expect(v1.body).toMatchObject({ id, sandbox_status: 'RUNNING', execution_status: 'finished' });

  expect((await http(base, 'DELETE', `/api/v1/sandboxes/${task.body.sandbox_id}`)).status).toBe(200);
  // Archived: every surface refuses new messages in its own shape, and still reads it.
  const refusedNative = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'late' });
  expect(refusedNative.status).toBe(410);
  expect(refusedNative.body.error.code).toBe('session_archived');
  const refusedAgenhq = await http(base, 'POST', `/api/v1/sessions/${id}/messages`, { message: 'late' });
  expect(refusedAgenhq.status).toBe(410);
  expect(refusedAgenhq.body).toMatchObject({ statusCode: 410, error: 'Gone' });
  const refusedV1 = await http(base, 'POST', `/api/v1/app-conversations/${id}/send-message`, { role: 'user', content: [text('late')] });
  expect(refusedV1.status).toBe(410);
  expect(refusedV1.body).toHaveProperty('detail');
  expect(await nativeHistory(id)).toEqual(['user: from native', 'assistant: echo: from native']);
});
