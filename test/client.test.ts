import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BatonClient, BatonError, type StreamEvent, type StreamOptions } from '@baton/client';
import { WebhookVerificationError, verify } from '@baton/client/webhooks';
import { freePort, waitUntil } from '@baton/devtools';
import { quickstart } from '../examples/client/quickstart.ts';
import { Baton } from './support/baton.ts';
import { HeldAgent } from './support/held-agent.ts';
import { Receiver } from './support/receiver.ts';

/**
 * `@baton/client` against a real Baton (API and worker processes, API keys on, a
 * 1-second long-poll cap, a streaming echo agent): every call, its types and its errors
 * as BatonErrors.
 */

const KEY = 'key-client-e2e';
let baton: Baton;
let agent: HeldAgent;
let hooks: Receiver;
let client: BatonClient;

beforeAll(async () => {
  [agent, hooks] = await Promise.all([HeldAgent.start(), Receiver.start()]);
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { API_KEYS: KEY, WEBHOOK_ALLOW_PRIVATE: 'true', HTTP_AGENT_URL: agent.url },
    apiEnv: { LONG_POLL_MAX_S: '1' },
    // The echo agent streams its reply word by word over this time (delta events).
    workerEnv: { ECHO_DELAY_MS: '300' },
  });
  client = new BatonClient({ baseUrl: baton.url, apiKey: KEY });
});
afterAll(async () => {
  await baton?.stop();
  await Promise.all([agent?.close(), hooks?.close()]);
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The BatonError a call rejects with. */
async function failure(promise: Promise<unknown>): Promise<BatonError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BatonError);
  return err as BatonError;
}

describe('sessions and turns', () => {
  it('creates a session, sends a message, waits for the turn and reads the history', async () => {
    const session = await client.createSession();
    expect(session).toMatchObject({ status: 'idle', response: null, error: null, agent: 'echo', total_messages: 0 });
    expect(session.session_id).toMatch(UUID);

    const accepted = await client.sendMessage(session.session_id, 'Hello, SDK');
    expect(accepted).toMatchObject({ session_id: session.session_id, status: 'running', queued: false });
    expect(accepted.turn_id).toEqual(expect.any(String));

    const done = await client.waitForTurn(session.session_id, { timeoutS: 20 });
    expect(done).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: Hello, SDK' }, total_messages: 2 });
    expect(await client.messages(session.session_id)).toEqual([
      { role: 'user', content: 'Hello, SDK' },
      { role: 'assistant', content: 'echo: Hello, SDK' },
    ]);
    expect(await client.getSession(session.session_id)).toEqual(done);
  });

  it('creates with a chosen id and preloaded state (PUT), and a second create is 409 session_exists', async () => {
    const id = randomUUID();
    const created = await client.createSession({ sessionId: id, state: [{ role: 'system', content: 'be brief' }] });
    expect(created).toMatchObject({ session_id: id, total_messages: 1 });
    const err = await failure(client.createSession({ sessionId: id }));
    expect(err).toMatchObject({ status: 409, code: 'session_exists' });
  });

  it('sends a full message body, with if_busy enqueue, and waits until the inbox has run', async () => {
    const { session_id: id } = await client.createSession({ agent: 'http' });
    await client.sendMessage(id, { content: 'first', user_params: { n: 1 } });
    await waitUntil(() => agent.held.size === 1, { what: 'the first turn to reach the agent' });
    const second = await client.sendMessage(id, 'second', { ifBusy: 'enqueue' });
    expect(second.queued).toBe(true);
    expect((await client.getSession(id)).pending_messages).toBe(1);

    agent.release('one');
    await waitUntil(() => agent.held.size === 1, { what: 'the queued turn to reach the agent' });
    agent.release('two');
    const done = await client.waitForTurn(id, { timeoutS: 20 });
    expect(done).toMatchObject({ status: 'idle', response: { content: 'two' }, pending_messages: 0 });
    expect((await client.messages(id)).map((m) => m.content)).toEqual(['first', 'one', 'second', 'two']);
  });

  it('waitForTurn long-polls again after each server-side timeout until the turn ends', async () => {
    const longPolls: string[] = [];
    // The global fetch, watched: the agent answers once the client has long-polled twice.
    const watched = new BatonClient({
      baseUrl: baton.url,
      apiKey: KEY,
      fetch: (input, init) => {
        const url = String(input);
        if (url.includes('wait=true')) {
          longPolls.push(url);
          if (longPolls.length === 2) agent.release('finally');
        }
        return fetch(input, init);
      },
    });
    const { session_id: id } = await watched.createSession({ agent: 'http' });
    await watched.sendMessage(id, 'slow one');
    await waitUntil(() => agent.held.size === 1, { what: 'the turn to reach the agent' });

    const done = await watched.waitForTurn(id, { timeoutS: 20 });
    expect(done).toMatchObject({ status: 'idle', response: { content: 'finally' } });
    expect(longPolls.length).toBeGreaterThanOrEqual(2);
    expect(longPolls[0]).toContain(`/sessions/${id}?wait=true&timeout=20`);
  });

  it('a busy session: 409 session_running, waitForTurn answers running at its timeout, cancel ends the turn', async () => {
    const { session_id: id } = await client.createSession({ agent: 'http' });
    const { turn_id } = await client.sendMessage(id, 'never answered');
    await waitUntil(() => agent.held.size === 1, { what: 'the turn to reach the agent' });

    const busy = await failure(client.sendMessage(id, 'again'));
    expect(busy).toMatchObject({ status: 409, code: 'session_running', message: expect.stringMatching(/^Session is running; /) });

    const started = Date.now();
    const still = await client.waitForTurn(id, { timeoutS: 1.5 });
    expect(still.status).toBe('running');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);

    expect(await client.cancel(id)).toEqual({ session_id: id, cancelled_turn_id: turn_id });
    const ended = await client.waitForTurn(id, { timeoutS: 20 });
    expect(ended).toMatchObject({ status: 'idle', error: 'Turn cancelled' });
    expect(await client.cancel(id)).toEqual({ session_id: id, cancelled_turn_id: null });
  });

  it('waitForTurn rejects when its signal aborts', async () => {
    const { session_id: id } = await client.createSession({ agent: 'http' });
    await client.sendMessage(id, 'held');
    await waitUntil(() => agent.held.size === 1, { what: 'the turn to reach the agent' });
    const controller = new AbortController();
    const waiting = client.waitForTurn(id, { timeoutS: 20, signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await client.cancel(id);
    await client.waitForTurn(id, { timeoutS: 20 });
  });

  it('pages through sessions with limit and nextCursor (X-Next-Cursor), oldest first', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await client.createSession()).session_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<BatonClient['listSessions']>> = await client.listSessions({ limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const item of page.items) {
        expect(item).toEqual({
          session_id: expect.stringMatching(UUID),
          total_messages: expect.any(Number),
          status: expect.any(String),
          agent: expect.any(String),
          created_at: expect.any(String),
          updated_at: expect.any(String),
        });
        seen.push(item.session_id);
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen.filter((id) => mine.includes(id))).toEqual(mine);
    expect(new Set(seen).size).toBe(seen.length);

    const all: string[] = [];
    for await (const s of client.allSessions({ pageSize: 3 })) all.push(s.session_id);
    expect(all).toEqual(seen);
  });

  it('sendMessage under the same idempotencyKey twice: the same turn, the message stored once', async () => {
    const { session_id: id } = await client.createSession();
    const first = await client.sendMessage(id, 'exactly once', { idempotencyKey: `k-${id}` });
    const again = await client.sendMessage(id, 'exactly once', { idempotencyKey: `k-${id}` });
    expect(again).toEqual(first);
    await client.waitForTurn(id);
    expect(await client.messages(id)).toEqual([
      { role: 'user', content: 'exactly once' },
      { role: 'assistant', content: 'echo: exactly once' },
    ]);
  });

  it('deleteSession: 204, then the session is 404 session_not_found everywhere', async () => {
    const { session_id: id } = await client.createSession();
    await client.deleteSession(id);
    const calls = [() => client.getSession(id), () => client.messages(id), () => client.sendMessage(id, 'x'), () => client.deleteSession(id)];
    for (const call of calls) {
      expect(await failure(call())).toMatchObject({ status: 404, code: 'session_not_found' });
    }
  });
});

describe('errors', () => {
  it('carry status, code, message and details from the error body', async () => {
    const { session_id: id } = await client.createSession();
    const err = await failure(client.sendMessage(id, { content: 'x', webhook: { url: 'ftp://example.com/hook' } }));
    expect(err).toMatchObject({ name: 'BatonError', status: 422, code: 'validation_failed' });
    expect(err.message).toContain('body.webhook.url');
    expect(err.details).toEqual([expect.objectContaining({ path: 'body.webhook.url' })]);

    const missing = await failure(client.getSession(randomUUID()));
    expect(missing).toMatchObject({ status: 404, code: 'session_not_found' });
    expect(missing.message).toMatch(/^Session ".+" not found$/);
  });

  it('401 unauthorized without the API key', async () => {
    const anonymous = new BatonClient({ baseUrl: baton.url });
    expect(await failure(anonymous.listSessions())).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('status 0 connection_failed when nothing listens', async () => {
    const nowhere = new BatonClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    const err = await failure(nowhere.getSession(randomUUID()));
    expect(err).toMatchObject({ status: 0, code: 'connection_failed' });
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe('webhooks', () => {
  it('verify() accepts a real signed delivery and rejects a tampered one; deliveries() and redeliver()', async () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const { session_id: id } = await client.createSession({ webhook: { url: `${hooks.url}/hook`, secret } });
    const { turn_id } = await client.sendMessage(id, 'hook me');
    const [request] = await hooks.waitFor(1);

    const verified = verify(request!.body, request!.headers, secret);
    expect(verified.id).toBe(`msg_${turn_id}`);
    expect(verified.payload).toMatchObject({
      type: 'turn.completed',
      session_id: id,
      turn_id,
      status: 'idle',
      response: { role: 'assistant', content: 'echo: hook me' },
    });
    // Fetch-style headers, and a rotation list that holds the secret, work too.
    expect(verify(request!.body, new Headers(request!.headers), [`whsec_${randomBytes(24).toString('base64')}`, secret]).id).toBe(verified.id);

    const tamper = () => verify(request!.body.replace('hook me', 'hook you'), request!.headers, secret);
    expect(tamper).toThrow(WebhookVerificationError);
    expect(tamper).toThrow(expect.objectContaining({ code: 'bad_signature' }));

    const delivered = await waitUntil(
      async () => (await client.deliveries(id)).find((d) => d.turn_id === turn_id && d.status === 'delivered'),
      { what: 'the delivery to be logged as delivered' },
    );
    expect(delivered).toMatchObject({ target: 'session', url: `${hooks.url}/hook`, type: 'turn.completed', webhook_id: `msg_${turn_id}` });
    expect(delivered.attempts).toEqual([expect.objectContaining({ status_code: 200 })]);

    const again = await client.redeliver(id, delivered.id);
    expect(again).toMatchObject({ id: delivered.id, redeliveries: 1 });
    const [, second] = await hooks.waitFor(2);
    expect(verify(second!.body, second!.headers, secret)).toMatchObject({ id: verified.id, payload: { turn_id } });

    const unknown = await failure(client.redeliver(id, 'no-such-delivery'));
    expect(unknown.status).toBe(404);
  });
});

/** Follows a session's stream in the background, collecting its events. */
function follow(source: BatonClient, id: string, options: StreamOptions = {}) {
  const controller = new AbortController();
  const events: StreamEvent[] = [];
  let opened = 0;
  const done = (async () => {
    for await (const event of source.stream(id, { ...options, signal: controller.signal, onOpen: () => opened++ })) {
      events.push(event);
    }
  })();
  return { events, done, opened: () => opened, stop: () => controller.abort() };
}

/** Orders Redis stream ids `<ms>-<seq>`. */
const streamIdLess = (a: string, b: string) => {
  const [ams, aseq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bms, bseq] = b.split('-').map(BigInt) as [bigint, bigint];
  return ams < bms || (ams === bms && aseq < bseq);
};

function expectIncreasingIds(events: StreamEvent[]): void {
  const ids = events.map((e) => e.id as string);
  ids.slice(1).forEach((id, i) => expect(streamIdLess(ids[i] as string, id), `${ids[i]} < ${id}`).toBe(true));
}

/** The events of one turn: running, its reply deltas, its message, idle. */
function turnEvents(events: StreamEvent[], turnId: string): StreamEvent[] {
  return events.filter((e) => e.event !== 'deleted' && e.data.turn_id === turnId);
}

describe('stream', () => {
  it('streams a turn: a snapshot, running, reply deltas, the message, idle; ids increasing', async () => {
    const { session_id: id } = await client.createSession();
    const stream = follow(client, id);
    await waitUntil(() => stream.events.length >= 1, { what: 'the snapshot' });
    expect(stream.events[0]).toMatchObject({ event: 'status', data: { status: 'idle', turn_id: null, snapshot: true } });

    const { turn_id } = await client.sendMessage(id, 'stream me please');
    await waitUntil(() => stream.events.some((e) => e.event === 'status' && e.data.status === 'idle' && e.data.turn_id === turn_id), {
      what: 'the turn to end on the stream',
    });
    stream.stop();
    await stream.done;

    const turn = turnEvents(stream.events, turn_id);
    expect(turn[0]).toMatchObject({ event: 'status', data: { status: 'running' } });
    expect(turn.at(-2)).toMatchObject({ event: 'message', data: { message: { role: 'assistant', content: 'echo: stream me please' } } });
    expect(turn.at(-1)).toMatchObject({ event: 'status', data: { status: 'idle' } });
    const deltas = turn.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThanOrEqual(1);
    expect(deltas.map((e) => (e.event === 'delta' ? e.data.content : '')).join('')).toBe('echo: stream me please');
    expectIncreasingIds(stream.events);
  });

  it('resumes after lastEventId with the same events, and ends by itself after deleted', async () => {
    const { session_id: id } = await client.createSession();
    const first = follow(client, id);
    await waitUntil(() => first.opened() === 1, { what: 'the stream to open' });
    const { turn_id } = await client.sendMessage(id, 'once more');
    await waitUntil(() => first.events.some((e) => e.event === 'message'), { what: 'the reply on the stream' });

    const running = first.events.find((e) => e.event === 'status' && e.data.status === 'running');
    const resumed = follow(client, id, { lastEventId: running!.id });
    await waitUntil(() => resumed.events.some((e) => e.event === 'message'), { what: 'the reply on the resumed stream' });
    await client.deleteSession(id);
    await Promise.all([first.done, resumed.done]); // both end on `deleted`, without being stopped

    const after = first.events.slice(first.events.indexOf(running!) + 1);
    expect(resumed.events).toEqual(after);
    expect(turnEvents(after, turn_id).length).toBe(after.length - 1);
    expect(after.at(-1)).toMatchObject({ event: 'deleted', data: { session_id: id } });
  });

  it('reopens a dropped connection with Last-Event-ID: no event lost or repeated', async () => {
    const requests: { lastEventId: string | null }[] = [];
    // Real fetch; the first events connection breaks after its first chunk holding a delta.
    const flaky = new BatonClient({
      baseUrl: baton.url,
      apiKey: KEY,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (!String(input).endsWith('/events')) return res;
        requests.push({ lastEventId: new Headers(init?.headers).get('last-event-id') });
        if (requests.length > 1 || !res.body) return res;
        const reader = res.body.getReader();
        const broken = new ReadableStream<Uint8Array>({
          async pull(controller) {
            const { done, value } = await reader.read();
            if (done) return controller.close();
            controller.enqueue(value);
            if (new TextDecoder().decode(value).includes('event: delta')) {
              await reader.cancel();
              controller.error(new TypeError('terminated'));
            }
          },
        });
        return new Response(broken, { status: res.status, headers: res.headers });
      },
    });
    const { session_id: id } = await client.createSession();
    const stream = follow(flaky, id, { reconnectDelayMs: 50 });
    await waitUntil(() => stream.opened() === 1, { what: 'the stream to open' });
    const { turn_id } = await client.sendMessage(id, 'through a flaky network');
    await waitUntil(() => stream.events.some((e) => e.event === 'status' && e.data.status === 'idle' && e.data.turn_id === turn_id), {
      what: 'the turn to end on the stream',
    });
    stream.stop();
    await stream.done;

    expect(stream.opened()).toBe(2);
    expect(requests).toHaveLength(2);
    expect(requests[0]?.lastEventId).toBeNull();
    expect(requests[1]?.lastEventId).toEqual(expect.stringMatching(/^\d+-\d+$/));
    expectIncreasingIds(stream.events);
    const deltas = turnEvents(stream.events, turn_id).filter((e) => e.event === 'delta');
    expect(deltas.map((e) => (e.event === 'delta' ? e.data.content : '')).join('')).toBe('echo: through a flaky network');
  });

  it('a missing session is 404 session_not_found', async () => {
    const err = await failure(follow(client, randomUUID()).done);
    expect(err).toMatchObject({ status: 404, code: 'session_not_found' });
  });
});

describe('examples/client/quickstart.ts', () => {
  it('runs against this Baton and returns the echo reply', async () => {
    const lines: string[] = [];
    expect(await quickstart(client, 'from the example', (line) => lines.push(line))).toBe('echo: from the example');
    expect(lines.slice(1)).toEqual(['reply: echo: from the example', '  user: from the example', '  assistant: echo: from the example']);
  });
});
