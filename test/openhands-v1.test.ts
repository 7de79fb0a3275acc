import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/** The OpenHands V1 app server surface: app conversations, sandboxes, sandbox specs. */

let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '1500' } });
  base = baton.url;
});
afterAll(() => baton?.stop());

const V1 = '/api/v1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const text = (...parts: string[]) => ({ role: 'user', content: parts.map((t) => ({ type: 'text', text: t })), run: true });
const sendMessage = (id: string, body: unknown, b = base) => http(b, 'POST', `${V1}/app-conversations/${id}/send-message`, body);
const getConversation = (id: string) => http(base, 'GET', `${V1}/app-conversations/${id}`);
const nativeMessages = async (id: string) =>
  (await http(base, 'GET', `/sessions/${id}/messages`)).body.map((m: { content: string }) => m.content);

/** Starts an app conversation; returns its start task. */
async function start(body: Record<string, unknown> = {}) {
  const res = await http(base, 'POST', `${V1}/app-conversations`, body);
  expect(res.status).toBe(200);
  return res.body;
}

/** Waits until the session has run every turn it was given (queued ones too). */
async function settle(id: string) {
  let view = await waitForIdle(base, id);
  for (let i = 0; i < 10 && (view.status === 'running' || (view.pending_messages > 0 && !view.paused)); i++) {
    view = await waitForIdle(base, id);
  }
  return view;
}

describe('app conversations', () => {
  it('POST /app-conversations starts a conversation in a new RUNNING sandbox and answers a READY start task', async () => {
    const task = await start({ title: 'My task', selected_repository: 'octo/repo', pr_number: [7], unknown_field: 'ignored' });
    expect(task).toEqual({
      id: task.app_conversation_id,
      created_by_user_id: null,
      status: 'READY',
      detail: null,
      app_conversation_id: expect.stringMatching(UUID),
      sandbox_id: expect.stringMatching(/^sb-[0-9a-f]{32}$/),
      agent_server_url: base,
      dependency_repos_cloned: [],
      request: expect.objectContaining({
        sandbox_id: task.sandbox_id,
        conversation_id: task.app_conversation_id,
        initial_message: null,
        title: 'My task',
        selected_repository: 'octo/repo',
        pr_number: [7],
        agent_type: 'default',
      }),
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
    });
    const id = task.app_conversation_id;

    const conversation = await getConversation(id);
    expect(conversation.status).toBe(200);
    expect(conversation.body).toEqual({
      id,
      created_by_user_id: null,
      sandbox_id: task.sandbox_id,
      selected_repository: 'octo/repo',
      selected_branch: null,
      git_provider: null,
      title: 'My task',
      trigger: null,
      pr_number: [7],
      llm_model: null,
      agent_kind: 'openhands',
      metrics: null,
      parent_conversation_id: null,
      sub_conversation_ids: [],
      public: null,
      tags: {},
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
      acp_server: null,
      sandbox_status: 'RUNNING',
      execution_status: 'idle',
      conversation_url: `${base}/api/conversations/${id}`,
      session_api_key: null,
    });

    // It is a Baton session, and its sandbox is listed RUNNING.
    expect((await http(base, 'GET', `/sessions/${id}`)).body).toMatchObject({ session_id: id, status: 'idle' });
    const sandboxes = await http(base, 'GET', `${V1}/sandboxes?id=${task.sandbox_id}`);
    expect(sandboxes.body).toEqual([
      {
        id: task.sandbox_id,
        created_by_user_id: null,
        sandbox_spec_id: 'baton-default',
        status: 'RUNNING',
        session_api_key: null,
        exposed_urls: [{ name: 'AGENT_SERVER', url: base, port: Number(new URL(base).port) }],
        created_at: expect.stringMatching(ISO),
      },
    ]);

    // The start task can be fetched again by id, as clients poll it.
    const tasks = await http(base, 'GET', `${V1}/app-conversations/start-tasks?ids=${id}&ids=${randomUUID()}`);
    expect(tasks.status).toBe(200);
    expect(tasks.body).toEqual([expect.objectContaining({ id, status: 'READY', app_conversation_id: id, sandbox_id: task.sandbox_id }), null]);
  });

  it('initial_message runs as the first turn; execution_status follows it (running, then finished)', async () => {
    const task = await start({ initial_message: { role: 'user', content: [{ type: 'text', text: 'hello' }] } });
    const id = task.app_conversation_id;
    expect(task.request.initial_message).toEqual({ role: 'user', content: [{ type: 'text', text: 'hello' }] });
    expect((await getConversation(id)).body.execution_status).toBe('running');
    await settle(id);
    expect(await nativeMessages(id)).toEqual(['hello', 'echo: hello']);
    expect((await getConversation(id)).body.execution_status).toBe('finished');
  });

  it('send-message answers {success, sandbox_status, message}; the reply lands in the native history', async () => {
    const { app_conversation_id: id } = await start();
    const res = await sendMessage(id, text('first line', 'second line'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, sandbox_status: 'RUNNING', message: null });
    await settle(id);
    expect(await nativeMessages(id)).toEqual(['first line\nsecond line', 'echo: first line\nsecond line']);

    // The hex form OpenHands writes ids in is accepted too.
    const hex = await sendMessage(id.replace(/-/g, ''), { content: [{ type: 'text', text: 'hex' }] });
    expect(hex.body).toEqual({ success: true, sandbox_status: 'RUNNING', message: null });
    await settle(id);
    expect((await nativeMessages(id)).slice(2)).toEqual(['hex', 'echo: hex']);
  });

  it('run:true on a busy conversation queues the message (no 409); run:false only appends it', async () => {
    const { app_conversation_id: id } = await start();
    expect((await sendMessage(id, text('one'))).status).toBe(200);
    const busy = await sendMessage(id, text('two'));
    expect(busy.status).toBe(200);
    expect(busy.body).toEqual({ success: true, sandbox_status: 'RUNNING', message: null });
    await settle(id);
    expect(await nativeMessages(id)).toEqual(['one', 'echo: one', 'two', 'echo: two']);

    const quiet = await sendMessage(id, { role: 'user', content: [{ type: 'text', text: 'note' }], run: false });
    expect(quiet.body).toEqual({ success: true, sandbox_status: 'RUNNING', message: null });
    const view = (await http(base, 'GET', `/sessions/${id}`)).body;
    expect(view.status).toBe('idle');
    expect(await nativeMessages(id)).toEqual(['one', 'echo: one', 'two', 'echo: two', 'note']);
  });

  it('GET /search pages with page_id and limit; sessions not started here are not listed', async () => {
    const native = await createSession(base);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await start({ title: `paged ${i}` })).app_conversation_id);
    const seen: string[] = [];
    let path = `${V1}/app-conversations/search?limit=2`;
    for (let pages = 0; pages < 100; pages++) {
      const res = await http(base, 'GET', path);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['items', 'next_page_id']);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      for (const item of res.body.items) {
        expect(item).toMatchObject({ id: expect.stringMatching(UUID), sandbox_status: expect.any(String) });
        seen.push(item.id);
      }
      if (res.body.next_page_id === null) break;
      path = `${V1}/app-conversations/search?limit=2&page_id=${res.body.next_page_id}`;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).not.toContain(native);
    const positions = ids.map((id) => seen.indexOf(id));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);

    const titled = await http(base, 'GET', `${V1}/app-conversations/search?title__contains=PAGED%201`);
    expect(titled.body.items.map((c: { id: string }) => c.id)).toEqual([ids[1]]);
  });

  it('GET /app-conversations?ids= returns each conversation, null for missing ones; 400 for a bad id', async () => {
    const a = (await start()).app_conversation_id;
    const b = (await start()).app_conversation_id;
    const native = await createSession(base);
    const missing = randomUUID();
    const res = await http(base, 'GET', `${V1}/app-conversations?ids=${a}&ids=${b.replace(/-/g, '')}&ids=${missing}&ids=${native}`);
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(4);
    expect(res.body[0]).toMatchObject({ id: a, sandbox_status: 'RUNNING', execution_status: 'idle' });
    expect(res.body[1]).toMatchObject({ id: b, sandbox_status: 'RUNNING' });
    expect(res.body[2]).toBeNull();
    expect(res.body[3]).toBeNull();

    const bad = await http(base, 'GET', `${V1}/app-conversations?ids=${a}&ids=nope`);
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ detail: "Invalid UUID format for ids: ['nope']" });
    const none = await http(base, 'GET', `${V1}/app-conversations`);
    expect(none.status).toBe(422);
    expect(none.body).toEqual({ detail: [{ loc: ['query', 'ids'], msg: 'Field required', type: 'missing' }] });
  });

  it('DELETE /app-conversations/{id} deletes it, and its sandbox once no conversation uses it', async () => {
    const first = await start();
    const second = await start({ sandbox_id: first.sandbox_id });
    expect(second.sandbox_id).toBe(first.sandbox_id);

    const del = await http(base, 'DELETE', `${V1}/app-conversations/${first.app_conversation_id}`);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ success: true });
    expect((await getConversation(first.app_conversation_id)).status).toBe(404);
    expect((await http(base, 'GET', `/sessions/${first.app_conversation_id}`)).status).toBe(404);
    expect((await http(base, 'GET', `${V1}/sandboxes?id=${first.sandbox_id}`)).body).toEqual([expect.objectContaining({ status: 'RUNNING' })]);

    await http(base, 'DELETE', `${V1}/app-conversations/${second.app_conversation_id}`);
    expect((await http(base, 'GET', `${V1}/sandboxes?id=${first.sandbox_id}`)).body).toEqual([null]);

    const again = await http(base, 'DELETE', `${V1}/app-conversations/${second.app_conversation_id}`);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ detail: `Conversation ${second.app_conversation_id} not found` });
    const bad = await http(base, 'DELETE', `${V1}/app-conversations/not-a-uuid`);
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ detail: 'Invalid conversation ID format' });
  });
});

describe('sandboxes', () => {
  it('pausing a sandbox stops new turns in all its conversations (409); a queued message waits for resume', async () => {
    const task = await start();
    const id = task.app_conversation_id;
    const other = (await start({ sandbox_id: task.sandbox_id })).app_conversation_id;

    // A slow turn runs; a second message is queued behind it through the native API.
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'slow' })).status).toBe(202);
    const queued = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'queued', if_busy: 'enqueue' });
    expect(queued.body.queued).toBe(true);

    const pause = await http(base, 'POST', `${V1}/sandboxes/${task.sandbox_id}/pause`);
    expect(pause.status).toBe(200);
    expect(pause.body).toEqual({ success: true });

    for (const conversation of [id, other]) {
      const refused = await sendMessage(conversation, text('not now'));
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual({
        detail: `Sandbox is PAUSED. Use POST /api/v1/sandboxes/${task.sandbox_id}/resume to resume it first.`,
      });
    }
    const paused = (await getConversation(id)).body;
    expect(paused).toMatchObject({ sandbox_status: 'PAUSED', execution_status: null, conversation_url: null });

    // The running turn finishes; the queued message does not start.
    const view = await waitForIdle(base, id);
    expect(view).toMatchObject({ status: 'idle', pending_messages: 1 });
    expect(await nativeMessages(id)).toEqual(['slow', 'echo: slow']);
    expect((await http(base, 'GET', `/sessions/${other}`)).body.status).toBe('idle');
    expect(await nativeMessages(other)).toEqual([]);

    const resume = await http(base, 'POST', `${V1}/sandboxes/${task.sandbox_id}/resume`);
    expect(resume.status).toBe(200);
    expect(resume.body).toEqual({ success: true });
    await settle(id);
    expect(await nativeMessages(id)).toEqual(['slow', 'echo: slow', 'queued', 'echo: queued']);
    expect((await getConversation(id)).body).toMatchObject({ sandbox_status: 'RUNNING', execution_status: 'finished' });
    expect((await sendMessage(other, text('now'))).status).toBe(200);
    await settle(other);
    expect(await nativeMessages(other)).toEqual(['now', 'echo: now']);
  });

  it('deleting a sandbox archives its conversations: send-message 410, the conversation stays readable', async () => {
    const task = await start({ initial_message: { content: [{ type: 'text', text: 'before' }] } });
    const id = task.app_conversation_id;
    await settle(id);

    const del = await http(base, 'DELETE', `${V1}/sandboxes/${task.sandbox_id}`);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ success: true });

    const gone = await sendMessage(id, text('after'));
    expect(gone.status).toBe(410);
    expect(gone.body).toEqual({ detail: 'Conversation is archived. The sandbox no longer exists.' });
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'native' })).status).toBe(410);

    const conversation = await getConversation(id);
    expect(conversation.status).toBe(200);
    expect(conversation.body).toMatchObject({ id, sandbox_id: task.sandbox_id, sandbox_status: 'MISSING', execution_status: null, conversation_url: null });
    expect(await nativeMessages(id)).toEqual(['before', 'echo: before']);

    // The sandbox itself is gone.
    expect((await http(base, 'GET', `${V1}/sandboxes?id=${task.sandbox_id}`)).body).toEqual([null]);
    const search = await http(base, 'GET', `${V1}/sandboxes/search`);
    expect(search.body.items.map((s: { id: string }) => s.id)).not.toContain(task.sandbox_id);
    for (const path of [`/${task.sandbox_id}/pause`, `/${task.sandbox_id}/resume`]) {
      const res = await http(base, 'POST', `${V1}/sandboxes${path}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ detail: `Sandbox ${task.sandbox_id} not found` });
    }
    expect((await http(base, 'DELETE', `${V1}/sandboxes/${task.sandbox_id}`)).status).toBe(404);
    // And no new conversation can start in it.
    const refused = await http(base, 'POST', `${V1}/app-conversations`, { sandbox_id: task.sandbox_id });
    expect(refused.status).toBe(404);
  });

  it('POST /sandboxes starts one; search pages them; sandbox-specs lists the built-in spec', async () => {
    const created = await http(base, 'POST', `${V1}/sandboxes?sandbox_spec_id=baton-default`);
    expect(created.status).toBe(200);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^sb-/),
      created_by_user_id: null,
      sandbox_spec_id: 'baton-default',
      status: 'RUNNING',
      session_api_key: null,
      exposed_urls: [{ name: 'AGENT_SERVER', url: base, port: Number(new URL(base).port) }],
      created_at: expect.stringMatching(ISO),
    });
    const another = (await http(base, 'POST', `${V1}/sandboxes`)).body;

    const seen: string[] = [];
    let path = `${V1}/sandboxes/search?limit=1`;
    for (let pages = 0; pages < 100; pages++) {
      const res = await http(base, 'GET', path);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['items', 'next_page_id']);
      seen.push(...res.body.items.map((s: { id: string }) => s.id));
      if (res.body.next_page_id === null) break;
      path = `${V1}/sandboxes/search?limit=1&page_id=${res.body.next_page_id}`;
    }
    expect(seen.indexOf(created.body.id)).toBeGreaterThanOrEqual(0);
    expect(seen.indexOf(another.id)).toBeGreaterThan(seen.indexOf(created.body.id));

    // A conversation can start in it; as upstream, starting one in a paused sandbox resumes it.
    expect((await http(base, 'POST', `${V1}/sandboxes/${created.body.id}/pause`)).status).toBe(200);
    expect((await http(base, 'GET', `${V1}/sandboxes?id=${created.body.id}`)).body[0]).toMatchObject({ status: 'PAUSED', exposed_urls: null });
    const task = await start({ sandbox_id: created.body.id });
    expect(task.sandbox_id).toBe(created.body.id);
    expect((await getConversation(task.app_conversation_id)).body).toMatchObject({ sandbox_status: 'RUNNING', execution_status: 'idle' });

    const specs = await http(base, 'GET', `${V1}/sandbox-specs/search`);
    expect(specs.status).toBe(200);
    expect(specs.body).toEqual({
      items: [{ id: 'baton-default', command: null, created_at: expect.stringMatching(ISO), initial_env: {}, working_dir: '/workspace' }],
      next_page_id: null,
    });
    expect((await http(base, 'GET', `${V1}/sandbox-specs?id=baton-default&id=nope`)).body).toEqual([specs.body.items[0], null]);

    const badSpec = await http(base, 'POST', `${V1}/sandboxes?sandbox_spec_id=nope`);
    expect(badSpec.status).toBe(404);
    expect(badSpec.body).toEqual({ detail: 'Sandbox spec nope not found' });
  });
});

describe('errors', () => {
  it('404 for unknown conversations, non-UUID ids, sessions not started here and unknown sandboxes', async () => {
    const missing = randomUUID();
    const unknown = await sendMessage(missing, text('x'));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: `Conversation ${missing} not found` });
    expect((await sendMessage('not-a-uuid', text('x'))).status).toBe(404);
    expect((await getConversation(missing)).body).toEqual({ detail: `Conversation ${missing} not found` });
    expect((await sendMessage(await createSession(base), text('x'))).status).toBe(404);

    const sandbox = await http(base, 'POST', `${V1}/sandboxes/sb-nope/pause`);
    expect(sandbox.status).toBe(404);
    expect(sandbox.body).toEqual({ detail: 'Sandbox sb-nope not found' });
    const startIn = await http(base, 'POST', `${V1}/app-conversations`, { sandbox_id: 'sb-nope' });
    expect(startIn.status).toBe(404);
    expect(startIn.body).toEqual({ detail: 'Sandbox sb-nope not found' });
    const route = await http(base, 'GET', `${V1}/sandboxes/whatever/else`);
    expect(route.status).toBe(404);
    expect(route.body).toEqual({ detail: expect.any(String) });
  });

  it('422 in FastAPI shape, with pydantic type names, for content: [], a missing content or body, a wrong role and a bad limit', async () => {
    const { app_conversation_id: id } = await start();
    const empty = await sendMessage(id, { role: 'user', content: [], run: true });
    expect(empty.status).toBe(422);
    expect(empty.body).toEqual({
      detail: [
        {
          type: 'too_short',
          loc: ['body', 'content'],
          msg: 'List should have at least 1 item after validation, not 0',
          input: [],
          ctx: { field_type: 'List', min_length: 1, actual_length: 0 },
        },
      ],
    });
    const noContent = await sendMessage(id, { run: true });
    expect(noContent.status).toBe(422);
    expect(noContent.body).toEqual({ detail: [{ loc: ['body', 'content'], msg: 'Field required', type: 'missing' }] });
    const noBody = await http(base, 'POST', `${V1}/app-conversations/${id}/send-message`);
    expect(noBody.status).toBe(422);
    expect(noBody.body).toEqual({ detail: [{ loc: ['body'], msg: 'Field required', type: 'missing' }] });
    const role = await sendMessage(id, { role: 'assistant', content: [{ type: 'text', text: 'x' }] });
    expect(role.status).toBe(422);
    expect(role.body.detail).toEqual([{ loc: ['body', 'role'], msg: "Input should be 'user'", type: 'literal_error', input: 'assistant', ctx: { expected: "'user'" } }]);
    const limit = await http(base, 'GET', `${V1}/app-conversations/search?limit=0`);
    expect(limit.status).toBe(422);
    expect(limit.body).toEqual({ detail: [{ loc: ['query', 'limit'], msg: 'Input should be greater than 0', type: 'greater_than', input: '0', ctx: { gt: 0 } }] });
    // Nothing reached the history.
    expect(await nativeMessages(id)).toEqual([]);
  });
});

describe('auth', () => {
  it('answers 401 {detail} without or with a wrong X-Session-API-Key, and works with a valid one', async () => {
    const secured = await Baton.start({ redisUrl: inject('redisUrl'), apiEnv: { API_KEYS: 'k1,k2' }, workers: 0 });
    try {
      const url = secured.url;
      const attempts: Record<string, string>[] = [{}, { 'x-session-api-key': 'wrong' }, { authorization: 'Bearer k1' }];
      for (const headers of attempts) {
        const res = await http(url, 'POST', `${V1}/app-conversations`, {}, headers);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ detail: 'A valid API key is required' });
      }
      expect((await http(url, 'GET', `${V1}/sandboxes/search`)).status).toBe(401);
      expect((await http(url, 'GET', `${V1}/sandbox-specs/search`)).status).toBe(401);

      const ok = await http(url, 'POST', `${V1}/app-conversations`, {}, { 'x-session-api-key': 'k2' });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'READY', created_by_user_id: expect.stringMatching(/^t_[0-9a-f]{16}$/) });
      const listed = await http(url, 'GET', `${V1}/sandboxes/search`, undefined, { 'x-session-api-key': 'k2' });
      expect(listed.status).toBe(200);
      expect(listed.body.items.map((s: { id: string }) => s.id)).toContain(ok.body.sandbox_id);
      // Each key is a tenant: the other key's search leaves the sandbox out.
      const other = await http(url, 'GET', `${V1}/sandboxes/search`, undefined, { 'x-session-api-key': 'k1' });
      expect(other.body.items.map((s: { id: string }) => s.id)).not.toContain(ok.body.sandbox_id);
    } finally {
      await secured.stop();
    }
  });
});
