import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from './client.ts';
import { BatonError } from './errors.ts';

/**
 * How `sendMessage` retries, against a real local HTTP server that plays the API's
 * answers one by one (the end-to-end suite, test/client.test.ts, runs the client against
 * Baton itself).
 */
type Answer = (req: IncomingMessage, res: ServerResponse) => void;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
};
const accepted = json(202, { session_id: 's1', status: 'running', turn_id: 't1', queued: false }, { location: '/sessions/s1' });
const unavailable = json(503, { error: { code: 'service_unavailable', message: 'Redis is away' } }, { 'retry-after': '0' });
/** The connection is closed with no answer, as when the API process dies mid-request. */
const noAnswer: Answer = (req) => req.socket.destroy();

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  if (server) await once(server, 'close');
  server = undefined;
});

/** Serves `answers` in order (the last one again once they run out); returns the client and the keys each request carried. */
async function api(...answers: Answer[]): Promise<{ client: BatonClient; keys: (string | undefined)[]; requests: Seen[] }> {
  const keys: (string | undefined)[] = [];
  const requests: Seen[] = [];
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    requests.push({ method: req.method!, url: req.url!, body: body ? JSON.parse(body) : undefined });
    keys.push(req.headers['idempotency-key'] as string | undefined);
    answers[Math.min(keys.length - 1, answers.length - 1)]!(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { client: new BatonClient({ baseUrl: `http://127.0.0.1:${port}` }), keys, requests };
}

interface Seen {
  method: string;
  url: string;
  body: unknown;
}

async function rejection(promise: Promise<unknown>): Promise<BatonError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BatonError);
  return err as BatonError;
}

describe('sendMessage', () => {
  it('sends an Idempotency-Key, a new one per call', async () => {
    const { client, keys } = await api(accepted);
    await client.sendMessage('s1', 'one');
    await client.sendMessage('s1', 'two');
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).not.toBe(keys[0]);
  });

  it('tries again under the same key after a 503, and answers the 202', async () => {
    const { client, keys } = await api(unavailable, accepted);
    expect(await client.sendMessage('s1', 'hello')).toMatchObject({ turn_id: 't1' });
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it('tries again under the same key when the connection closes with no answer', async () => {
    const { client, keys } = await api(noAnswer, accepted);
    expect(await client.sendMessage('s1', 'hello', { idempotencyKey: 'my-key' })).toMatchObject({ turn_id: 't1' });
    expect(keys).toEqual(['my-key', 'my-key']);
  });

  it('waits out 409 idempotency_key_in_flight, as its Retry-After says', async () => {
    const inFlight = json(409, { error: { code: 'idempotency_key_in_flight', message: 'still running' } }, { 'retry-after': '0' });
    const { client, keys } = await api(inFlight, accepted);
    expect(await client.sendMessage('s1', 'hello')).toMatchObject({ turn_id: 't1' });
    expect(keys).toHaveLength(2);
  });

  it('gives up after `retries` more tries, with the last answer as the error', async () => {
    const { client, keys } = await api(unavailable);
    const err = await rejection(client.sendMessage('s1', 'hello', { retries: 3 }));
    expect(err).toMatchObject({ status: 503, code: 'service_unavailable', retryAfterS: 0 });
    expect(keys).toHaveLength(4);
    expect(new Set(keys).size).toBe(1);
  });

  it('does not try again when the answer is final (409 session_running, 422)', async () => {
    const busy = json(409, { error: { code: 'session_running', message: 'Session is running' } });
    const { client, keys } = await api(busy, accepted);
    expect(await rejection(client.sendMessage('s1', 'hello'))).toMatchObject({ status: 409, code: 'session_running' });
    expect(keys).toHaveLength(1);
  });

  it('stops waiting between tries when the signal aborts', async () => {
    const slow = json(503, { error: { code: 'service_unavailable', message: 'Redis is away' } }, { 'retry-after': '60' });
    const { client, keys } = await api(slow, accepted);
    const controller = new AbortController();
    const sent = client.sendMessage('s1', 'hello', { signal: controller.signal });
    const outcome = sent.then(
      () => 'resolved',
      (err: unknown) => (err as Error).name,
    );
    // Abort once the first answer (with its 60 s Retry-After) is in.
    await expect.poll(() => keys.length).toBe(1);
    controller.abort();
    expect(await outcome).toBe('AbortError');
    expect(keys).toHaveLength(1);
  });
});

describe('interrupts', () => {
  const interrupts = [{ interrupt_id: 'i1', type: 'tool_approval', payload: { tool: 'refund', amount: 30 } }];
  const session = (status: string, extra: object = {}) =>
    json(200, { session_id: 's1', status, response: null, error: null, agent: 'echo', total_messages: 2, pending_messages: 0, ...extra });

  it('waitForTurn ends at `interrupted` (the turn waits for a person) and answers its interrupts', async () => {
    const { client, requests } = await api(session('running'), session('interrupted', { interrupts }), session('idle'));
    const view = await client.waitForTurn('s1', { timeoutS: 300, pollS: 10 });
    expect(view).toMatchObject({ status: 'interrupted', interrupts });
    expect(requests.map((r) => r.url)).toEqual(['/sessions/s1?wait=true&timeout=10', '/sessions/s1?wait=true&timeout=10']);
  });

  it('resume POSTs {interrupt_id, value} to /sessions/{id}/resume under an Idempotency-Key, again after a 503', async () => {
    const resumed = json(200, { session_id: 's1', status: 'running' });
    const { client, keys, requests } = await api(unavailable, resumed);
    const value = { approved: false, reason: 'too much' };
    expect(await client.resume('s1', { interruptId: 'i1', value })).toEqual({ session_id: 's1', status: 'running' });
    expect(requests).toEqual([
      { method: 'POST', url: '/sessions/s1/resume', body: { interrupt_id: 'i1', value } },
      { method: 'POST', url: '/sessions/s1/resume', body: { interrupt_id: 'i1', value } },
    ]);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
  });

  it('resume: 409 session_not_interrupted and 404 interrupt_not_found are BatonErrors, not retried', async () => {
    const notInterrupted = json(409, { error: { code: 'session_not_interrupted', message: 'Session is idle, not interrupted' } });
    const first = await api(notInterrupted);
    expect(await rejection(first.client.resume('s1', { interruptId: 'i1', value: 'x' }))).toMatchObject({ status: 409, code: 'session_not_interrupted' });
    expect(first.keys).toHaveLength(1);
    server?.close();
    await once(server!, 'close');
    const unknown = json(404, { error: { code: 'interrupt_not_found', message: 'Interrupt "i9" not found' } });
    const second = await api(unknown);
    expect(await rejection(second.client.resume('s1', { interruptId: 'i9', value: 'x' }))).toMatchObject({ status: 404, code: 'interrupt_not_found' });
  });
});
