import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { ECHO_DELAY_MS: '150' },
    apiEnv: { BODY_LIMIT: '2kb', LONG_POLL_MAX_S: '5' },
  });
  base = baton.url;
});
afterAll(() => baton?.stop());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('sessions', () => {
  it('POST /sessions answers 201 with Location and an idle SessionResponse', async () => {
    const res = await http(base, 'POST', '/sessions');
    expect(res.status).toBe(201);
    expect(res.body.session_id).toMatch(UUID);
    expect(res.headers.get('location')).toBe(`/sessions/${res.body.session_id}`);
    expect(res.body).toMatchObject({ status: 'idle', response: null, error: null, total_messages: 0 });
  });

  it('POST /sessions with state preloads the history', async () => {
    const state = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hi', user_params: { lang: 'en' } },
      { role: 'assistant', content: 'hello' },
    ];
    const id = await createSession(base, { state });
    const res = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(state);
  });

  it('PUT /sessions/{id} creates with the client-chosen UUID, 409 when it exists, 400 when not a UUID', async () => {
    const id = crypto.randomUUID();
    const created = await http(base, 'PUT', `/sessions/${id}`);
    expect(created.status).toBe(201);
    expect(created.body.session_id).toBe(id);
    expect(created.headers.get('location')).toBe(`/sessions/${id}`);

    const again = await http(base, 'PUT', `/sessions/${id}`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('session_exists');

    const bad = await http(base, 'PUT', '/sessions/not-a-uuid');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_session_id');
  });

  it('GET /sessions pages through every session with limit and cursor, oldest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await createSession(base));
    const seen: string[] = [];
    let path = '/sessions?limit=2';
    for (let pages = 0; pages < 100; pages++) {
      const res = await http(base, 'GET', path);
      expect(res.status).toBe(200);
      expect(res.body.length).toBeLessThanOrEqual(2);
      for (const item of res.body) {
        expect(Object.keys(item).sort()).toEqual(['agent', 'created_at', 'session_id', 'status', 'total_messages', 'updated_at']);
        seen.push(item.session_id);
      }
      const next = res.headers.get('x-next-cursor');
      if (!next) break;
      expect(res.headers.get('link')).toContain(`cursor=${next}`);
      path = `/sessions?limit=2&cursor=${next}`;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const positions = ids.map((id) => seen.indexOf(id));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('GET /sessions?order=newest pages newest first, and the next link keeps the order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await createSession(base));
    const first = await http(base, 'GET', '/sessions?limit=2&order=newest');
    expect(first.status).toBe(200);
    expect(first.body.map((s: { session_id: string }) => s.session_id)).toEqual([ids[2], ids[1]]);
    const next = first.headers.get('x-next-cursor');
    expect(first.headers.get('link')).toBe(`</sessions?limit=2&order=newest&cursor=${next}>; rel="next"`);
    const second = await http(base, 'GET', `/sessions?limit=2&order=newest&cursor=${next}`);
    expect(second.body[0].session_id).toBe(ids[0]);
    expect((await http(base, 'GET', '/sessions?order=sideways')).body.error.details[0].path).toBe('query.order');
  });

  it('GET /sessions rejects a bad limit or cursor with 422 naming the field', async () => {
    const limit = await http(base, 'GET', '/sessions?limit=0');
    expect(limit.status).toBe(422);
    expect(limit.body.error.details[0].path).toBe('query.limit');
    const cursor = await http(base, 'GET', '/sessions?cursor=bogus');
    expect(cursor.status).toBe(422);
    expect(cursor.body.error.details[0].path).toBe('query.cursor');
  });

  it('DELETE /sessions/{id} answers 204, then the session is gone from every route', async () => {
    const id = await createSession(base);
    expect((await http(base, 'DELETE', `/sessions/${id}`)).status).toBe(204);
    expect((await http(base, 'GET', `/sessions/${id}`)).status).toBe(404);
    expect((await http(base, 'GET', `/sessions/${id}/messages`)).status).toBe(404);
    expect((await http(base, 'DELETE', `/sessions/${id}`)).status).toBe(404);
    const list = await http(base, 'GET', '/sessions?limit=200');
    expect(list.body.map((s: { session_id: string }) => s.session_id)).not.toContain(id);
  });
});

describe('messages', () => {
  it('POST /sessions/{id}/messages answers 202 + Location, runs the turn, records user and reply', async () => {
    const id = await createSession(base);
    const res = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'hello' });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/sessions/${id}`);
    expect(res.body).toMatchObject({ session_id: id, status: 'running' });

    const running = await http(base, 'GET', `/sessions/${id}`);
    expect(running.body).toMatchObject({ status: 'running', response: null, error: null });

    const done = await waitForIdle(base, id);
    expect(done).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: hello' }, error: null });
    const history = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(history.body).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'echo: hello' },
    ]);
  });

  it('keeps every ChatMessage field of the request in the history', async () => {
    const id = await createSession(base);
    const message = {
      role: 'tool',
      content: 'result',
      tool_call_id: 'call_1',
      name: 'lookup',
      base64_image: 'aGVsbG8=',
      user_params: { user: 'u1', flags: ['a'] },
    };
    expect((await http(base, 'POST', `/sessions/${id}/messages`, message)).status).toBe(202);
    await waitForIdle(base, id);
    const history = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(history.body[0]).toEqual(message);
    const withCalls = await createSession(base);
    const call = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    };
    expect((await http(base, 'POST', `/sessions/${withCalls}/messages`, call)).status).toBe(202);
    await waitForIdle(base, withCalls);
    expect((await http(base, 'GET', `/sessions/${withCalls}/messages`)).body[0]).toEqual(call);
  });

  it('answers 404 for an unknown session and 409 "Session is running" while a turn runs', async () => {
    const missing = await http(base, 'POST', `/sessions/${crypto.randomUUID()}/messages`, { content: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('session_not_found');

    const id = await createSession(base);
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'one' })).status).toBe(202);
    const busy = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'two' });
    expect(busy.status).toBe(409);
    // The message says how to send anyway: queue it, or interrupt the running turn.
    expect(busy.body.error.code).toBe('session_running');
    expect(busy.body.error.message).toMatch(/^Session is running; .*if_busy: "enqueue".*"interrupt"/);
    await waitForIdle(base, id);
    const history = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(history.body.map((m: { content: string }) => m.content)).toEqual(['one', 'echo: one']);
  });

  it('if_busy "enqueue" runs queued messages after the current turn, in arrival order', async () => {
    const id = await createSession(base);
    const contents = ['m1', 'm2', 'm3', 'm4'];
    for (const content of contents) {
      const res = await http(base, 'POST', `/sessions/${id}/messages`, { content, if_busy: 'enqueue' });
      expect(res.status).toBe(202);
    }
    const midway = await http(base, 'GET', `/sessions/${id}`);
    expect(midway.body.status).toBe('running');
    expect(midway.body.pending_messages).toBeGreaterThan(0);

    let done = await waitForIdle(base, id);
    for (let i = 0; done.status === 'running' && i < 10; i++) done = await waitForIdle(base, id);
    expect(done).toMatchObject({ status: 'idle', response: { content: 'echo: m4' }, pending_messages: 0 });
    const history = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(history.body.map((m: { content: string }) => m.content)).toEqual(contents.flatMap((c) => [c, `echo: ${c}`]));
  });

  it('stores a valid webhook with the turn and refuses a malformed one with 422 before queuing', async () => {
    const id = await createSession(base);
    const bad = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'x', webhook: { url: 'ftp://example.com/hook' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].path).toBe('body.webhook.url');
    expect((await http(base, 'GET', `/sessions/${id}`)).body.status).toBe('idle');
    expect((await http(base, 'GET', `/sessions/${id}/messages`)).body).toEqual([]);

    const ok = await http(base, 'POST', `/sessions/${id}/messages`, {
      content: 'x',
      webhook: { url: 'https://example.com/hook', token: 't', include_messages: true },
    });
    expect(ok.status).toBe(202);
    const stored = await baton.redis.hget(`${baton.prefix}:sess:{${id}}`, 'turn_webhook');
    expect(JSON.parse(stored ?? 'null')).toEqual({ url: 'https://example.com/hook', token: 't', include_messages: true });
    await waitForIdle(base, id);
  });
});

describe('long-poll', () => {
  it('GET ?wait=true returns as soon as the turn ends', async () => {
    const id = await createSession(base);
    await http(base, 'POST', `/sessions/${id}/messages`, { content: 'slowly' });
    const done = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=5`);
    expect(done.body).toMatchObject({ status: 'idle', response: { content: 'echo: slowly' } });
  });

  it('answers 200 with status running when the timeout passes first', async () => {
    const id = await createSession(base);
    await http(base, 'POST', `/sessions/${id}/messages`, { content: 'x' });
    const res = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=0.01`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'running', response: null, error: null });
    await waitForIdle(base, id);
  });

  it('answers 404 when the session is deleted while waiting', async () => {
    const id = await createSession(base);
    await http(base, 'POST', `/sessions/${id}/messages`, { content: 'x' });
    const waiting = http(base, 'GET', `/sessions/${id}?wait=true&timeout=5`);
    await http(base, 'DELETE', `/sessions/${id}`);
    expect((await waiting).status).toBe(404);
  });

  it('rejects a negative timeout with 422', async () => {
    const id = await createSession(base);
    const res = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=-1`);
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe('query.timeout');
  });
});

describe('errors', () => {
  it('400 for malformed JSON', async () => {
    const id = await createSession(base);
    const res = await http(base, 'POST', `/sessions/${id}/messages`, '{"content":');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
  });

  it('413 for a body over the configured limit', async () => {
    const id = await createSession(base);
    const res = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'x'.repeat(4096) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('415 for a body that is not JSON', async () => {
    const id = await createSession(base);
    const res = await http(base, 'POST', `/sessions/${id}/messages`, 'content=hi', { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('422 names the field for wrong types, bad roles and unknown fields', async () => {
    const id = await createSession(base);
    const cases: [unknown, string][] = [
      [{ content: 5 }, 'body.content'],
      [{ content: 'x', role: 'robot' }, 'body.role'],
      [{ content: 'x', colour: 'blue' }, 'body.colour'],
      [{ content: 'x', if_busy: 'sometimes' }, 'body.if_busy'],
      [{ content: 'x', webhook: { url: 'https://e.com', secret: 'plain' } }, 'body.webhook.secret'],
    ];
    for (const [body, path] of cases) {
      const res = await http(base, 'POST', `/sessions/${id}/messages`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
      expect(res.body.error.message).toContain(path);
    }
    expect((await http(base, 'GET', `/sessions/${id}/messages`)).body).toEqual([]);
  });

  it('404 for unknown routes and ids that are not session ids; 405 with Allow for wrong methods', async () => {
    const route = await http(base, 'GET', '/nope');
    expect(route.status).toBe(404);
    expect(route.body.error.code).toBe('route_not_found');
    const badId = await http(base, 'GET', '/sessions/..%2F..%2Fetc');
    expect(badId.status).toBe(404);
    const method = await http(base, 'PATCH', '/sessions');
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('GET, POST');
    expect(method.body.error.code).toBe('method_not_allowed');
  });

  it('422 for an agent the server has not configured', async () => {
    const res = await http(base, 'POST', '/sessions', { agent: 'http' });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe('body.agent');
    expect(res.body.error.message).toContain('HTTP_AGENT_URL');
  });
});

it('GET /health answers ok', async () => {
  const res = await http(base, 'GET', '/health');
  expect(res.status).toBe(200);
  expect(res.body.status).toBe('ok');
});
