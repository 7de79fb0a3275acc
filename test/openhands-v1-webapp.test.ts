import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { WsProbe, eventText } from './support/ws-probe.ts';

/**
 * The OpenHands web app's V1 sequence, with API keys on: start task → READY → the
 * conversation's `conversation_url` and minted `session_api_key` → the agent server at
 * that URL with that key (GET, WebSocket with messages as frames, events count, pause).
 * The minted key reaches its own conversation only, and dies with it.
 */

let baton: Baton;
let base: string;
const K1 = { 'X-Session-API-Key': 'k1' };
const K2 = { 'X-Session-API-Key': 'k2' };
const key = (k: string) => ({ 'X-Session-API-Key': k });

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '20' }, apiEnv: { API_KEYS: 'k1,k2' } });
  base = baton.apis[0]!.url;
});
afterAll(async () => {
  await baton?.stop();
});

/** What the web app does to get a conversation it can talk to. */
async function startConversation(): Promise<{ id: string; url: string; apiKey: string; sandboxId: string }> {
  const start = await http(base, 'POST', '/api/v1/app-conversations', { title: 'web app' }, K1);
  expect(start.status).toBe(200);
  let task: any;
  await waitUntil(
    async () => {
      const res = await http(base, 'GET', `/api/v1/app-conversations/start-tasks?ids=${start.body.id}`, undefined, K1);
      task = res.body[0];
      return task?.status === 'READY';
    },
    { timeoutMs: 10_000, what: 'start task READY' },
  );
  const got = await http(base, 'GET', `/api/v1/app-conversations?ids=${task.app_conversation_id}`, undefined, K1);
  expect(got.status).toBe(200);
  const conversation = got.body[0];
  expect(conversation).toMatchObject({ id: task.app_conversation_id, sandbox_status: 'RUNNING', execution_status: 'idle' });
  expect(conversation.sandbox_id).toBe(task.sandbox_id);
  expect(conversation.conversation_url).toBe(`${base}/api/conversations/${conversation.id}`);
  return { id: conversation.id, url: conversation.conversation_url, apiKey: conversation.session_api_key, sandboxId: conversation.sandbox_id };
}

describe('the web app sequence with the minted key', () => {
  it('start task → READY → conversation_url → WebSocket frames → events count → pause', async () => {
    const c = await startConversation();
    // A key minted for this conversation: never the tenant's own key.
    expect(c.apiKey).toMatch(/^ohk_[0-9a-f]{32}_/);
    expect(c.apiKey).not.toContain('k1');
    const path = new URL(c.url).pathname;

    const info = await http(base, 'GET', path, undefined, key(c.apiKey));
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({
      id: c.id,
      conversation_id: c.id,
      status: 'RUNNING',
      url: c.url,
      session_api_key: c.apiKey,
      conversation_version: 'V1',
      execution_status: 'idle',
    });

    const socket = WsProbe.open(base, c.id, `?session_api_key=${encodeURIComponent(c.apiKey)}`);
    await socket.waitFor((f) => f.key === 'full_state', 'the full state');
    socket.send({ role: 'user', content: [{ type: 'text', text: 'hello web app' }], run: true });
    await socket.waitFor((f) => f.kind === 'MessageEvent' && f.source === 'agent' && eventText(f) === 'echo: hello web app', 'the reply');
    await socket.waitFor((f) => f.key === 'execution_status' && f.value === 'finished', 'finished');
    await socket.close();

    const search = await http(base, 'GET', `${path}/events/search`, undefined, key(c.apiKey));
    expect(search.status).toBe(200);
    const count = await http(base, 'GET', `/api/v1/events/count?conversation_id__eq=${c.id.replace(/-/g, '')}`, undefined, key(c.apiKey));
    expect(count.status).toBe(200);
    expect(count.body).toBe(search.body.items.length);
    expect(count.body).toBeGreaterThanOrEqual(2);

    const pause = await http(base, 'POST', `${path}/pause`, {}, key(c.apiKey));
    expect(pause.status).toBe(200);
    expect((await http(base, 'GET', path, undefined, key(c.apiKey))).body.execution_status).toBe('paused');
    // The tenant's own key keeps working on the same routes.
    expect((await http(base, 'GET', path, undefined, K1)).body.session_api_key).toBe(c.apiKey);
  });
});

describe('the minted key reaches its own conversation only', () => {
  it('another conversation is not found (404, socket 4004); list, creation, sandboxes and other APIs refuse it (401)', async () => {
    const a = await startConversation();
    const b = await startConversation();
    expect(a.apiKey).not.toBe(b.apiKey);
    const ka = key(a.apiKey);
    expect((await http(base, 'GET', `/api/conversations/${b.id}`, undefined, ka)).status).toBe(404);
    expect((await http(base, 'POST', `/api/conversations/${b.id}/pause`, {}, ka)).status).toBe(404);
    expect((await http(base, 'GET', `/api/v1/app-conversations/${b.id}`, undefined, ka)).status).toBe(404);
    expect((await http(base, 'GET', `/api/v1/events/count?conversation_id__eq=${b.id}`, undefined, ka)).status).toBe(404);
    expect((await WsProbe.open(base, b.id, `?session_api_key=${a.apiKey}`).closed).code).toBe(4004);
    for (const [method, path] of [
      ['GET', '/api/conversations/search'],
      ['GET', `/api/conversations?ids=${a.id}`],
      ['POST', '/api/conversations'],
      ['GET', '/api/v1/app-conversations/search'],
      ['GET', `/api/v1/app-conversations/start-tasks?ids=${a.id}`],
      ['POST', '/api/v1/app-conversations'],
      ['GET', '/api/v1/sandboxes/search'],
    ] as const) {
      const res = await http(base, method, path, method === 'POST' ? {} : undefined, ka);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body).toEqual({ detail: expect.any(String) });
    }
    expect((await http(base, 'GET', `/sessions/${a.id}`, undefined, { Authorization: `Bearer ${a.apiKey}` })).status).toBe(401);
    expect((await http(base, 'GET', `/api/v1/sessions/${a.id}`, undefined, { 'x-api-key': a.apiKey })).status).toBe(401);
    // Another tenant's key does not see the conversation; its own tenant's key does.
    expect((await http(base, 'GET', `/api/conversations/${a.id}`, undefined, K2)).status).toBe(404);
    expect((await http(base, 'GET', `/api/conversations/${a.id}`, undefined, K1)).status).toBe(200);
    // A forged key for the conversation (right shape, wrong secret) is refused.
    const forged = `${a.apiKey.slice(0, -4)}AAAA` === a.apiKey ? `${a.apiKey.slice(0, -4)}BBBB` : `${a.apiKey.slice(0, -4)}AAAA`;
    expect((await http(base, 'GET', `/api/conversations/${a.id}`, undefined, key(forged))).status).toBe(401);
  });

  it('dies with its conversation: deleted (401, socket 4001) or archived with its sandbox (401)', async () => {
    const a = await startConversation();
    const b = await startConversation();
    expect((await http(base, 'GET', `/api/conversations/${a.id}`, undefined, key(a.apiKey))).status).toBe(200);
    expect((await http(base, 'DELETE', `/api/v1/app-conversations/${a.id}`, undefined, K1)).status).toBe(200);
    expect((await http(base, 'GET', `/api/conversations/${a.id}`, undefined, key(a.apiKey))).status).toBe(401);
    expect((await WsProbe.open(base, a.id, `?session_api_key=${a.apiKey}`).closed).code).toBe(4001);

    expect((await http(base, 'GET', `/api/conversations/${b.id}`, undefined, key(b.apiKey))).status).toBe(200);
    expect((await http(base, 'DELETE', `/api/v1/sandboxes/${b.sandboxId}`, undefined, K1)).status).toBe(200);
    expect((await http(base, 'GET', `/api/conversations/${b.id}`, undefined, key(b.apiKey))).status).toBe(401);
    // The tenant's own key still reads the archived conversation.
    const archived = await http(base, 'GET', `/api/conversations/${b.id}`, undefined, K1);
    expect(archived.status).toBe(200);
    expect(archived.body.status).toBe('ARCHIVED');
  });
});
