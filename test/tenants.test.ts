import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Each API key is a tenant: another key's sessions, histories, deliveries, queued messages
 * and sandboxes answer exactly as missing ones (404, never 403) on every surface, and
 * listings leave them out. Alice owns everything here; Bob tries to reach it.
 */
const ALICE = 'alice-key-0001';
const BOB = 'bob-key-0002';
const ADMIN = 'admin-key-0003';
let baton: Baton;
let receiver: Receiver;
let base: string;

beforeAll(async () => {
  receiver = await Receiver.start();
  // A receiver that always fails, and a one-attempt schedule: Alice's delivery is dead at once.
  receiver.reply = () => ({ status: 500 });
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { API_KEYS: `${ALICE},${BOB}`, ADMIN_KEY: ADMIN, WEBHOOK_ALLOW_PRIVATE: 'true' },
    workerEnv: { WEBHOOK_SCHEDULE: '0' },
  });
  base = baton.url;
});
afterAll(async () => {
  await baton?.stop();
  await receiver?.close();
});

const native = (key: string) => ({ authorization: `Bearer ${key}` });
const openhands = (key: string) => ({ 'x-session-api-key': key });
const agenhq = (key: string) => ({ 'x-api-key': key });

describe('native API', () => {
  let id: string;
  let deliveryId: string;

  beforeAll(async () => {
    const created = await http(base, 'POST', '/sessions', { webhook: { url: receiver.url } }, native(ALICE));
    expect(created.status).toBe(201);
    id = created.body.session_id;
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'mine' }, native(ALICE))).status).toBe(202);
    await waitForIdleAs(id, ALICE);
    await receiver.waitFor(1);
    const dead = await untilDeadLetter(ALICE);
    deliveryId = dead.id;
  });

  it('the owner sees its session, history, deliveries and dead letter', async () => {
    expect((await http(base, 'GET', `/sessions/${id}`, undefined, native(ALICE))).body).toMatchObject({ status: 'idle' });
    expect((await http(base, 'GET', `/sessions/${id}/messages`, undefined, native(ALICE))).body).toHaveLength(2);
    expect((await http(base, 'GET', `/sessions/${id}/webhooks`, undefined, native(ALICE))).body).toHaveLength(1);
    expect((await http(base, 'GET', '/sessions', undefined, native(ALICE))).body.map((s: { session_id: string }) => s.session_id)).toContain(id);
  });

  it.each([
    ['GET', '/sessions/{id}'],
    ['GET', '/sessions/{id}?wait=true&timeout=1'],
    ['GET', '/sessions/{id}/messages'],
    ['POST', '/sessions/{id}/messages'],
    ['POST', '/sessions/{id}/cancel'],
    ['GET', '/sessions/{id}/events'],
    ['GET', '/sessions/{id}/webhooks'],
    ['POST', '/sessions/{id}/webhooks/{delivery}/redeliver'],
    ['PUT', '/sessions/{id}'],
    // Last: were it to succeed, it would hide what the others do.
    ['DELETE', '/sessions/{id}'],
  ])("another key gets 404 (not 403) for %s %s", async (method, template) => {
    const path = template.replace('{id}', id).replace('{delivery}', deliveryId);
    const body = method === 'POST' && path.endsWith('/messages') ? { content: 'intrusion', if_busy: 'enqueue' } : undefined;
    const res = await http(base, method, path, body, native(BOB));
    // PUT of an id in use is refused without saying whose it is.
    if (method === 'PUT') return void expect(res.status).toBe(409);
    expect(res.status, JSON.stringify(res.body)).toBe(404);
    expect(res.body.error.code).toMatch(/_not_found$/);
  });

  it("another key's listings leave it out, and nothing it tried changed it", async () => {
    const list = await http(base, 'GET', '/sessions', undefined, native(BOB));
    expect(list.body.map((s: { session_id: string }) => s.session_id)).not.toContain(id);
    expect((await http(base, 'GET', '/webhooks/dead-letters', undefined, native(BOB))).body).toEqual([]);
    const history = (await http(base, 'GET', `/sessions/${id}/messages`, undefined, native(ALICE))).body;
    expect(history.map((m: { content: string }) => m.content)).toEqual(['mine', 'echo: mine']);
    expect((await http(base, 'GET', `/sessions/${id}/webhooks`, undefined, native(ALICE))).body[0].redeliveries).toBe(0);
  });
});

describe('compatibility surfaces', () => {
  it('OpenHands: another key gets 404 for the conversation, its events and its controls; search and count leave it out', async () => {
    const created = await http(base, 'POST', '/api/conversations', {}, openhands(ALICE));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    for (const [method, path, body] of [
      ['GET', `/api/conversations/${id}`],
      ['GET', `/api/conversations/${id}/events/search`],
      ['GET', `/api/conversations/${id}/events/count`],
      ['POST', `/api/conversations/${id}/events`, { role: 'user', content: [{ type: 'text', text: 'x' }], run: true }],
      ['POST', `/api/conversations/${id}/run`],
      ['POST', `/api/conversations/${id}/pause`],
      ['POST', `/api/conversations/${id}/interrupt`],
      ['DELETE', `/api/conversations/${id}`],
    ] as const) {
      const res = await http(base, method, path, body, openhands(BOB));
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(404);
    }
    expect((await http(base, 'GET', `/api/conversations?ids=${id}`, undefined, openhands(BOB))).body).toEqual([null]);
    const search = await http(base, 'GET', '/api/conversations/search', undefined, openhands(BOB));
    expect(search.body.items.map((c: { id: string }) => c.id)).not.toContain(id.replace(/-/g, ''));
    expect(search.body.items.map((c: { id: string }) => c.id)).not.toContain(id);
    expect((await http(base, 'GET', '/api/conversations/count', undefined, openhands(BOB))).body).toBe(0);
    expect((await http(base, 'GET', `/api/conversations/${id}`, undefined, openhands(ALICE))).status).toBe(200);
  });

  it('OpenHands V1: another key gets 404 for the app conversation and its sandbox; batch gets give null', async () => {
    const task = (await http(base, 'POST', '/api/v1/app-conversations', {}, openhands(ALICE))).body;
    const id = task.app_conversation_id as string;
    const sandbox = task.sandbox_id as string;
    for (const [method, path, body] of [
      ['GET', `/api/v1/app-conversations/${id}`],
      ['POST', `/api/v1/app-conversations/${id}/send-message`, { role: 'user', content: [{ type: 'text', text: 'x' }] }],
      ['DELETE', `/api/v1/app-conversations/${id}`],
      ['POST', `/api/v1/sandboxes/${sandbox}/pause`],
      ['POST', `/api/v1/sandboxes/${sandbox}/resume`],
      ['DELETE', `/api/v1/sandboxes/${sandbox}`],
      // Starting a conversation in another key's sandbox.
      ['POST', '/api/v1/app-conversations', { sandbox_id: sandbox }],
    ] as const) {
      const res = await http(base, method, path, body, openhands(BOB));
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(404);
    }
    expect((await http(base, 'GET', `/api/v1/app-conversations?ids=${id}`, undefined, openhands(BOB))).body).toEqual([null]);
    expect((await http(base, 'GET', `/api/v1/sandboxes?id=${sandbox}`, undefined, openhands(BOB))).body).toEqual([null]);
    const search = await http(base, 'GET', '/api/v1/app-conversations/search', undefined, openhands(BOB));
    expect(search.body.items).toEqual([]);
    const sandboxes = await http(base, 'GET', '/api/v1/sandboxes/search', undefined, openhands(BOB));
    expect(sandboxes.body.items.map((s: { id: string }) => s.id)).not.toContain(sandbox);
    expect((await http(base, 'GET', `/api/v1/sandboxes?id=${sandbox}`, undefined, openhands(ALICE))).body).toEqual([
      expect.objectContaining({ id: sandbox, status: 'RUNNING' }),
    ]);
  });

  it('agenhq: another key gets 404 for the session, its events and messages; the list leaves it out', async () => {
    const created = await http(base, 'POST', '/api/v1/sessions', { title: 'secret' }, agenhq(ALICE));
    const id = created.body.id as string;
    for (const [method, path, body] of [
      ['GET', `/api/v1/sessions/${id}`],
      ['GET', `/api/v1/sessions/${id}/events`],
      ['POST', `/api/v1/sessions/${id}/messages`, { message: 'x' }],
    ] as const) {
      const res = await http(base, method, path, body, agenhq(BOB));
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(404);
    }
    const list = await http(base, 'GET', '/api/v1/sessions', undefined, agenhq(BOB));
    expect(list.body.items.map((s: { id: string }) => s.id)).not.toContain(id);
    expect((await http(base, 'GET', `/api/v1/sessions/${id}/events`, undefined, agenhq(ALICE))).body).toEqual([]);
  });
});

describe('the admin key (ADMIN_KEY)', () => {
  it("sees every tenant's sessions, histories, deliveries and dead letters; tenants still see only their own", async () => {
    const alice = (await http(base, 'POST', '/sessions', { webhook: { url: receiver.url } }, native(ALICE))).body.session_id as string;
    const bob = (await http(base, 'POST', '/sessions', {}, native(BOB))).body.session_id as string;
    expect((await http(base, 'POST', `/sessions/${alice}/messages`, { content: 'alice here' }, native(ALICE))).status).toBe(202);
    await waitForIdleAs(alice, ALICE);
    await waitUntil(async () => (await http(base, 'GET', '/webhooks/dead-letters', undefined, native(ALICE))).body.some((l: { session_id: string }) => l.session_id === alice), {
      timeoutMs: 10_000,
      what: "Alice's new delivery to be dead-lettered",
    });

    const ids = async (key: string) => (await http(base, 'GET', '/sessions?limit=200', undefined, native(key))).body.map((s: { session_id: string }) => s.session_id);
    expect(await ids(ADMIN)).toEqual(expect.arrayContaining([alice, bob]));
    expect(await ids(ALICE)).not.toContain(bob);
    expect(await ids(BOB)).not.toContain(alice);

    expect((await http(base, 'GET', `/sessions/${alice}`, undefined, native(ADMIN))).body).toMatchObject({ session_id: alice, status: 'idle' });
    const history = (await http(base, 'GET', `/sessions/${alice}/messages`, undefined, native(ADMIN))).body;
    expect(history.map((m: { content: string }) => m.content)).toEqual(['alice here', 'echo: alice here']);
    expect((await http(base, 'GET', `/sessions/${alice}/webhooks`, undefined, native(ADMIN))).body).toHaveLength(1);
    const letters = (await http(base, 'GET', '/webhooks/dead-letters?limit=100', undefined, native(ADMIN))).body;
    expect(letters.map((l: { session_id: string }) => l.session_id)).toContain(alice);
    // The same on the other surfaces: the admin key is a caller that sees everything.
    expect((await http(base, 'GET', `/api/conversations/${bob}`, undefined, openhands(ADMIN))).status).toBe(200);
  });

  it("may send to, cancel and delete any tenant's session", async () => {
    const bob = (await http(base, 'POST', '/sessions', {}, native(BOB))).body.session_id as string;
    expect((await http(base, 'POST', `/sessions/${bob}/messages`, { content: 'from the operator' }, native(ADMIN))).status).toBe(202);
    await waitForIdleAs(bob, BOB);
    expect((await http(base, 'POST', `/sessions/${bob}/cancel`, undefined, native(ADMIN))).status).toBe(202);
    expect((await http(base, 'DELETE', `/sessions/${bob}`, undefined, native(ADMIN))).status).toBe(204);
    expect((await http(base, 'GET', `/sessions/${bob}`, undefined, native(BOB))).status).toBe(404);
  });

  it('is refused when wrong, like any key', async () => {
    const res = await http(base, 'GET', '/sessions', undefined, native(`${ADMIN}x`));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });
});

describe('a session id used again after a DELETE (issue 13)', () => {
  it('nothing of the deleted session shows in, or changes, the new one; its dead letter stays its owner’s', async () => {
    const id = crypto.randomUUID();
    const message = { content: 'hello', webhook: { url: `${receiver.url}/reused` } };
    const key = { 'idempotency-key': `reused-key-${id}` };
    // Alice: a session, a message with a webhook (dead at once: the receiver fails, one attempt), DELETE.
    expect((await http(base, 'PUT', `/sessions/${id}`, {}, native(ALICE))).status).toBe(201);
    const first = await http(base, 'POST', `/sessions/${id}/messages`, message, { ...native(ALICE), ...key });
    expect(first.status).toBe(202);
    await waitForIdleAs(id, ALICE);
    const dead = await waitUntil(
      async () => {
        const letters = (await http(base, 'GET', '/webhooks/dead-letters', undefined, native(ALICE))).body;
        return letters.find((l: { turn_id: string }) => l.turn_id === first.body.turn_id);
      },
      { timeoutMs: 10_000, what: "Alice's delivery to be dead-lettered" },
    );
    expect((await http(base, 'DELETE', `/sessions/${id}`, undefined, native(ALICE))).status).toBe(204);

    // Bob makes a session with the same id: its delivery log is empty, and not on the deleted one's clock.
    expect((await http(base, 'PUT', `/sessions/${id}`, {}, native(BOB))).status).toBe(201);
    expect((await http(base, 'GET', `/sessions/${id}/webhooks`, undefined, native(BOB))).body).toEqual([]);
    // Bob's message under the Idempotency-Key Alice used on this id: a new turn, stored and run.
    const second = await http(base, 'POST', `/sessions/${id}/messages`, message, { ...native(BOB), ...key });
    expect(second.status).toBe(202);
    expect(second.body.turn_id).not.toBe(first.body.turn_id);
    await waitForIdleAs(id, BOB);
    const history = (await http(base, 'GET', `/sessions/${id}/messages`, undefined, native(BOB))).body;
    expect(history.map((m: { content: string }) => m.content)).toEqual(['hello', 'echo: hello']);
    const own = await waitUntil(
      async () => {
        const log = (await http(base, 'GET', `/sessions/${id}/webhooks`, undefined, native(BOB))).body;
        return log.length > 0 && log;
      },
      { timeoutMs: 10_000, what: "Bob's delivery in his log" },
    );
    expect(own.map((d: { turn_id: string }) => d.turn_id)).toEqual([second.body.turn_id]);
    // Not on the deleted session's clock (a day): a live log expires WEBHOOK_LOG_TTL_S (7 days) after its last write.
    expect(await baton.redis.pttl(`${baton.prefix}:sess:{${id}}:deliveries`)).toBeGreaterThan(86_400_000);

    // Alice's dead letter is still hers: listed, redeliverable by her (not by Bob), and its
    // new attempt is logged with it, not in Bob's log.
    expect((await http(base, 'POST', `/sessions/${id}/webhooks/${dead.id}/redeliver`, undefined, native(BOB))).status).toBe(404);
    const redelivered = await http(base, 'POST', `/sessions/${id}/webhooks/${dead.id}/redeliver`, undefined, native(ALICE));
    expect(redelivered.status).toBe(202);
    await waitUntil(
      async () => {
        const letters = (await http(base, 'GET', '/webhooks/dead-letters', undefined, native(ALICE))).body;
        return letters.some((l: { id: string; attempts: unknown[] }) => l.id === dead.id && l.attempts.length === 2);
      },
      { timeoutMs: 10_000, what: "Alice's redelivery to be attempted and dead again" },
    );
    const log = (await http(base, 'GET', `/sessions/${id}/webhooks`, undefined, native(BOB))).body;
    expect(log.map((d: { turn_id: string }) => d.turn_id)).toEqual([second.body.turn_id]);
  });
});

async function waitForIdleAs(id: string, key: string) {
  const res = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=10`, undefined, native(key));
  expect(res.body.status).toBe('idle');
}

async function untilDeadLetter(key: string): Promise<{ id: string }> {
  return waitUntil(
    async () => {
      const letters = (await http(base, 'GET', '/webhooks/dead-letters', undefined, native(key))).body;
      return letters.length > 0 && letters[0];
    },
    { timeoutMs: 10_000, what: 'the delivery to be dead-lettered' },
  );
}
