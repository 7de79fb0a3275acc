import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, createSession, http, waitForIdle } from './support/baton.ts';
import { type ReceivedRequest, Receiver } from './support/receiver.ts';

/**
 * Webhook delivery end to end: real API and worker processes, real local receivers.
 * Every turn-end event reaches each target once, signed (checked with the independent
 * `standardwebhooks` package), retried by the schedule, logged, redeliverable, and
 * never sent where the SSRF rules forbid.
 */

const receivers: Receiver[] = [];
async function receiver(): Promise<Receiver> {
  const r = await Receiver.start();
  receivers.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const DELIVERY_KEYS = [
  'attempts',
  'created_at',
  'id',
  'next_attempt_at',
  'redeliveries',
  'session_id',
  'status',
  'target',
  'turn_id',
  'type',
  'url',
  'webhook_id',
];

interface Attempt {
  at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}
interface DeliveryView {
  id: string;
  webhook_id: string;
  session_id: string;
  turn_id: string;
  type: string;
  target: 'message' | 'session' | 'server';
  url: string;
  status: 'pending' | 'delivered' | 'failed' | 'dead';
  attempts: Attempt[];
  redeliveries: number;
  next_attempt_at: string | null;
  created_at: string;
  dead_at?: string;
}

/** Posts a message; expects 202 and returns its turn id. */
async function send(base: string, id: string, body: Record<string, unknown>): Promise<string> {
  const res = await http(base, 'POST', `/sessions/${id}/messages`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.turn_id as string;
}

async function deliveryLog(base: string, id: string): Promise<DeliveryView[]> {
  const res = await http<DeliveryView[]>(base, 'GET', `/sessions/${id}/webhooks`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Polls the session's delivery log until `turnId`'s deliveries (all of them, `count`) have `status`. */
async function untilDeliveries(
  base: string,
  id: string,
  turnId: string,
  status: DeliveryView['status'],
  count = 1,
  timeoutMs = 15_000,
): Promise<DeliveryView[]> {
  return waitUntil(
    async () => {
      const mine = (await deliveryLog(base, id)).filter((d) => d.turn_id === turnId);
      return mine.length === count && mine.every((d) => d.status === status) && mine;
    },
    { timeoutMs, what: `${count} delivery(ies) of turn ${turnId} to be ${status}` },
  );
}

async function untilDelivery(base: string, id: string, turnId: string, status: DeliveryView['status']): Promise<DeliveryView> {
  return (await untilDeliveries(base, id, turnId, status, 1))[0]!;
}

/** True when `standardwebhooks` accepts the request with `secret` (optionally with one signature only). */
function verifies(secret: string, req: ReceivedRequest, signature?: string): boolean {
  const headers = signature === undefined ? req.headers : { ...req.headers, 'webhook-signature': signature };
  try {
    new Webhook(secret).verify(req.body, headers);
    return true;
  } catch {
    return false;
  }
}

const signaturesOf = (req: ReceivedRequest) => (req.headers['webhook-signature'] ?? '').split(' ').filter(Boolean);

describe('delivery (one API, one worker with WORKER_CONCURRENCY=1)', () => {
  const S1 = newSecret();
  const S2 = newSecret();
  let baton: Baton;
  let base: string;
  /** Stands in for the user's HTTP agent: 'hang' never answers, anything else gets a 500. */
  let agent: Receiver;

  beforeAll(async () => {
    agent = await receiver();
    agent.reply = (req) => (req.json?.messages?.at(-1)?.content === 'hang' ? 'hang' : { status: 500, body: 'agent down' });
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', HTTP_AGENT_URL: `${agent.url}/agent` },
      workerEnv: {
        WEBHOOK_SECRET: `${S1} ${S2}`,
        WEBHOOK_SCHEDULE: '0,100,100',
        WEBHOOK_TIMEOUT_MS: '20000',
        WORKER_CONCURRENCY: '1',
      },
    });
    base = baton.url;
  });
  afterAll(() => baton?.stop());

  it('a completed turn: exactly one signed POST with token, user-agent and every body field; logged as delivered', async () => {
    const r = await receiver();
    const id = await createSession(base);
    const before = Date.now();
    const turnId = await send(base, id, { content: 'hello', webhook: { url: `${r.url}/hooks/one?tag=1`, token: 'tok-123' } });
    const done = await waitForIdle(base, id);
    expect(done).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: hello' } });
    const delivered = await untilDelivery(base, id, turnId, 'delivered');
    const after = Date.now();

    // A later event to the same receiver: once it has arrived, any duplicate of the first would have too.
    const barrier = await send(base, id, { content: 'barrier', webhook: { url: `${r.url}/barrier` } });
    await untilDelivery(base, id, barrier, 'delivered');
    const first = r.requests.filter((q) => q.path === '/hooks/one?tag=1');
    expect(first).toHaveLength(1);
    expect(r.requests).toHaveLength(2);

    const req = first[0]!;
    expect(req.method).toBe('POST');
    expect(req.headers.authorization).toBe('Bearer tok-123');
    expect(req.headers['user-agent']).toContain('Baton');
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    expect(req.headers['webhook-id']).toBe(`msg_${turnId}`);
    const ts = Number(req.headers['webhook-timestamp']);
    expect(Number.isInteger(ts)).toBe(true);
    expect(ts).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(ts).toBeLessThanOrEqual(Math.ceil(after / 1000));
    // Independent verification (Standard Webhooks reference library).
    expect(new Webhook(S1).verify(req.body, req.headers)).toEqual(req.json);
    expect(verifies(newSecret(), req)).toBe(false);

    expect(req.json).toEqual({
      type: 'turn.completed',
      turn_id: turnId,
      timestamp: expect.stringMatching(ISO),
      session_id: id,
      status: 'idle',
      response: { role: 'assistant', content: 'echo: hello' },
      error: null,
    });
    expect('messages' in req.json).toBe(false);
    const at = Date.parse(req.json.timestamp);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);

    expect(Object.keys(delivered).sort()).toEqual(DELIVERY_KEYS);
    expect(delivered).toMatchObject({
      webhook_id: `msg_${turnId}`,
      session_id: id,
      turn_id: turnId,
      type: 'turn.completed',
      target: 'message',
      url: `${r.url}/hooks/one?tag=1`,
      status: 'delivered',
      redeliveries: 0,
      next_attempt_at: null,
      created_at: expect.stringMatching(ISO),
    });
    expect(delivered.attempts).toEqual([{ at: expect.stringMatching(ISO), status_code: 200, latency_ms: expect.any(Number), error: null }]);
    // Neither token, secret nor body leak into the log.
    const raw = JSON.stringify(await deliveryLog(base, id));
    expect(raw).not.toContain('tok-123');
    expect(raw).not.toContain('echo: hello');
    // Oldest first.
    expect((await deliveryLog(base, id)).map((d) => d.turn_id)).toEqual([turnId, barrier]);
  });

  it('include_messages: `messages` is the history as GET /sessions/{id}/messages shows it', async () => {
    const r = await receiver();
    const id = await createSession(base, { state: [{ role: 'system', content: 'be brief' }] });
    await send(base, id, { content: 'one' });
    await waitForIdle(base, id);
    const turnId = await send(base, id, {
      content: 'two',
      user_params: { lang: 'en' },
      webhook: { url: r.url, include_messages: true },
    });
    await untilDelivery(base, id, turnId, 'delivered');
    const history = (await http(base, 'GET', `/sessions/${id}/messages`)).body;
    expect(history).toHaveLength(5);
    expect(r.requests).toHaveLength(1);
    const body = r.requests[0]!.json;
    expect(body.messages).toEqual(history);
    expect(body.response).toEqual(history[4]);
    expect(body.response).toEqual({ role: 'assistant', content: 'echo: two' });
  });

  it('rotation: two server secrets give two signatures, each verifying alone; a webhook secret overrides them', async () => {
    const r = await receiver();
    const id = await createSession(base);

    const serverSigned = await send(base, id, { content: 'a', webhook: { url: `${r.url}/server` } });
    await untilDelivery(base, id, serverSigned, 'delivered');
    const W = newSecret();
    const ownSigned = await send(base, id, { content: 'b', webhook: { url: `${r.url}/own`, secret: W } });
    await untilDelivery(base, id, ownSigned, 'delivered');
    const W1 = newSecret();
    const W2 = newSecret();
    const ownRotating = await send(base, id, { content: 'c', webhook: { url: `${r.url}/own-rotating`, secret: `${W1} ${W2}` } });
    await untilDelivery(base, id, ownRotating, 'delivered');
    expect(r.requests.map((q) => q.path)).toEqual(['/server', '/own', '/own-rotating']);
    const [server, own, rotating] = r.requests as [ReceivedRequest, ReceivedRequest, ReceivedRequest];

    const sigs = signaturesOf(server);
    expect(sigs).toHaveLength(2);
    for (const sig of sigs) expect(sig).toMatch(/^v1,[A-Za-z0-9+/]+={0,2}$/);
    expect(verifies(S1, server, sigs[0])).toBe(true);
    expect(verifies(S2, server, sigs[1])).toBe(true);
    expect(verifies(S2, server, sigs[0])).toBe(false);
    expect(verifies(S1, server, sigs[1])).toBe(false);
    expect(verifies(S1, server)).toBe(true);
    expect(verifies(S2, server)).toBe(true);

    expect(signaturesOf(own)).toHaveLength(1);
    expect(verifies(W, own)).toBe(true);
    expect(verifies(S1, own)).toBe(false);
    expect(verifies(S2, own)).toBe(false);

    const rsigs = signaturesOf(rotating);
    expect(rsigs).toHaveLength(2);
    expect(verifies(W1, rotating, rsigs[0])).toBe(true);
    expect(verifies(W2, rotating, rsigs[1])).toBe(true);
    expect(verifies(W1, rotating, rsigs[1])).toBe(false);
    expect(verifies(S1, rotating)).toBe(false);
  });

  it('turn.failed: the http agent answers 500, the event carries the error', async () => {
    const r = await receiver();
    const id = await createSession(base, { agent: 'http' });
    const turnId = await send(base, id, { content: 'fail', webhook: { url: r.url } });
    const view = await waitForIdle(base, id);
    expect(view.status).toBe('error');
    expect(view.error).toMatch(/^Agent failed/);
    const d = await untilDelivery(base, id, turnId, 'delivered');
    expect(d.type).toBe('turn.failed');
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]!.headers['webhook-id']).toBe(`msg_${turnId}`);
    expect(r.requests[0]!.json).toEqual({
      type: 'turn.failed',
      turn_id: turnId,
      timestamp: expect.stringMatching(ISO),
      session_id: id,
      status: 'error',
      response: null,
      error: view.error,
    });
  });

  it('turn.cancelled: DELETE while a turn runs with one queued message sends two cancelled events', async () => {
    const r = await receiver();
    const id = await createSession(base, { agent: 'http' });
    const seen = agent.requests.length;
    const running = await send(base, id, { content: 'hang', webhook: { url: `${r.url}/running` } });
    await agent.waitFor(seen + 1); // the agent has the turn: it is running
    const queuedRes = await http(base, 'POST', `/sessions/${id}/messages`, {
      content: 'queued',
      if_busy: 'enqueue',
      webhook: { url: `${r.url}/queued` },
    });
    expect(queuedRes.status).toBe(202);
    expect(queuedRes.body.queued).toBe(true);
    const queued = queuedRes.body.turn_id as string;
    expect(queued).not.toBe(running);

    expect((await http(base, 'DELETE', `/sessions/${id}`)).status).toBe(204);
    const events = await r.waitFor(2);
    const byPath = Object.fromEntries(events.map((e) => [e.path, e]));
    expect(Object.keys(byPath).sort()).toEqual(['/queued', '/running']);
    for (const [path, turnId] of [
      ['/running', running],
      ['/queued', queued],
    ] as const) {
      const e = byPath[path]!;
      expect(e.headers['webhook-id']).toBe(`msg_${turnId}`);
      expect(verifies(S1, e)).toBe(true);
      expect(e.json).toEqual({
        type: 'turn.cancelled',
        turn_id: turnId,
        timestamp: expect.stringMatching(ISO),
        session_id: id,
        status: 'idle',
        response: null,
        error: 'Turn cancelled',
      });
    }
    // The queued message never reached the agent.
    expect(agent.requests.some((q) => q.json?.messages?.at(-1)?.content === 'queued')).toBe(false);
  });

  describe('status rules (schedule 0,100,100)', () => {
    it('500 then 200: retried with the same webhook-id and body, then delivered', async () => {
      const r = await receiver();
      r.reply = (_req, i) => ({ status: i === 0 ? 500 : 200 });
      const id = await createSession(base);
      const turnId = await send(base, id, { content: 'retry me', webhook: { url: r.url } });
      const d = await untilDelivery(base, id, turnId, 'delivered');
      expect(d.attempts.map((a) => a.status_code)).toEqual([500, 200]);
      expect(r.requests).toHaveLength(2);
      const [a, b] = r.requests as [ReceivedRequest, ReceivedRequest];
      expect(a.headers['webhook-id']).toBe(`msg_${turnId}`);
      expect(b.headers['webhook-id']).toBe(`msg_${turnId}`);
      expect(b.body).toBe(a.body);
      expect(verifies(S1, a)).toBe(true);
      expect(verifies(S1, b)).toBe(true);
    });

    it('the worker logs each attempt with scheme, host and port only: never the path or query that may hold a secret', async () => {
      const r = await receiver();
      r.reply = (_req, i) => ({ status: i === 0 ? 500 : 200 });
      const id = await createSession(base);
      const worker = baton.workers[0]!;
      const from = worker.output.length;
      const url = `${r.url}/hooks/T0/path-s3cret?token=query-s3cret`;
      const turnId = await send(base, id, { content: 'log me', webhook: { url } });
      const d = await untilDelivery(base, id, turnId, 'delivered');
      expect(d.url).toBe(url); // the delivery log, for the session's own key, keeps it whole
      await worker.waitForLog(new RegExp(`"deliveryId":"${d.id}"[^\\n]*webhook delivered`), 10_000, from);
      const lines = worker.output.slice(from).split('\n').filter((line) => line.includes(d.id));
      expect(lines.filter((line) => /webhook attempt failed|webhook delivered/.test(line))).toHaveLength(2);
      for (const line of lines) {
        expect(line).not.toContain('s3cret');
        expect(line).not.toContain('/hooks');
      }
      expect(lines.some((line) => line.includes(`"url":"${r.url}/…"`))).toBe(true);
    });

    it('302 is a failure: the redirect is not followed, the delivery is retried and can end delivered', async () => {
      const r = await receiver();
      const elsewhere = await receiver();
      r.reply = (_req, i) => (i === 0 ? { status: 302, headers: { location: `${elsewhere.url}/moved` } } : { status: 200 });
      const id = await createSession(base);
      const turnId = await send(base, id, { content: 'redirect', webhook: { url: `${r.url}/old` } });
      const d = await untilDelivery(base, id, turnId, 'delivered');
      expect(d.attempts.map((a) => a.status_code)).toEqual([302, 200]);
      expect(r.requests.map((q) => q.path)).toEqual(['/old', '/old']);
      // A followed redirect would have reached `elsewhere` during the first attempt, before the retry.
      expect(elsewhere.requests).toHaveLength(0);
    });

    it('410 stops at once: one attempt, status failed, no further requests', async () => {
      const r = await receiver();
      let laterAttempts = 0;
      r.reply = (req) => {
        if (req.path === '/gone') return { status: 410 };
        // The later event is held back by Retry-After: 1, so it arrives a second after
        // the 410, long after the whole 200 ms schedule of the first would have run.
        return laterAttempts++ === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 };
      };
      const id = await createSession(base);
      const gone = await send(base, id, { content: 'gone', webhook: { url: `${r.url}/gone` } });
      const failed = await untilDelivery(base, id, gone, 'failed');
      expect(failed.attempts.map((a) => a.status_code)).toEqual([410]);
      expect(failed.next_attempt_at).toBeNull();

      const later = await send(base, id, { content: 'later', webhook: { url: `${r.url}/later` } });
      await untilDelivery(base, id, later, 'delivered');
      expect(r.requests.map((q) => q.path)).toEqual(['/gone', '/later', '/later']);
      expect(r.requests[0]!.headers['webhook-id']).toBe(`msg_${gone}`);
      const again = (await deliveryLog(base, id)).find((d) => d.turn_id === gone)!;
      expect(again.status).toBe('failed');
      expect(again.attempts).toHaveLength(1);
      // Failed (410) is not dead: it is not a dead letter.
      const dead = (await http<DeliveryView[]>(base, 'GET', '/webhooks/dead-letters')).body;
      expect(dead.map((x) => x.id)).not.toContain(failed.id);
    });

    it('429 and 503 with Retry-After: 1 hold the next attempt back a second, though the schedule says 100 ms', async () => {
      const check = async (status: number) => {
        const r = await receiver();
        r.reply = (_req, i) => (i === 0 ? { status, headers: { 'retry-after': '1' } } : { status: 200 });
        const id = await createSession(base);
        const turnId = await send(base, id, { content: `busy ${status}`, webhook: { url: r.url } });
        const d = await untilDelivery(base, id, turnId, 'delivered');
        expect(d.attempts.map((a) => a.status_code)).toEqual([status, 200]);
        expect(r.requests).toHaveLength(2);
        const gap = r.requests[1]!.at - r.requests[0]!.at;
        expect(gap, `${status}: second attempt ${gap} ms after the first`).toBeGreaterThanOrEqual(950);
        expect(Date.parse(d.attempts[1]!.at) - Date.parse(d.attempts[0]!.at)).toBeGreaterThanOrEqual(950);
      };
      await Promise.all([check(429), check(503)]);
    });

    it('exhausted → dead and dead-lettered; redelivered after the fix with the same webhook-id, schedule restarted', async () => {
      const r = await receiver();
      r.reply = () => ({ status: 500 });
      const id = await createSession(base);
      const turnId = await send(base, id, { content: 'doomed', webhook: { url: r.url } });
      const dead = await untilDelivery(base, id, turnId, 'dead');
      expect(dead.attempts.map((a) => a.status_code)).toEqual([500, 500, 500]);
      expect(dead.next_attempt_at).toBeNull();
      expect(r.requests).toHaveLength(3);
      expect(new Set(r.requests.map((q) => q.headers['webhook-id']))).toEqual(new Set([`msg_${turnId}`]));

      const letters = await http<DeliveryView[]>(base, 'GET', '/webhooks/dead-letters?limit=50');
      expect(letters.status).toBe(200);
      const letter = letters.body.find((x) => x.id === dead.id);
      expect(letter).toMatchObject({ id: dead.id, session_id: id, turn_id: turnId, status: 'dead', webhook_id: `msg_${turnId}` });
      expect(letter!.dead_at).toMatch(ISO);
      expect(letter).not.toHaveProperty('body');
      expect(letter).not.toHaveProperty('secret');
      const limited = await http(base, 'GET', '/webhooks/dead-letters?limit=0');
      expect(limited.status).toBe(422);

      // Fixed, after one more failure: the restarted schedule has room for it.
      r.reply = (_req, i) => ({ status: i === 3 ? 500 : 200 });
      const res = await http<DeliveryView>(base, 'POST', `/sessions/${id}/webhooks/${dead.id}/redeliver`);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ id: dead.id, status: 'pending', redeliveries: 1, webhook_id: `msg_${turnId}` });
      const delivered = await untilDelivery(base, id, turnId, 'delivered');
      expect(delivered.attempts.map((a) => a.status_code)).toEqual([500, 500, 500, 500, 200]);
      expect(delivered.redeliveries).toBe(1);
      expect(r.requests).toHaveLength(5);
      for (const q of r.requests.slice(3)) {
        expect(q.headers['webhook-id']).toBe(`msg_${turnId}`);
        expect(q.body).toBe(r.requests[0]!.body);
        expect(verifies(S1, q)).toBe(true);
      }
      const after = (await http<DeliveryView[]>(base, 'GET', '/webhooks/dead-letters?limit=50')).body;
      expect(after.map((x) => x.id)).not.toContain(dead.id);
    });

    it('redeliver: 409 while the delivery is pending, 404 for an unknown delivery or session', async () => {
      const r = await receiver();
      r.reply = () => 'hang';
      const id = await createSession(base);
      const turnId = await send(base, id, { content: 'hang on', webhook: { url: r.url } });
      await r.waitFor(1);
      const [pending] = await deliveryLog(base, id);
      expect(pending).toMatchObject({ turn_id: turnId, status: 'pending' });

      const busy = await http(base, 'POST', `/sessions/${id}/webhooks/${pending!.id}/redeliver`);
      expect(busy.status).toBe(409);
      expect(busy.body.error.code).toBe('delivery_pending');

      const unknown = await http(base, 'POST', `/sessions/${id}/webhooks/no-such-delivery/redeliver`);
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('delivery_not_found');

      const otherSession = randomUUID();
      expect((await http(base, 'POST', `/sessions/${otherSession}/webhooks/${pending!.id}/redeliver`)).status).toBe(404);
      const log = await http(base, 'GET', `/sessions/${otherSession}/webhooks`);
      expect(log.status).toBe(404);
      expect(log.body.error.code).toBe('session_not_found');
      expect(r.requests).toHaveLength(1);
    });
  });

  it('a hanging receiver does not hold the only turn slot: another session’s turn completes meanwhile', async () => {
    const r = await receiver();
    r.reply = () => 'hang';
    const slow = await createSession(base);
    const slowTurn = await send(base, slow, { content: 'slow', webhook: { url: r.url } });
    await r.waitFor(1); // the delivery is in flight and will not be answered

    const other = await createSession(base);
    await send(base, other, { content: 'still here' });
    const done = await waitForIdle(base, other, 10);
    expect(done).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: still here' } });

    const [d] = await deliveryLog(base, slow);
    expect(d).toMatchObject({ turn_id: slowTurn, status: 'pending', attempts: [] });
  });
});

describe('targets: message webhook, session default webhook and WEBHOOK_ENDPOINTS', () => {
  const S = newSecret();
  let baton: Baton;
  let server: Receiver;

  beforeAll(async () => {
    server = await receiver();
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_ENDPOINTS: `${server.url}/server` },
      workerEnv: { WEBHOOK_SECRET: S, WEBHOOK_SCHEDULE: '0,100,100', WEBHOOK_TIMEOUT_MS: '300' },
    });
  });
  afterAll(() => baton?.stop());

  it('one delivery per target, one webhook-id, each with its own token; the log names each target', async () => {
    const base = baton.url;
    const sessionHook = await receiver();
    const messageHook = await receiver();
    const id = await createSession(base, { webhook: { url: `${sessionHook.url}/default`, token: 'session-token' } });
    const turnId = await send(base, id, { content: 'all', webhook: { url: `${messageHook.url}/message`, token: 'message-token' } });
    const log = await untilDeliveries(base, id, turnId, 'delivered', 3);

    expect(log.map((d) => d.target).sort()).toEqual(['message', 'server', 'session']);
    const byTarget = Object.fromEntries(log.map((d) => [d.target, d]));
    expect(byTarget.message!.url).toBe(`${messageHook.url}/message`);
    expect(byTarget.session!.url).toBe(`${sessionHook.url}/default`);
    expect(byTarget.server!.url).toBe(`${server.url}/server`);
    expect(new Set(log.map((d) => d.webhook_id))).toEqual(new Set([`msg_${turnId}`]));
    expect(new Set(log.map((d) => d.id)).size).toBe(3);

    const mine = (r: Receiver) => r.requests.filter((q) => q.json?.session_id === id);
    const [m, s, e] = [mine(messageHook), mine(sessionHook), mine(server)];
    expect([m.length, s.length, e.length]).toEqual([1, 1, 1]);
    for (const q of [m[0]!, s[0]!, e[0]!]) {
      expect(q.headers['webhook-id']).toBe(`msg_${turnId}`);
      expect(q.json).toMatchObject({ type: 'turn.completed', turn_id: turnId, response: { content: 'echo: all' } });
      expect(q.body).toBe(m[0]!.body);
      expect(verifies(S, q)).toBe(true);
    }
    expect(m[0]!.headers.authorization).toBe('Bearer message-token');
    expect(s[0]!.headers.authorization).toBe('Bearer session-token');
    expect(e[0]!.headers.authorization).toBeUndefined();

    // A message without a webhook of its own: the session's default and the server endpoint only.
    const plain = await send(base, id, { content: 'plain' });
    const next = await untilDeliveries(base, id, plain, 'delivered', 2);
    expect(next.map((d) => d.target).sort()).toEqual(['server', 'session']);
    expect(mine(messageHook)).toHaveLength(1);
  });

  it('WEBHOOK_TIMEOUT_MS bounds each attempt: a receiver that never answers times out, is retried, ends dead', async () => {
    const base = baton.url;
    const hanging = await receiver();
    hanging.reply = () => 'hang';
    const id = await createSession(base);
    const turnId = await send(base, id, { content: 'wait', webhook: { url: hanging.url } });
    const log = await waitUntil(
      async () => {
        const mine = (await deliveryLog(base, id)).filter((d) => d.turn_id === turnId);
        return mine.length === 2 && mine.find((d) => d.target === 'message')?.status === 'dead' && mine;
      },
      { timeoutMs: 15_000, what: 'the hanging delivery to be dead' },
    );
    const dead = log.find((d) => d.target === 'message')!;
    expect(dead.attempts).toHaveLength(3);
    for (const a of dead.attempts) {
      expect(a.status_code).toBeNull();
      expect(a.error).toMatch(/timeout/i);
      expect(a.latency_ms).toBeGreaterThanOrEqual(290);
      expect(a.latency_ms).toBeLessThan(5_000);
    }
    expect(hanging.requests).toHaveLength(3);
    // The other target of the same event is not held up by it.
    expect(log.find((d) => d.target === 'server')!.status).toBe('delivered');
  });
});

describe('SSRF (WEBHOOK_ALLOW_PRIVATE unset)', () => {
  let baton: Baton;
  let loopback: Receiver;

  beforeAll(async () => {
    loopback = await receiver();
    const port = new URL(loopback.url).port;
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      env: { WEBHOOK_ENDPOINTS: `http://127.0.0.1:${port}/literal,http://localhost:${port}/named` },
      workerEnv: { WEBHOOK_SCHEDULE: '0,100,100' },
    });
  });
  afterAll(() => baton?.stop());

  const CASES: [url: string, code: string][] = [
    ['http://localhost:1/x', 'webhook_url_refused'],
    ['http://127.0.0.1/x', 'webhook_url_refused'],
    ['http://[::1]/x', 'webhook_url_refused'],
    ['http://[::ffff:127.0.0.1]/x', 'webhook_url_refused'],
    ['http://169.254.169.254/latest/meta-data', 'webhook_url_refused'],
    ['http://10.0.0.1/', 'webhook_url_refused'],
    ['http://user:pw@example.com/', 'webhook_url_invalid'],
    ['ftp://example.com/', 'validation_failed'],
  ];

  it.each(CASES)('a message webhook to %s gets 422 %s and queues nothing', async (url, code) => {
    const base = baton.url;
    const id = await createSession(base);
    const res = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'x', webhook: { url } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.details[0].path).toBe('body.webhook.url');
    // A refused address says how to allow it in development.
    if (code === 'webhook_url_refused') expect(res.body.error.message).toContain('set WEBHOOK_ALLOW_PRIVATE=true on the API and workers');
    else expect(res.body.error.message).not.toContain('WEBHOOK_ALLOW_PRIVATE');
    const view = (await http(base, 'GET', `/sessions/${id}`)).body;
    expect(view).toMatchObject({ status: 'idle', total_messages: 0, pending_messages: 0, response: null, error: null });
    expect((await http(base, 'GET', `/sessions/${id}/messages`)).body).toEqual([]);
    expect(await deliveryLog(base, id)).toEqual([]);
  });

  it.each(CASES)('a session default webhook to %s gets 422 %s and creates nothing', async (url, code) => {
    const base = baton.url;
    const id = randomUUID();
    const res = await http(base, 'PUT', `/sessions/${id}`, { webhook: { url } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.details[0].path).toBe('body.webhook.url');
    expect((await http(base, 'GET', `/sessions/${id}`)).status).toBe(404);
    const before = (await http(base, 'GET', '/sessions?limit=200')).body.length;
    const posted = await http(base, 'POST', '/sessions', { webhook: { url } });
    expect(posted.status).toBe(422);
    expect(posted.body.error.code).toBe(code);
    expect((await http(base, 'GET', '/sessions?limit=200')).body.length).toBe(before);
  });

  it('workers refuse a loopback WEBHOOK_ENDPOINTS target: never contacted, delivery failed naming the address', async () => {
    const base = baton.url;
    const id = await createSession(base);
    const turnId = await send(base, id, { content: 'ping' });
    expect(await waitForIdle(base, id)).toMatchObject({ status: 'idle', response: { content: 'echo: ping' } });
    const log = await untilDeliveries(base, id, turnId, 'failed', 2);
    const byUrl = Object.fromEntries(log.map((d) => [new URL(d.url).pathname, d]));
    for (const d of log) {
      expect(d.target).toBe('server');
      expect(d.attempts).toHaveLength(1);
      expect(d.attempts[0]!.status_code).toBeNull();
      expect(d.next_attempt_at).toBeNull();
    }
    // Refused, not merely unreachable: a refused connection would be retried to `dead`.
    expect(byUrl['/literal']!.attempts[0]!.error).toMatch(/127\.0\.0\.1.*loopback/);
    expect(byUrl['/named']!.attempts[0]!.error).toMatch(/(127\.0\.0\.1|::1).*localhost.*loopback/);
    expect(loopback.requests).toHaveLength(0);
  });
});

describe('crash between finishing a turn and queueing its webhooks', () => {
  let baton: Baton;
  beforeAll(async () => {
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      workers: 0,
      env: { ...FAST_RECOVERY, WEBHOOK_ALLOW_PRIVATE: 'true' },
      workerEnv: { WEBHOOK_SCHEDULE: '0,100,100' },
    });
  });
  afterAll(() => baton?.stop());

  it('the event is still delivered, exactly once, by another worker', async () => {
    const b = baton;
    const r = await receiver();
    const doomed = await b.startWorker({ BATON_FAULT: 'kill:worker.after-finish' });
    const id = await createSession(b.url);
    const turnId = await send(b.url, id, { content: 'survive', webhook: { url: r.url } });
    const { signal } = await doomed.exited;
    expect(signal).toBe('SIGKILL');
    // The turn's end was recorded before the kill; nothing was queued.
    expect((await http(b.url, 'GET', `/sessions/${id}`)).body).toMatchObject({ status: 'idle', response: { content: 'echo: survive' } });
    expect(r.requests).toHaveLength(0);

    const healthy = await b.startWorker();
    const d = await untilDelivery(b.url, id, turnId, 'delivered');
    // Both repair paths have run: the stalled turn job's rerun and the reaper's pass over the session.
    await healthy.waitForLog(/turn is no longer running here/, 15_000);
    await waitUntil(async () => (await b.redis.zscore(`${b.prefix}:running`, id)) === null, {
      timeoutMs: 15_000,
      what: 'the reaper to release the session',
    });
    const log = await deliveryLog(b.url, id);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ id: d.id, status: 'delivered', webhook_id: `msg_${turnId}` });
    expect(log[0]!.attempts).toHaveLength(1);
    expect(r.requests).toHaveLength(1);
    expect(new Set(r.requests.map((q) => q.headers['webhook-id']))).toEqual(new Set([`msg_${turnId}`]));
    expect(r.requests[0]!.json).toMatchObject({ type: 'turn.completed', turn_id: turnId, response: { content: 'echo: survive' } });
  });
});
