import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { SessionStore } from '@baton/store';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/** The agenhq surface: `/api/v1/sessions`, `x-api-key`, Fastify-style errors. */
const API = '/api/v1/sessions';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SESSION_KEYS = [
  'agent_status',
  'auto_commit',
  'branch_name',
  'created_at',
  'deep_work_id',
  'id',
  'merged_at',
  'model',
  'origin',
  'sandbox_id',
  'status',
  'title',
  'updated_at',
  'user_id',
  'workspace_id',
];
const EVENT_KEYS = [
  'client_id',
  'created_at',
  'id',
  'payload',
  'session_goal_id',
  'session_id',
  'session_task_id',
  'status',
  'type',
  'updated_at',
];

let baton: Baton;
let base: string;

beforeAll(async () => {
  // Each turn takes 1.5 s: long enough to see `processing` and `queued`.
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '1500' }, apiEnv: { LONG_POLL_MAX_S: '10' } });
  base = baton.url;
});
afterAll(() => baton?.stop());

const create = async (body: unknown = {}) => {
  const res = await http(base, 'POST', API, body);
  expect(res.status).toBe(200);
  return res.body;
};
const send = (id: string, body: unknown) => http(base, 'POST', `${API}/${id}/messages`, body);
const events = async (id: string) => {
  const res = await http(base, 'GET', `${API}/${id}/events`);
  expect(res.status).toBe(200);
  return res.body as any[];
};

function expectFastifyError(body: any, statusCode: number, error: string, code: string) {
  expect(Object.keys(body).sort()).toEqual(['code', 'error', 'message', 'statusCode']);
  expect(body).toMatchObject({ statusCode, error, code });
  expect(typeof body.message).toBe('string');
}

describe('sessions', () => {
  it('POST /api/v1/sessions answers 200 with a Session; requests need no x-api-key while auth is off', async () => {
    const res = await http(base, 'POST', API, { branch_name: 'feature/x', auto_commit: true, model: 'gpt-test', title: 'Fix the build' });
    expect(res.status).toBe(200);
    const s = res.body;
    expect(Object.keys(s).sort()).toEqual(SESSION_KEYS);
    expect(s.id).toMatch(UUID);
    expect(s).toMatchObject({
      title: 'Fix the build',
      workspace_id: 'default',
      user_id: 'default',
      branch_name: 'feature/x',
      auto_commit: true,
      status: 'active',
      origin: 'api',
      sandbox_id: null,
      model: 'gpt-test',
      agent_status: 'idle',
      merged_at: null,
      deep_work_id: null,
    });
    expect(s.created_at).toMatch(ISO);
    expect(s.updated_at).toMatch(ISO);

    // It is a Baton session: the native API sees it.
    const native = await http(base, 'GET', `/sessions/${s.id}`);
    expect(native.status).toBe(200);
    expect(native.body).toMatchObject({ session_id: s.id, status: 'idle', total_messages: 0 });
  });

  it('POST /api/v1/sessions with the documented body {branch_name: null} (or none) fills the defaults', async () => {
    for (const body of [{ branch_name: null }, undefined]) {
      const res = await http(base, 'POST', API, body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ title: '', branch_name: null, auto_commit: false, model: 'echo', status: 'active', agent_status: 'idle' });
    }
  });

  it('POST /api/v1/sessions rejects ill-typed fields with a Fastify 400', async () => {
    const res = await http(base, 'POST', API, { auto_commit: 'yes' });
    expect(res.status).toBe(400);
    expectFastifyError(res.body, 400, 'Bad Request', 'FST_ERR_VALIDATION');
    expect(res.body.message).toBe('body/auto_commit must be boolean');
  });

  it('GET /api/v1/sessions/{id} returns the Session; 404 for unknown or non-UUID ids', async () => {
    const created = await create({ title: 'read me' });
    const res = await http(base, 'GET', `${API}/${created.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(created);

    for (const id of [crypto.randomUUID(), 'not-a-uuid']) {
      const missing = await http(base, 'GET', `${API}/${id}`);
      expect(missing.status).toBe(404);
      expectFastifyError(missing.body, 404, 'Not Found', 'session_not_found');
    }
  });

  it('GET /api/v1/sessions pages {items, next_cursor} with limit and cursor, oldest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create({ title: `page ${i}` })).id);
    const seen: string[] = [];
    let path = `${API}?limit=2`;
    for (let pages = 0; pages < 200; pages++) {
      const res = await http(base, 'GET', path);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['items', 'next_cursor']);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      for (const item of res.body.items) {
        expect(Object.keys(item).sort()).toEqual(SESSION_KEYS);
        seen.push(item.id);
      }
      if (res.body.next_cursor === null) break;
      expect(res.body.next_cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      path = `${API}?limit=2&cursor=${res.body.next_cursor}`;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const positions = ids.map((id) => seen.indexOf(id));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);

    // A listed item is the same Session GET returns.
    const last = ids[4] as string;
    const one = await http(base, 'GET', `${API}/${last}`);
    expect(one.body.title).toBe('page 4');
  });

  it('GET /api/v1/sessions filters by status and user_id', async () => {
    const id = (await create()).id;
    const all = async (query: string) => {
      const out: string[] = [];
      let path = `${API}?limit=200&${query}`;
      for (;;) {
        const res = await http(base, 'GET', path);
        expect(res.status).toBe(200);
        out.push(...res.body.items.map((s: any) => s.id));
        if (!res.body.next_cursor) return out;
        path = `${API}?limit=200&${query}&cursor=${res.body.next_cursor}`;
      }
    };
    expect(await all('status=active')).toContain(id);
    expect(await all('user_id=default')).toContain(id);
    expect(await all('status=archived')).not.toContain(id);
    expect(await all('user_id=someone-else')).toEqual([]);
  });

  it('GET /api/v1/sessions rejects a bad limit or cursor with a Fastify 400', async () => {
    const cases: [string, string][] = [
      ['limit=0', 'querystring/limit must be >= 1'],
      ['limit=abc', 'querystring/limit must be number'],
      ['limit=100000', 'querystring/limit must be <= 200'],
      ['cursor=bogus', 'querystring/cursor is not a cursor from this API'],
    ];
    for (const [query, message] of cases) {
      const res = await http(base, 'GET', `${API}?${query}`);
      expect(res.status).toBe(400);
      expectFastifyError(res.body, 400, 'Bad Request', 'FST_ERR_VALIDATION');
      expect(res.body.message).toBe(message);
    }
  });

  it('DELETE is not part of the agenhq API: 405 in the agenhq shape', async () => {
    const id = (await create()).id;
    const res = await http(base, 'DELETE', `${API}/${id}`);
    expect(res.status).toBe(405);
    expectFastifyError(res.body, 405, 'Method Not Allowed', 'method_not_allowed');
    expect(res.headers.get('allow')).toBe('GET');
  });
});

describe('messages and events', () => {
  it('POST /messages answers 200 with the stored event (processing, client_id echoed); the timeline gets the reply', async () => {
    const id = (await create()).id;
    const res = await send(id, { message: 'hello', client_id: 'client-1' });
    expect(res.status).toBe(200);
    const event = res.body;
    expect(Object.keys(event).sort()).toEqual(EVENT_KEYS);
    expect(event.id).toMatch(UUID);
    expect(event).toMatchObject({
      session_id: id,
      type: 'user_message',
      payload: { type: 'user_message', message: 'hello' },
      status: 'processing',
      client_id: 'client-1',
      session_goal_id: null,
      session_task_id: null,
    });
    expect(event.created_at).toMatch(ISO);
    expect(event.updated_at).toBe(event.created_at);

    // While the turn runs the session is working, and the timeline shows the message processing.
    const busy = await http(base, 'GET', `${API}/${id}`);
    expect(busy.body.agent_status).toBe('working');
    expect(await events(id)).toEqual([event]);

    await waitForIdle(base, id);
    const timeline = await events(id);
    expect(timeline).toHaveLength(2);
    const [user, reply] = timeline;
    for (const e of timeline) expect(Object.keys(e).sort()).toEqual(EVENT_KEYS);
    // The same event, with the same id and date, now completed; updated when the reply came.
    expect(user).toEqual({ ...event, status: 'completed', updated_at: reply.created_at });
    expect(reply.id).toMatch(UUID);
    expect(reply).toMatchObject({
      session_id: id,
      type: 'agent_message',
      payload: { type: 'agent_message', message: 'echo: hello' },
      status: 'completed',
      client_id: null,
      session_goal_id: null,
      session_task_id: null,
    });
    expect(reply.created_at >= user.created_at).toBe(true);
    // Ids are stable across reads.
    expect((await events(id)).map((e) => e.id)).toEqual([user.id, reply.id]);
    expect((await http(base, 'GET', `${API}/${id}`)).body.agent_status).toBe('idle');

    // The native API sees the same history.
    const messages = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(messages.body).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'echo: hello' },
    ]);
  });

  it('without client_id the event has client_id null', async () => {
    const id = (await create()).id;
    const res = await send(id, { message: 'no client id' });
    expect(res.status).toBe(200);
    expect(res.body.client_id).toBeNull();
    await waitForIdle(base, id);
    expect((await events(id))[0]).toMatchObject({ id: res.body.id, client_id: null, status: 'completed' });
  });

  it('messages sent while the agent is busy are queued and run in order, each completed before the next', async () => {
    const id = (await create()).id;
    const sent: any[] = [];
    for (const [i, message] of ['first', 'second', 'third'].entries()) {
      const res = await send(id, { message, client_id: `c${i}` });
      expect(res.status).toBe(200);
      expect(res.body.client_id).toBe(`c${i}`);
      sent.push(res.body);
    }
    expect(sent.map((e) => e.status)).toEqual(['processing', 'queued', 'queued']);
    expect(new Set(sent.map((e) => e.id)).size).toBe(3);

    const first = await events(id);
    expect(first.map((e) => [e.id, e.status])).toEqual(sent.map((e) => [e.id, e.status]));
    expect(first.map((e) => e.created_at)).toEqual(sent.map((e) => e.created_at));

    // Watch the statuses move (every observation is checked after the wait, none skipped).
    const observed: string[][] = [];
    await waitUntil(
      async () => {
        const users = (await events(id)).filter((e) => e.type === 'user_message');
        observed.push(users.map((e) => `${e.id} ${e.status}`));
        return users.length === 3 && users.every((e) => e.status === 'completed');
      },
      { timeoutMs: 15_000, intervalMs: 40, what: 'every message completed' },
    );
    const rank: Record<string, number> = { completed: 0, processing: 1, queued: 2 };
    const seenProcessing = new Set<string>();
    for (const snapshot of observed) {
      // The same messages in the same order; statuses in order: completed..., at most one processing, queued...
      expect(snapshot.map((s) => s.split(' ')[0])).toEqual(sent.map((e) => e.id));
      const ranks = snapshot.map((s) => rank[s.split(' ')[1] as string]);
      expect(ranks.every((r) => r !== undefined)).toBe(true);
      expect([...ranks].sort()).toEqual(ranks);
      expect(ranks.filter((r) => r === 1).length).toBeLessThanOrEqual(1);
      for (const s of snapshot) if (s.endsWith(' processing')) seenProcessing.add(s.split(' ')[0] as string);
    }
    // Each queued message was seen running (300 ms turns, 40 ms polls).
    expect([...seenProcessing].sort()).toEqual(sent.map((e) => e.id).sort());

    const timeline = await events(id);
    expect(timeline.map((e) => [e.type, e.payload.message, e.status, e.client_id])).toEqual([
      ['user_message', 'first', 'completed', 'c0'],
      ['agent_message', 'echo: first', 'completed', null],
      ['user_message', 'second', 'completed', 'c1'],
      ['agent_message', 'echo: second', 'completed', null],
      ['user_message', 'third', 'completed', 'c2'],
      ['agent_message', 'echo: third', 'completed', null],
    ]);
    expect(timeline.filter((e) => e.type === 'user_message').map((e) => e.id)).toEqual(sent.map((e) => e.id));
    expect(timeline.filter((e) => e.type === 'user_message').map((e) => e.created_at)).toEqual(sent.map((e) => e.created_at));
  });

  it('a cancelled turn shows its message as canceled, and the queued one runs next', async () => {
    // No agenhq route cancels a turn; this uses the core's cancel directly, as a cancel route would.
    const store = new SessionStore(baton.redis, { prefix: baton.prefix, runningGraceMs: 1000 });
    const id = (await create()).id;
    const doomed = (await send(id, { message: 'stop me' })).body;
    const next = (await send(id, { message: 'after' })).body;
    expect([doomed.status, next.status]).toEqual(['processing', 'queued']);
    expect((await store.cancel(id)).kind).toBe('cancelling');

    await waitUntil(async () => (await events(id)).every((e) => e.status !== 'processing' && e.status !== 'queued'), {
      timeoutMs: 10_000,
      what: 'the queue to drain',
    });
    const timeline = await events(id);
    expect(timeline.map((e) => [e.id, e.type, e.payload.message, e.status])).toEqual([
      [doomed.id, 'user_message', 'stop me', 'canceled'],
      [next.id, 'user_message', 'after', 'completed'],
      [timeline[2]?.id, 'agent_message', 'echo: after', 'completed'],
    ]);
  });

  it('an empty, missing or ill-typed message is a Fastify 400 and nothing is stored', async () => {
    const id = (await create()).id;
    const cases: [unknown, string][] = [
      [{ message: '' }, 'body/message must NOT have fewer than 1 characters'],
      [{ client_id: 'x' }, "body must have required property 'message'"],
      [{ message: 42 }, 'body/message must be string'],
      [{ message: 'ok', client_id: 7 }, 'body/client_id must be string'],
      [['message'], 'body must be object'],
    ];
    for (const [body, message] of cases) {
      const res = await send(id, body);
      expect(res.status).toBe(400);
      expectFastifyError(res.body, 400, 'Bad Request', 'FST_ERR_VALIDATION');
      expect(res.body.message).toBe(message);
    }
    const badJson = await send(id, '{"message": ');
    expect(badJson.status).toBe(400);
    expectFastifyError(badJson.body, 400, 'Bad Request', 'invalid_json');
    expect(await events(id)).toEqual([]);
  });

  it('404 in the agenhq shape for messages and events of unknown sessions', async () => {
    for (const id of [crypto.randomUUID(), 'nope']) {
      const post = await send(id, { message: 'hi' });
      expect(post.status).toBe(404);
      expectFastifyError(post.body, 404, 'Not Found', 'session_not_found');
      const list = await http(base, 'GET', `${API}/${id}/events`);
      expect(list.status).toBe(404);
      expectFastifyError(list.body, 404, 'Not Found', 'session_not_found');
    }
  });

  it('a session created by the native API has agenhq defaults and takes agenhq messages', async () => {
    const id = await createSession(base, { state: [{ role: 'system', content: 'be brief' }] });
    const s = await http(base, 'GET', `${API}/${id}`);
    expect(s.body).toMatchObject({ id, title: '', branch_name: null, auto_commit: false, model: 'echo', agent_status: 'idle' });
    const sent = (await send(id, { message: 'hi' })).body;
    await waitForIdle(base, id);
    const timeline = await events(id);
    expect(timeline.map((e) => [e.type, e.payload.message, e.status])).toEqual([
      ['system_message', 'be brief', 'completed'],
      ['user_message', 'hi', 'completed'],
      ['agent_message', 'echo: hi', 'completed'],
    ]);
    expect(timeline[1]?.id).toBe(sent.id);
  });
});

describe('auth (x-api-key)', () => {
  let secured: Baton;
  let url: string;
  beforeAll(async () => {
    secured = await Baton.start({ redisUrl: inject('redisUrl'), apiEnv: { API_KEYS: 'k1,k2' } });
    url = secured.url;
  });
  afterAll(() => secured?.stop());

  it('answers 401 in the agenhq shape without a key, with a wrong key, or with the key in another header', async () => {
    const attempts: Record<string, string>[] = [{}, { 'x-api-key': 'wrong' }, { authorization: 'Bearer k1' }];
    for (const headers of attempts) {
      for (const [method, path, body] of [
        ['POST', API, {}],
        ['GET', API, undefined],
        ['GET', `${API}/${crypto.randomUUID()}/events`, undefined],
        ['POST', `${API}/${crypto.randomUUID()}/messages`, { message: 'hi' }],
      ] as const) {
        const res = await http(url, method, path, body, headers);
        expect(res.status).toBe(401);
        expectFastifyError(res.body, 401, 'Unauthorized', 'unauthorized');
      }
    }
  });

  it('works with a valid key; the key names the workspace', async () => {
    const created = await http(url, 'POST', API, { title: 'secured' }, { 'x-api-key': 'k1' });
    expect(created.status).toBe(200);
    expect(created.body.workspace_id).toMatch(/^t_[0-9a-f]{16}$/);
    expect(created.body.user_id).toBe(created.body.workspace_id);
    const id = created.body.id;

    const sent = await http(url, 'POST', `${API}/${id}/messages`, { message: 'hi', client_id: 'k' }, { 'x-api-key': 'k1' });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ status: 'processing', client_id: 'k' });
    const got = await http(url, 'GET', `${API}/${id}`, undefined, { 'x-api-key': 'k1' });
    expect(got.status).toBe(200);
    expect(got.body.title).toBe('secured');
    const list = await http(url, 'GET', `${API}?limit=5`, undefined, { 'x-api-key': 'k1' });
    expect(list.status).toBe(200);
    expect(list.body.items.map((s: any) => s.id)).toContain(id);
    // Each key is a tenant: the other key's list leaves the session out (test/tenants.test.ts covers every route).
    const other = await http(url, 'GET', `${API}?limit=5`, undefined, { 'x-api-key': 'k2' });
    expect(other.body.items.map((s: any) => s.id)).not.toContain(id);
  });
});
