import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Idempotency-Key on POST (IETF httpapi idempotency-key draft): the same key and request
 * replays the first response and runs nothing; another request under the key is 422;
 * a key still in flight is 409; records are per API key and expire.
 */
let baton: Baton;
let base: string;
let slow: string;
const KEY = 'idem-key-a';
const OTHER = 'idem-key-b';
const auth = (key = KEY) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    apis: 0,
    env: { API_KEYS: `${KEY},${OTHER}`, IDEMPOTENCY_TTL_S: '2', WEBHOOK_ALLOW_PRIVATE: 'true' },
    workerEnv: { ECHO_DELAY_MS: '300' },
  });
  base = (await baton.startApi()).url;
  // A second API process that stalls (event loop blocked) right after storing a turn, before answering.
  // Its blocked event loop cannot renew its hold on a key: a hold of 30 s outlasts the block.
  slow = (await baton.startApi({ BATON_FAULT: 'block:api.after-state-write:5000', IDEMPOTENCY_PENDING_S: '30' })).url;
});
afterAll(() => baton?.stop());

const post = (path: string, body: unknown, key: string, headers: Record<string, string> = auth(), on = base) =>
  http(on, 'POST', path, body, { ...headers, 'idempotency-key': key });

async function history(id: string): Promise<string[]> {
  return (await http(base, 'GET', `/sessions/${id}/messages`, undefined, auth())).body.map((m: { content: string }) => m.content);
}

describe('Idempotency-Key', () => {
  it('same key, same request: the original 202 replayed (status, Location, body) and no second turn', async () => {
    const session = (await http(base, 'POST', '/sessions', {}, auth())).body.session_id as string;
    const first = await post(`/sessions/${session}/messages`, { content: 'once' }, 'k-once');
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    await waitForIdleAs(session);
    const again = await post(`/sessions/${session}/messages`, { content: 'once' }, 'k-once');
    expect(again.status).toBe(202);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    // The original's content type, not the text/html of a bare string.
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(await history(session)).toEqual(['once', 'echo: once']);
  });

  it('the same body with its JSON keys in another order is the same request: replayed, not 422', async () => {
    const session = (await http(base, 'POST', '/sessions', {}, auth())).body.session_id as string;
    const path = `/sessions/${session}/messages`;
    const first = await post(path, '{"content":"ordered","user_params":{"a":1,"b":[1,{"y":2,"x":3}]}}', 'k-order');
    expect(first.status).toBe(202);
    const again = await post(path, '{"user_params":{"b":[1,{"x":3,"y":2}],"a":1},"content":"ordered"}', 'k-order');
    expect(again).toMatchObject({ status: 202, body: first.body });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // Array order is part of the request.
    const reordered = await post(path, '{"content":"ordered","user_params":{"a":1,"b":[{"y":2,"x":3},1]}}', 'k-order');
    expect(reordered.status).toBe(422);
    await waitForIdleAs(session);
    expect(await history(session)).toEqual(['ordered', 'echo: ordered']);
  });

  it('creating a session: a retry gets the same session, not a second one', async () => {
    const first = await post('/sessions', {}, 'k-create');
    const again = await post('/sessions', {}, 'k-create');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body.session_id).toBe(first.body.session_id);
    expect(again.headers.get('location')).toBe(`/sessions/${first.body.session_id}`);
  });

  it('same key, different body or path: 422 idempotency_key_reused naming the header', async () => {
    const session = (await http(base, 'POST', '/sessions', {}, auth())).body.session_id as string;
    expect((await post(`/sessions/${session}/messages`, { content: 'a' }, 'k-reuse')).status).toBe(202);
    for (const [path, body] of [
      [`/sessions/${session}/messages`, { content: 'b' }],
      ['/sessions', {}],
    ] as const) {
      const res = await post(path, body, 'k-reuse');
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'idempotency_key_reused', details: [{ path: 'headers.idempotency-key' }] });
    }
    await waitForIdleAs(session);
    expect(await history(session)).toEqual(['a', 'echo: a']);
  });

  it('while the first request is in flight: 409 idempotency_key_in_flight, then the replay', async () => {
    const session = (await http(base, 'POST', '/sessions', {}, auth())).body.session_id as string;
    const stalled = post(`/sessions/${session}/messages`, { content: 'slow' }, 'k-flight', auth(), slow);
    // The stalled process has stored the turn and not answered yet.
    await waitUntil(async () => (await history(session)).includes('slow'), { timeoutMs: 5_000, what: 'the turn to be stored' });
    const during = await post(`/sessions/${session}/messages`, { content: 'slow' }, 'k-flight');
    expect(during.status).toBe(409);
    expect(during.body.error.code).toBe('idempotency_key_in_flight');
    // Retry-After: when the first request's hold lapses, unless renewed (at most 30 s).
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(during.headers.get('retry-after'))).toBeLessThanOrEqual(30);
    const first = await stalled;
    expect(first.status).toBe(202);
    const after = await post(`/sessions/${session}/messages`, { content: 'slow' }, 'k-flight');
    expect(after).toMatchObject({ status: 202, body: first.body });
    await waitForIdleAs(session);
    expect(await history(session)).toEqual(['slow', 'echo: slow']);
  });

  it('the API dies after storing the turn, before answering: a retry under the key gets that turn, which runs once', async () => {
    // The dead request's key is held IDEMPOTENCY_PENDING_S (1 s here), then a retry may run.
    const dying = await baton.startApi({ BATON_FAULT: 'kill:api.after-state-write', IDEMPOTENCY_PENDING_S: '1' });
    const receiver = await Receiver.start();
    try {
      const session = (await http(base, 'POST', '/sessions', { webhook: { url: `${receiver.url}/hook` } }, auth())).body.session_id as string;
      const path = `/sessions/${session}/messages`;
      // No answer at all: the connection drops with the process. The turn is stored, running.
      await expect(post(path, { content: 'answer lost' }, 'k-died', auth(), dying.url)).rejects.toThrow();
      expect((await dying.exited).signal).toBe('SIGKILL');
      expect((await http(base, 'GET', `/sessions/${session}`, undefined, auth())).body.status).toBe('running');

      // Without the turn recorded under the key, this retry would be a new message: refused
      // as `session_running` while the stored turn waits, or a second copy after it.
      const retry = await waitUntil(
        async () => {
          const res = await post(path, { content: 'answer lost' }, 'k-died');
          return res.body?.error?.code !== 'idempotency_key_in_flight' && res;
        },
        { timeoutMs: 10_000, what: 'the dead request to free its key' },
      );
      expect(retry.status).toBe(202);
      expect(retry.body).toMatchObject({ session_id: session, queued: false });
      await waitForIdleAs(session);
      expect(await history(session)).toEqual(['answer lost', 'echo: answer lost']);
      // The one turn that ran is the one the retry was given.
      const [event] = await receiver.waitFor(1);
      expect(event!.json).toMatchObject({ type: 'turn.completed', turn_id: retry.body.turn_id });
    } finally {
      await receiver.close();
    }
  });

  it('the API dies after creating a session, before answering: a retry under the key gets that session, not a second', async () => {
    const dying = await baton.startApi({ BATON_FAULT: 'kill:api.after-create', IDEMPOTENCY_PENDING_S: '1' });
    const before = await sessionIds();
    await expect(post('/sessions', { agent: 'echo' }, 'k-create-died', auth(), dying.url)).rejects.toThrow();
    expect((await dying.exited).signal).toBe('SIGKILL');
    const made = [...(await sessionIds())].filter((id) => !before.has(id));
    expect(made).toHaveLength(1); // stored, though its 201 never came

    const retry = await waitUntil(
      async () => {
        const res = await post('/sessions', { agent: 'echo' }, 'k-create-died');
        return res.body?.error?.code !== 'idempotency_key_in_flight' && res;
      },
      { timeoutMs: 10_000, what: 'the dead request to free its key' },
    );
    expect(retry.status).toBe(201);
    expect(retry.body.session_id).toBe(made[0]);
    expect(retry.headers.get('location')).toBe(`/sessions/${made[0]}`);
    expect((await sessionIds()).size).toBe(before.size + 1);
  });

  it('a retried create does not take a later session with its id (deleted and made again) for its own', async () => {
    const dying = await baton.startApi({ BATON_FAULT: 'kill:api.after-create', IDEMPOTENCY_PENDING_S: '1' });
    const before = await sessionIds();
    await expect(post('/sessions', { agent: 'echo' }, 'k-create-reused', auth(), dying.url)).rejects.toThrow();
    expect((await dying.exited).signal).toBe('SIGKILL');
    const [made] = [...(await sessionIds())].filter((id) => !before.has(id));
    // The session its first try made is deleted, and another is made with the same id.
    expect((await http(base, 'DELETE', `/sessions/${made}`, undefined, auth())).status).toBe(204);
    expect((await http(base, 'PUT', `/sessions/${made}`, { state: [{ role: 'user', content: 'someone else' }] }, auth())).status).toBe(201);

    const retry = await waitUntil(
      async () => {
        const res = await post('/sessions', { agent: 'echo' }, 'k-create-reused');
        return res.body?.error?.code !== 'idempotency_key_in_flight' && res;
      },
      { timeoutMs: 10_000, what: 'the dead request to free its key' },
    );
    // Not a 201 naming that other session: the session this request made is gone.
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe('session_exists');
  });

  it('keys are per API key: the same key under another API key is a new request', async () => {
    const mine = await post('/sessions', {}, 'k-tenant');
    const theirs = await post('/sessions', {}, 'k-tenant', auth(OTHER));
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.session_id).not.toBe(mine.body.session_id);
  });

  it('a 409 (session running) is not kept: the retry runs once the session is free', async () => {
    const session = (await http(base, 'POST', '/sessions', {}, auth())).body.session_id as string;
    expect((await http(base, 'POST', `/sessions/${session}/messages`, { content: 'busy' }, auth())).status).toBe(202);
    const refused = await post(`/sessions/${session}/messages`, { content: 'later' }, 'k-busy');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('session_running');
    await waitForIdleAs(session);
    const retried = await post(`/sessions/${session}/messages`, { content: 'later' }, 'k-busy');
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });

  it('records expire after IDEMPOTENCY_TTL_S: the key then runs the request again', async () => {
    const first = await post('/sessions', {}, 'k-expire');
    const fresh = await waitUntil(
      async () => {
        const res = await post('/sessions', {}, 'k-expire');
        return res.headers.get('idempotent-replayed') === null && res;
      },
      { timeoutMs: 10_000, what: 'the record to expire' },
    );
    expect(fresh.status).toBe(201);
    expect(fresh.body.session_id).not.toBe(first.body.session_id);
  });

  it.each([
    ['too long', 'k'.repeat(256)],
    ['holding a tab', 'a\tb'],
    ['empty quotes', '""'],
  ])('a key that is %s: 400 idempotency_key_invalid', async (_name, key) => {
    const res = await http(base, 'POST', '/sessions', {}, { ...auth(), 'idempotency-key': key });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'idempotency_key_invalid', details: [{ path: 'headers.idempotency-key' }] });
  });

  it('the compatibility APIs honour it too (agenhq send-message, in its own shapes)', async () => {
    const headers = { 'x-api-key': KEY };
    const session = (await http(base, 'POST', '/api/v1/sessions', {}, headers)).body.id as string;
    const first = await post(`/api/v1/sessions/${session}/messages`, { message: 'hello' }, 'k-agenhq', headers);
    const again = await post(`/api/v1/sessions/${session}/messages`, { message: 'hello' }, 'k-agenhq', headers);
    expect(first.status).toBe(200);
    expect(again).toMatchObject({ status: 200, body: first.body });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    const reused = await post(`/api/v1/sessions/${session}/messages`, { message: 'other' }, 'k-agenhq', headers);
    expect(reused.status).toBe(422);
    await waitForIdleAs(session);
    expect(await history(session)).toEqual(['hello', 'echo: hello']);
  });
});

/** Every session id the API key KEY can list, page by page. */
async function sessionIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | null = '';
  while (cursor !== null) {
    const page: Awaited<ReturnType<typeof http>> = await http(base, 'GET', `/sessions?limit=200${cursor ? `&cursor=${cursor}` : ''}`, undefined, auth());
    for (const s of page.body as { session_id: string }[]) ids.add(s.session_id);
    cursor = page.headers.get('x-next-cursor');
  }
  return ids;
}

describe('Idempotency-Key records stay small', () => {
  it('a response body over IDEMPOTENCY_MAX_BODY_BYTES is not kept; a retry still gets its recorded turn and session, once', async () => {
    const small = (await baton.startApi({ IDEMPOTENCY_MAX_BODY_BYTES: '64' })).url;
    const record = (key: string) => `${baton.prefix}:idem:${KEY}:${createHash('sha256').update(key).digest('base64url')}`;

    const created = await post('/sessions', {}, 'k-big-session', auth(), small);
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body).length).toBeGreaterThan(64);
    // Nothing kept under the key: the response was over the cap.
    expect(await baton.redis.exists(record('k-big-session'))).toBe(0);
    const again = await post('/sessions', {}, 'k-big-session', auth(), small);
    // Not a replay, yet the same session (recorded under the key when it was made), and no second one.
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(201);
    expect(again.body.session_id).toBe(created.body.session_id);

    const session = created.body.session_id as string;
    const first = await post(`/sessions/${session}/messages`, { content: 'big' }, 'k-big-message', auth(), small);
    expect(first.status).toBe(202);
    expect(await baton.redis.exists(record('k-big-message'))).toBe(0);
    await waitForIdleAs(session);
    const retry = await post(`/sessions/${session}/messages`, { content: 'big' }, 'k-big-message', auth(), small);
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.body.turn_id).toBe(first.body.turn_id);
    expect(await history(session)).toEqual(['big', 'echo: big']);
  });
});

async function waitForIdleAs(id: string) {
  const res = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=10`, undefined, auth());
  expect(res.body.status).toBe('idle');
}
