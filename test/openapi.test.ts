import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, type JsonResponse, createSession, http } from './support/baton.ts';
import { SpecChecker } from './support/openapi.ts';
import { Receiver } from './support/receiver.ts';

/**
 * The served OpenAPI document against the real API: every documented operation is called,
 * over its success statuses and the usual errors, and every answer must be a documented
 * status whose body validates against the document's schema (ajv, JSON Schema 2020-12).
 */

const KEY = 'openapi-test-key';
const AUTH = { authorization: `Bearer ${KEY}` };

let baton: Baton;
let base: string;
let spec: SpecChecker;
let receiver: Receiver;
let hang = false;

beforeAll(async () => {
  receiver = await Receiver.start();
  receiver.reply = (req) => (req.path === '/fail' ? { status: 500 } : hang ? 'hang' : { status: 200 });
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { ECHO_DELAY_MS: '300', WEBHOOK_ALLOW_PRIVATE: 'true' },
    apiEnv: { API_KEYS: KEY, BODY_LIMIT: '4kb', LONG_POLL_MAX_S: '5' },
    workerEnv: { WEBHOOK_SCHEDULE: '0,50ms', WEBHOOK_TIMEOUT_MS: '3000' },
  });
  base = baton.url;
  const doc = await http(base, 'GET', '/openapi.json'); // public: no key
  expect(doc.status).toBe(200);
  spec = new SpecChecker(doc.body);
  expect(spec.problems('GET /openapi.json', doc)).toEqual([]);
});
afterAll(async () => {
  await receiver?.close();
  await baton?.stop();
});

/** Calls `op` (e.g. `POST /sessions/{id}/messages`) at `path` with the API key and checks the answer against the document. */
async function call(op: string, path: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<JsonResponse> {
  const res = await http(base, op.split(' ')[0]!, path, body, headers);
  expect(spec.problems(op, res)).toEqual([]);
  return res;
}

async function newSession(body: unknown = {}): Promise<string> {
  const res = await call('POST /sessions', '/sessions', body);
  expect(res.status).toBe(201);
  return res.body.session_id;
}

type Operation = { parameters?: Parameter[]; requestBody?: { content: Record<string, { example?: unknown }> } };
type Parameter = { name: string; in: string; required?: boolean; example?: unknown; schema?: { example?: unknown; default?: unknown } };

/**
 * The request Swagger UI's "Try it out" sends on the first click: each parameter's example
 * (or its schema's example or default), the body's example. Path parameters without an
 * example (a session id, a delivery id) are what the user pastes in: taken from `context`.
 */
function exampleRequest(path: string, op: Operation, context: Record<string, string>): { path: string; body?: unknown } {
  let url = path;
  const query = new URLSearchParams();
  for (const param of op.parameters ?? []) {
    const value = param.example ?? param.schema?.example ?? (param.in === 'path' ? context[param.name] : param.schema?.default);
    if (value === undefined) {
      if (param.in === 'path') throw new Error(`${path}: no value for path parameter ${param.name}`);
      continue;
    }
    if (param.in === 'path') url = url.replace(`{${param.name}}`, encodeURIComponent(String(value)));
    else if (param.in === 'query') query.set(param.name, String(value));
  }
  if (query.size > 0) url += `?${query}`;
  if (!op.requestBody) return { path: url };
  const media = op.requestBody.content['application/json'];
  // Without an example, Swagger UI would make one from the schema: placeholder strings.
  if (media?.example === undefined) throw new Error(`${path}: the request body has no example`);
  // An interrupt's id, like a session id, is pasted in by the user (the example says from where).
  if (context.interrupt_id !== undefined) return { path: url, body: { ...(media.example as object), interrupt_id: context.interrupt_id } };
  return { path: url, body: media.example };
}

describe('"Try it out": every example request of the document succeeds on a fresh Baton', () => {
  let fresh: Baton;
  let hooks: Receiver;
  beforeAll(async () => {
    hooks = await Receiver.start();
    // As `npm start` runs it (no API keys); loopback webhooks allowed only for the delivery this test makes.
    // READY_WAIT_MS: on a busy machine the worker may take longer than the default 0.5 s to answer /ready's first canary.
    fresh = await Baton.start({ redisUrl: inject('redisUrl'), env: { WEBHOOK_ALLOW_PRIVATE: 'true' }, apiEnv: { READY_WAIT_MS: '10000' } });
  });
  afterAll(async () => {
    await fresh?.stop();
    await hooks?.close();
  });

  it('sends each operation with its examples and gets a 2xx that does what it says; the docs/surfaces links resolve', async () => {
    const url = fresh.url;
    const doc = (await http(url, 'GET', '/openapi.json')).body as { paths: Record<string, Record<string, Operation>>; info: { description: string } };
    const send = async (method: string, path: string, context: Record<string, string> = {}): Promise<JsonResponse> => {
      const request = exampleRequest(path, doc.paths[path]![method.toLowerCase()]!, context);
      if (path === '/sessions/{id}/events') {
        // An endless stream: read its first event, then hang up.
        const controller = new AbortController();
        const res = await fetch(url + request.path, { signal: controller.signal });
        const reader = res.body!.getReader();
        let text = '';
        while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
        controller.abort();
        const answer = { status: res.status, headers: res.headers, body: text };
        expect(spec.problems(`${method} ${path}`, answer)).toEqual([]);
        return answer;
      }
      const res = await http(url, method, request.path, request.body);
      expect(spec.problems(`${method} ${path}`, res)).toEqual([]);
      expect(res.status, `${method} ${request.path}: ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(200);
      expect(res.status, `${method} ${request.path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
      return res;
    };

    // POST /sessions first: its answer's id is what the user pastes into the others.
    const created = await send('POST', '/sessions');
    expect(created.body).toMatchObject({ status: 'idle', total_messages: 1 });
    const id: string = created.body.session_id;
    const context = { id };
    // Twice, as a user clicks again while the first turn runs: the second is queued, not refused.
    const first = await send('POST', '/sessions/{id}/messages', context);
    const second = await send('POST', '/sessions/{id}/messages', context);
    expect(second.body.turn_id).not.toBe(first.body.turn_id);
    await waitUntil(async () => (await http(url, 'GET', `/sessions/${id}`)).body.total_messages === 5, { what: 'both turns to end' });
    const history = (await http(url, 'GET', `/sessions/${id}/messages`)).body;
    expect(history.slice(1)).toEqual([
      { role: 'user', content: 'Hello, Baton' },
      { role: 'assistant', content: 'echo: Hello, Baton' },
      { role: 'user', content: 'Hello, Baton' },
      { role: 'assistant', content: 'echo: Hello, Baton' },
    ]);

    // A delivery to redeliver: the one thing the examples cannot make (a webhook needs a receiver).
    const hooked = await createSession(url, { webhook: { url: `${hooks.url}/hook` } });
    await http(url, 'POST', `/sessions/${hooked}/messages`, { content: 'hook' });
    const [delivery] = await waitUntil(
      async () => {
        const log = (await http(url, 'GET', `/sessions/${hooked}/webhooks`)).body;
        return log[0]?.status === 'delivered' && log;
      },
      { what: 'the delivery' },
    );

    // A turn waiting for a person, to resume: the echo agent's test contract raises the interrupt.
    const waiting = await createSession(url);
    await http(url, 'POST', `/sessions/${waiting}/messages`, { content: 'delete it', user_params: { echo: { interrupt: { type: 'tool_approval', payload: { tool: 'delete' } } } } });
    const interrupt: string = await waitUntil(
      async () => (await http(url, 'GET', `/sessions/${waiting}`)).body.interrupts?.[0]?.interrupt_id,
      { what: 'the interrupt' },
    );

    const done = new Set<string>(['POST /sessions', 'POST /sessions/{id}/messages']);
    const deletes: [string, string][] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods).map((m) => m.toUpperCase())) {
        if (done.has(`${method} ${path}`)) continue;
        if (method === 'DELETE') deletes.push([method, path]);
        else if (path === '/sessions/{id}' && method === 'PUT') await send(method, path, { id: randomUUID() });
        else if (path.includes('{delivery_id}')) await send(method, path, { id: hooked, delivery_id: delivery.id });
        else if (path === '/sessions/{id}/resume') await send(method, path, { id: waiting, interrupt_id: interrupt });
        else await send(method, path, context);
        done.add(`${method} ${path}`);
      }
    }
    for (const [method, path] of deletes) await send(method, path, context);
    expect((await http(url, 'GET', `/sessions/${id}`)).status).toBe(404);

    // The links to docs/surfaces in the document's description resolve.
    const links = [...doc.info.description.matchAll(/\]\((\/docs\/surfaces\/[^)]+)\)/g)].map((m) => m[1]!);
    expect(links).toHaveLength(3);
    for (const link of links) {
      const page = await http(url, 'GET', link);
      expect(page.status, link).toBe(200);
      expect(page.headers.get('content-type'), link).toBe('text/plain; charset=utf-8');
      expect(page.body, link).toMatch(/^# /);
    }
  });
});

describe('the OpenAPI document describes the real responses', () => {
  it('/health, /openapi.json and /docs are public; /docs is an HTML page whose assets load', async () => {
    expect((await call('GET /health', '/health', undefined, {})).status).toBe(200);
    expect((await call('GET /openapi.json', '/openapi.json', undefined, {})).body.openapi).toBe('3.1.0');
    const page = await call('GET /docs', '/docs', undefined, {});
    expect(page.status).toBe(200);
    expect(page.body).toContain("url: '/openapi.json'");
    const assets = [...(page.body as string).matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.sort()).toEqual(['/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css']);
    for (const asset of assets) {
      const res = await fetch(base + asset);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.js') ? /javascript/ : /text\/css/);
      expect((await res.arrayBuffer()).byteLength, asset).toBeGreaterThan(1000);
    }
  });

  it('/console/ is a public HTML page (the web console)', async () => {
    const page = await call('GET /console/', '/console/', undefined, {});
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('<div id="app"></div>');
  });

  it('sessions: 201 create (POST and PUT), 409, 400, 200 list and get, 404, 422 on bad queries, 401 without a key', async () => {
    const id = await newSession({ state: [{ role: 'user', content: 'hi', user_params: { lang: 'en' } }, { role: 'assistant', content: 'hello' }] });
    const own = randomUUID();
    expect((await call('PUT /sessions/{id}', `/sessions/${own}`, { agent: 'echo' })).status).toBe(201);
    expect((await call('PUT /sessions/{id}', `/sessions/${own}`)).body.error.code).toBe('session_exists');
    expect((await call('PUT /sessions/{id}', '/sessions/not-a-uuid')).body.error.code).toBe('invalid_session_id');

    const page = await call('GET /sessions', '/sessions?limit=1');
    expect(page.status).toBe(200);
    expect(page.headers.get('x-next-cursor')).toBeTruthy();
    expect((await call('GET /sessions', '/sessions?limit=0')).status).toBe(422);

    expect((await call('GET /sessions/{id}', `/sessions/${id}`)).body.total_messages).toBe(2);
    expect((await call('GET /sessions/{id}', `/sessions/${randomUUID()}`)).status).toBe(404);
    expect((await call('GET /sessions/{id}', `/sessions/${id}?timeout=-1`)).status).toBe(422);
    expect((await call('GET /sessions/{id}/messages', `/sessions/${id}/messages`)).body).toHaveLength(2);
    expect((await call('GET /sessions/{id}/messages', `/sessions/${randomUUID()}/messages`)).status).toBe(404);

    const anonymous = await call('GET /sessions', '/sessions', undefined, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
  });

  it('messages: 202 (run and queued), 409 while running, 202 cancel, 200 long-poll; 404 on a missing session', async () => {
    const id = await newSession();
    const first = await call('POST /sessions/{id}/messages', `/sessions/${id}/messages`, { content: 'one' });
    expect(first.status).toBe(202);
    expect(first.body.queued).toBe(false);
    const busy = await call('POST /sessions/{id}/messages', `/sessions/${id}/messages`, { content: 'two' });
    expect(busy.body.error.code).toBe('session_running');
    const queued = await call('POST /sessions/{id}/messages', `/sessions/${id}/messages`, { content: 'two', if_busy: 'enqueue' });
    expect(queued.body.queued).toBe(true);

    const cancel = await call('POST /sessions/{id}/cancel', `/sessions/${id}/cancel`);
    expect(cancel.status).toBe(202);
    expect(cancel.body.cancelled_turn_id).toBe(first.body.turn_id);
    const done = await call('GET /sessions/{id}', `/sessions/${id}?wait=true&timeout=5`);
    expect(done.body).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: two' } });
    expect((await call('POST /sessions/{id}/cancel', `/sessions/${id}/cancel`)).body.cancelled_turn_id).toBeNull();

    expect((await call('POST /sessions/{id}/cancel', `/sessions/${randomUUID()}/cancel`)).status).toBe(404);
    expect((await call('POST /sessions/{id}/messages', `/sessions/${randomUUID()}/messages`, { content: 'x' })).status).toBe(404);
  });

  it('message errors: 422 (field, webhook URL), 415, 400, 413, 409 paused', async () => {
    const id = await newSession();
    const path = `/sessions/${id}/messages`;
    const op = 'POST /sessions/{id}/messages';
    const unknown = await call(op, path, { content: 'x', nope: 1 });
    expect(unknown.body.error).toMatchObject({ code: 'validation_failed', details: [{ path: 'body.nope' }] });
    const credentials = await call(op, path, { content: 'x', webhook: { url: 'http://user:pw@127.0.0.1:9/' } });
    expect(credentials.body.error.code).toBe('webhook_url_invalid');
    expect((await call(op, path, 'hello', { ...AUTH, 'content-type': 'text/plain' })).status).toBe(415);
    expect((await call(op, path, '{"content": ', AUTH)).status).toBe(400);
    expect((await call(op, path, { content: 'x'.repeat(5000) })).status).toBe(413);

    // Paused through the OpenHands surface: the native API answers 409 session_paused.
    const pause = await http(base, 'POST', `/api/conversations/${id}/pause`, undefined, { 'x-session-api-key': KEY });
    expect(pause.status).toBe(200);
    expect((await call(op, path, { content: 'x' })).body.error.code).toBe('session_paused');
  });

  it('webhooks: 200 delivery log, 202 redeliver, 409 while pending, 404s, 200 dead letters, 422', async () => {
    const id = await newSession({ webhook: { url: `${receiver.url}/ok` } });
    await call('POST /sessions/{id}/messages', `/sessions/${id}/messages`, { content: 'hook' });
    const deliveries = await waitUntil(
      async () => {
        const log = await http(base, 'GET', `/sessions/${id}/webhooks`, undefined, AUTH);
        return log.body.length === 1 && log.body[0].status === 'delivered' && log.body;
      },
      { what: 'the delivery to be delivered' },
    );
    const log = await call('GET /sessions/{id}/webhooks', `/sessions/${id}/webhooks`);
    expect(log.body).toEqual(deliveries);
    expect(log.body[0].attempts[0].status_code).toBe(200);

    hang = true; // the redelivery's attempt hangs, so it stays pending
    const redeliver = `/sessions/${id}/webhooks/${deliveries[0].id}/redeliver`;
    const again = await call('POST /sessions/{id}/webhooks/{delivery_id}/redeliver', redeliver);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ status: 'pending', redeliveries: 1 });
    expect((await call('POST /sessions/{id}/webhooks/{delivery_id}/redeliver', redeliver)).body.error.code).toBe('delivery_pending');
    const missing = await call('POST /sessions/{id}/webhooks/{delivery_id}/redeliver', `/sessions/${id}/webhooks/nope/redeliver`);
    expect(missing.body.error.code).toBe('delivery_not_found');
    expect((await call('GET /sessions/{id}/webhooks', `/sessions/${randomUUID()}/webhooks`)).status).toBe(404);

    // A receiver that always fails: two attempts (WEBHOOK_SCHEDULE 0,50ms), then a dead letter.
    const failing = await newSession();
    const turn = await call('POST /sessions/{id}/messages', `/sessions/${failing}/messages`, {
      content: 'fail',
      webhook: { url: `${receiver.url}/fail` },
    });
    await waitUntil(
      async () => (await http(base, 'GET', '/webhooks/dead-letters', undefined, AUTH)).body.some((d: any) => d.turn_id === turn.body.turn_id),
      { what: 'a dead letter' },
    );
    const dead = await call('GET /webhooks/dead-letters', '/webhooks/dead-letters?limit=10');
    expect(dead.body.find((d: any) => d.turn_id === turn.body.turn_id)).toMatchObject({ status: 'dead', attempts: [{}, {}] });
    expect((await call('GET /webhooks/dead-letters', '/webhooks/dead-letters?limit=0')).status).toBe(422);
  });

  it('events: 200 text/event-stream (read up to its first event), 404, 422 on a bad last_event_id', async () => {
    const id = await newSession();
    const controller = new AbortController();
    const res = await fetch(`${base}/sessions/${id}/events`, { headers: AUTH, signal: controller.signal });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toMatch(/^id: 0-0\nevent: status\n/);
    expect(spec.problems('GET /sessions/{id}/events', { status: res.status, headers: res.headers, body: text })).toEqual([]);
    expect((await call('GET /sessions/{id}/events', `/sessions/${randomUUID()}/events`)).status).toBe(404);
    expect((await call('GET /sessions/{id}/events', `/sessions/${id}/events?last_event_id=x`)).status).toBe(422);
  });

  it('resume: 200 GET with interrupts, 200 resume, 404 interrupt_not_found, 409 session_not_interrupted, 422', async () => {
    const id = await newSession();
    const ask = { echo: { interrupt: { type: 'tool_approval', payload: { tool: 'rm', arguments: { path: '/' } } } } };
    expect((await call('POST /sessions/{id}/messages', `/sessions/${id}/messages`, { content: 'go', user_params: ask })).status).toBe(202);
    const waiting = await call('GET /sessions/{id}', `/sessions/${id}?wait=true&timeout=5`);
    expect(waiting.body.status).toBe('interrupted');
    const interruptId = waiting.body.interrupts[0].interrupt_id;
    const resume = (body: unknown) => call('POST /sessions/{id}/resume', `/sessions/${id}/resume`, body);
    expect((await resume({ interrupt_id: 'other' })).body.error.code).toBe('interrupt_not_found');
    expect((await resume({})).status).toBe(422);
    const ok = await resume({ interrupt_id: interruptId, value: { approved: false } });
    expect(ok.status).toBe(200);
    expect((await call('GET /sessions/{id}', `/sessions/${id}?wait=true&timeout=5`)).body.status).toBe('idle');
    expect((await resume({ interrupt_id: interruptId })).body.error.code).toBe('session_not_interrupted');
  });

  it('DELETE answers 204, then 404', async () => {
    const id = await newSession();
    expect((await call('DELETE /sessions/{id}', `/sessions/${id}`)).status).toBe(204);
    expect((await call('DELETE /sessions/{id}', `/sessions/${id}`)).status).toBe(404);
  });

  it('503 session_limit_reached from an API process whose MAX_SESSIONS is reached', async () => {
    const capped = await baton.startApi({ MAX_SESSIONS: '1' });
    const res = await http(capped.url, 'POST', '/sessions', {}, AUTH);
    expect(spec.problems('POST /sessions', res)).toEqual([]);
    expect(res.body.error.code).toBe('session_limit_reached');
  });

  it('covered every documented operation and success status, and each kind of error', () => {
    const seenOps = new Set([...spec.seen].map((s) => s.split(' ').slice(0, 2).join(' ')));
    expect(spec.operations.filter((op) => !seenOps.has(op))).toEqual([]);
    expect(spec.responses.filter((r) => /\s2\d\d$/.test(r) && !spec.seen.has(r))).toEqual([]);
    const statuses = new Set([...spec.seen].map((s) => Number(s.split(' ')[2])));
    for (const status of [200, 201, 202, 204, 400, 401, 404, 409, 413, 415, 422, 503]) expect(statuses, String(status)).toContain(status);
  });
});
