import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisServer, waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { SseClient, type SseEvent } from './support/sse.ts';

/**
 * `GET /sessions/{id}/events` (Server-Sent Events) on two API processes sharing one
 * Redis: a turn's status, deltas and reply in order under increasing ids, and a client
 * resuming with Last-Event-ID on the other process gets exactly what it had not seen.
 * The echo agent streams its reply word by word over ECHO_DELAY_MS.
 */
const KEY = 'stream-test-key';
const AUTH = { authorization: `Bearer ${KEY}` };
let baton: Baton;
const open: SseClient[] = [];

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    apis: 2,
    workers: 1,
    apiEnv: { API_KEYS: KEY, SSE_HEARTBEAT_S: '0.5' },
    workerEnv: { ECHO_DELAY_MS: '500' },
  });
});
afterAll(async () => {
  for (const client of open) client.close();
  await baton?.stop();
});

const api = (i: number) => baton.apis[i]!.url;

async function createSession(): Promise<string> {
  const res = await http(api(0), 'POST', '/sessions', {}, AUTH);
  expect(res.status).toBe(201);
  return res.body.session_id;
}

async function send(id: string, content: string): Promise<string> {
  const res = await http(api(0), 'POST', `/sessions/${id}/messages`, { content }, AUTH);
  expect(res.status).toBe(202);
  return res.body.turn_id;
}

async function events(base: string, id: string, headers: Record<string, string> = {}, query = ''): Promise<SseClient> {
  const client = await SseClient.open(`${base}/sessions/${id}/events${query}`, { ...AUTH, ...headers });
  open.push(client);
  return client;
}

const turnEnded = (e: SseEvent) => e.event === 'status' && e.data.status !== 'running';

/** Stream ids, `<ms>-<seq>`, strictly increasing. */
function expectIncreasingIds(list: SseEvent[]): void {
  const ids = list.map((e) => {
    expect(e.id).toMatch(/^\d+-\d+$/);
    const [ms, seq] = (e.id as string).split('-').map(BigInt) as [bigint, bigint];
    return { ms, seq };
  });
  for (let i = 1; i < ids.length; i++) {
    const [a, b] = [ids[i - 1]!, ids[i]!];
    expect(a.ms < b.ms || (a.ms === b.ms && a.seq < b.seq), `${list[i - 1]!.id} < ${list[i]!.id}`).toBe(true);
  }
}

describe('GET /sessions/{id}/events', () => {
  it('streams a turn: status running, deltas, message, status idle, under strictly increasing ids', async () => {
    const id = await createSession();
    const client = await events(api(0), id);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(client.headers.get('cache-control')).toContain('no-cache');
    const snapshot = await client.next();
    expect(snapshot).toMatchObject({ event: 'status', data: { status: 'idle', turn_id: null, snapshot: true } });

    const turnId = await send(id, 'one two three');
    const turn = await client.until(turnEnded);
    const deltas = turn.filter((e) => e.event === 'delta');
    expect(turn.map((e) => e.event)).toEqual(['status', ...deltas.map(() => 'delta'), 'message', 'status']);
    expect(turn[0]!.data).toEqual({ status: 'running', turn_id: turnId });
    // Word by word over 500 ms, written at most every 50 ms: several deltas.
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    let text = '';
    for (const delta of deltas) {
      expect(delta.data.turn_id).toBe(turnId);
      expect(delta.data.offset).toBe(text.length);
      text += delta.data.content;
    }
    expect(text).toBe('echo: one two three');
    expect(turn.at(-2)!.data).toEqual({ turn_id: turnId, message: { role: 'assistant', content: 'echo: one two three' } });
    expect(turn.at(-1)!.data).toEqual({ status: 'idle', turn_id: turnId });
    expectIncreasingIds([snapshot!, ...turn]);
  });

  it('a client resuming with Last-Event-ID on the other API process gets exactly the events after it', async () => {
    const id = await createSession();
    // `reference` stays connected to process 0 for the whole turn.
    const reference = await events(api(0), id);
    const client = await events(api(0), id);
    const [refSnapshot, snapshot] = [await reference.next(), await client.next()];
    expect(snapshot).toEqual(refSnapshot);

    await send(id, 'a b c d e f g h');
    // Drop the connection mid-turn, after the first delta, and resume on process 1.
    const before = await client.until((e) => e.event === 'delta');
    client.close();
    const resumed = await events(api(1), id, { 'last-event-id': before.at(-1)!.id as string });
    const after = await resumed.until(turnEnded);
    const all = await reference.until(turnEnded);
    expect([...before, ...after]).toEqual(all);
    expect(after.length).toBeGreaterThan(0);
    expectIncreasingIds([snapshot!, ...before, ...after]);

    // The same with ?last_event_id= (the header wins when both are given), once the turn is over.
    for (let i = 0; i < all.length - 1; i++) {
      const replay = await events(api(1), id, {}, `?last_event_id=${all[i]!.id}`);
      expect(await replay.until(turnEnded)).toEqual(all.slice(i + 1));
      replay.close();
    }
    const both = await events(api(1), id, { 'last-event-id': all.at(-2)!.id as string }, `?last_event_id=${all[0]!.id}`);
    expect(await both.next()).toEqual(all.at(-1));
    both.close();
  });

  it('ends the stream with a `deleted` event when the session is deleted, even mid-turn', async () => {
    const id = await createSession();
    const onOther = await events(api(1), id);
    const client = await events(api(0), id);
    await Promise.all([client.next(), onOther.next()]);
    await send(id, 'soon gone');
    await client.until((e) => e.event === 'status' && e.data.status === 'running');
    expect((await http(api(0), 'DELETE', `/sessions/${id}`, undefined, AUTH)).status).toBe(204);
    for (const c of [client, onOther]) {
      const rest = await c.until((e) => e.event === 'deleted');
      expect(rest.at(-1)).toEqual({ id: undefined, event: 'deleted', data: { session_id: id } });
      expect(await c.next()).toBeNull(); // the server ended the stream
    }
    // The session is gone: no stream to resume.
    const again = await events(api(1), id, { 'last-event-id': '1-0' });
    expect(again.status).toBe(404);
  });

  it('sends heartbeat comments on an idle stream', async () => {
    const id = await createSession();
    const client = await events(api(1), id);
    await client.next();
    expect(await client.comment(5_000)).toBe('ping');
    expect(await client.comment(5_000)).toBe('ping');
  });

  it('answers 404 for unknown sessions, 422 for a malformed Last-Event-ID, 401 without a key, 405 for other methods', async () => {
    const unknown = await events(api(0), '0b7e6a43-5d0e-4b8c-9a51-3f2d2c1e0f99');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('session_not_found');
    expect((await events(api(0), 'not-a-session')).status).toBe(404);

    const id = await createSession();
    const bad = await events(api(0), id, { 'last-event-id': 'yesterday' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details).toEqual([{ path: 'headers.last-event-id', message: expect.any(String) }]);
    const badQuery = await events(api(0), id, {}, '?last_event_id=1-2-3');
    expect(badQuery.status).toBe(422);
    expect(badQuery.body.error.details[0].path).toBe('query.last_event_id');
    // Out of the 64-bit range: the same 422 in either form, never a silent fresh start.
    const huge = '18446744073709551616-0';
    const hugeHeader = await events(api(0), id, { 'last-event-id': huge });
    expect(hugeHeader.status).toBe(422);
    expect(hugeHeader.body.error.details).toEqual([{ path: 'headers.last-event-id', message: expect.any(String) }]);
    const hugeQuery = await events(api(0), id, {}, `?last_event_id=${huge}`);
    expect(hugeQuery.status).toBe(422);
    expect(hugeQuery.body.error.details).toEqual([{ path: 'query.last_event_id', message: expect.any(String) }]);

    const anonymous = await SseClient.open(`${api(0)}/sessions/${id}/events`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');

    const post = await http(api(0), 'POST', `/sessions/${id}/events`, {}, AUTH);
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });
});

describe('many streams on one API process', () => {
  const STREAMS = 200;
  let redis: RedisServer;
  let admin: Redis;
  let own: Baton;

  beforeAll(async () => {
    // A Redis of its own, so the connection count is this API's alone.
    redis = await RedisServer.start();
    admin = new Redis(redis.url);
    own = await Baton.start({ redisUrl: redis.url, workers: 0 });
  });
  afterAll(async () => {
    await own?.stop();
    admin?.disconnect();
    await redis?.dispose();
  });

  const connections = async () =>
    String(await admin.client('LIST'))
      .split('\n')
      .filter((line) => / name=baton-api/.test(line)).length;

  it(`${STREAMS} open streams share the process's one subscriber connection, and each is woken`, async () => {
    const ids = await Promise.all(Array.from({ length: STREAMS }, async () => (await http(own.url, 'POST', '/sessions', {})).body.session_id as string));
    const before = await connections();
    const clients = await Promise.all(ids.map((id) => SseClient.open(`${own.url}/sessions/${id}/events`)));
    open.push(...clients);
    await Promise.all(clients.map((c) => c.next()));
    const channels = async () => ((await admin.pubsub('CHANNELS', `${own.prefix}:sess:*:stream`)) as string[]).length;
    expect(await channels()).toBe(STREAMS);
    expect(await connections()).toBe(before);

    // No worker: each turn just starts, and its stream hears of it.
    const turns = await Promise.all(ids.map(async (id) => (await http(own.url, 'POST', `/sessions/${id}/messages`, { content: 'x' })).body.turn_id));
    const firsts = await Promise.all(clients.map((c) => c.next()));
    firsts.forEach((event, i) => expect(event).toMatchObject({ event: 'status', data: { status: 'running', turn_id: turns[i] } }));

    for (const c of clients) c.close();
    await waitUntil(async () => (await channels()) === 0, { what: 'the stream channels to be released' });
  });
});
