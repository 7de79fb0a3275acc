import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';
import { HeldAgent } from './support/held-agent.ts';
import { WsProbe, eventText } from './support/ws-probe.ts';

/**
 * `/sockets/events/{conversation_id}`: the OpenHands agent server's event WebSocket,
 * driven with a raw `ws` client (auth, close codes, resend modes, frames as messages,
 * reconnecting to another API process, slow clients, shutdown).
 */

let baton: Baton; // two API processes, API keys k1 and k2, quick echo turns (and held ones)
let agent: HeldAgent;
let base: string;
const K1 = { 'X-Session-API-Key': 'k1' };

beforeAll(async () => {
  agent = await HeldAgent.start();
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    apis: 2,
    env: { ECHO_DELAY_MS: '50', HTTP_AGENT_URL: agent.url },
    // Sockets re-read at each heartbeat too: a long one shows that changes arrive without it.
    apiEnv: { API_KEYS: 'k1,k2', SSE_HEARTBEAT_S: '60' },
  });
  base = baton.apis[0]!.url;
});
afterAll(async () => {
  await baton?.stop();
  await agent?.close();
});

async function create(headers = K1, on = base): Promise<string> {
  const res = await http(on, 'POST', '/api/conversations', {}, headers);
  expect(res.status).toBe(201);
  return res.body.id;
}

async function say(id: string, text: string, run = true, headers = K1): Promise<void> {
  const res = await http(base, 'POST', `/api/conversations/${id}/events`, { role: 'user', content: [{ type: 'text', text }], run }, headers);
  expect(res.status).toBe(200);
}

async function search(id: string, headers = K1): Promise<any[]> {
  const res = await http(base, 'GET', `/api/conversations/${id}/events/search`, undefined, headers);
  expect(res.status).toBe(200);
  return res.body.items;
}

async function finished(id: string, headers = K1): Promise<void> {
  await waitUntil(async () => (await http(base, 'GET', `/api/conversations/${id}`, undefined, headers)).body.execution_status === 'finished', {
    timeoutMs: 15_000,
    what: 'finished',
  });
}

const isReply = (text: string) => (f: any) => f.kind === 'MessageEvent' && f.source === 'agent' && eventText(f) === `echo: ${text}`;

describe('auth and close codes', () => {
  it('a wrong key in the query or the X-Session-API-Key header closes with 4001', async () => {
    const id = await create();
    expect((await WsProbe.open(base, id, '?session_api_key=nope').closed).code).toBe(4001);
    expect((await WsProbe.open(base, id, '', { 'X-Session-API-Key': 'nope' }).closed).code).toBe(4001);
  });

  it('without a key in the URL or headers, the first frame must be {"type": "auth", "session_api_key": …}', async () => {
    const id = await create();
    const bad = WsProbe.open(base, id);
    await bad.opened();
    bad.send({ type: 'auth', session_api_key: 'nope' });
    expect((await bad.closed).code).toBe(4001);

    const notJson = WsProbe.open(base, id);
    await notJson.opened();
    notJson.send('hello');
    expect((await notJson.closed).code).toBe(4001);

    const good = WsProbe.open(base, id);
    await good.opened();
    good.send({ type: 'auth', session_api_key: 'k1' });
    const first = await good.waitFor((f) => f.kind === 'ConversationStateUpdateEvent', 'the full state');
    expect(first).toMatchObject({ key: 'full_state', source: 'environment', value: { id, execution_status: 'idle' } });
    expect(good.frames[0]).toBe(first);
    await good.close();
  });

  it('an unknown conversation, or another key\'s, closes with 4004; a malformed id with 1008', async () => {
    const id = await create();
    expect((await WsProbe.open(base, crypto.randomUUID(), '?session_api_key=k1').closed).code).toBe(4004);
    expect((await WsProbe.open(base, id, '?session_api_key=k2').closed).code).toBe(4004);
    expect((await WsProbe.open(base, 'not-a-uuid', '?session_api_key=k1').closed).code).toBe(1008);
    expect((await WsProbe.open(base, id, '?session_api_key=k1&resend_mode=some').closed).code).toBe(1008);
  });
});

describe('events', () => {
  it('sends the full state, then each new event exactly as events/search has it, and each execution status change', async () => {
    const id = await create();
    const probe = WsProbe.open(base, id, '', K1);
    await probe.waitFor((f) => f.key === 'full_state', 'the full state');
    await say(id, 'one');
    await probe.waitFor(isReply('one'), 'the reply');
    await probe.waitFor((f) => f.key === 'full_state' && f.value.execution_status === 'finished', 'the final state');
    expect(probe.events).toEqual(await search(id));
    expect(probe.statuses).toEqual(['running', 'finished']);
    // A message added without running shows at once too.
    await say(id, 'quiet', false);
    await probe.waitFor((f) => eventText(f) === 'quiet', 'the quiet message');
    expect(probe.events).toEqual(await search(id));
    await probe.close();
  });

  it('a message queued behind a running turn shows at once, and runs when that turn ends', async () => {
    const id = (await http(base, 'POST', '/sessions', { agent: 'http' }, { authorization: 'Bearer k1' })).body.session_id as string;
    const probe = WsProbe.open(base, id, '', K1);
    await probe.waitFor((f) => f.key === 'full_state', 'the full state');
    const before = agent.received;
    await say(id, 'first');
    await waitUntil(() => agent.received > before, { what: 'the first turn to reach the agent' });
    await say(id, 'second');
    await probe.waitFor((f) => eventText(f) === 'second', 'the queued message');
    expect(agent.received).toBe(before + 1);
    expect(probe.statuses).toEqual(['running']);
    agent.release('one');
    await waitUntil(() => agent.received > before + 1, { what: 'the second turn' });
    agent.release('two');
    await probe.waitFor((f) => f.source === 'agent' && eventText(f) === 'two', 'the second reply');
    await probe.waitFor((f) => f.key === 'execution_status' && f.value === 'finished', 'finished');
    expect(probe.events).toEqual(await search(id));
    // One turn ended and the next started in the same step: the status stayed running.
    expect(probe.statuses).toEqual(['running', 'finished']);
    await probe.close();
  });

  it('resend_mode=all (and the older resend_all=true) sends past events first; since sends those at or after after_timestamp', async () => {
    const id = await create();
    await say(id, 'a');
    await finished(id);
    await say(id, 'b');
    await finished(id);
    const past = await search(id);
    expect(past).toHaveLength(4);

    const all = WsProbe.open(base, id, '?resend_mode=all', K1);
    const legacy = WsProbe.open(base, id, '?resend_all=true', K1);
    const since = WsProbe.open(base, id, `?resend_mode=since&after_timestamp=${encodeURIComponent(past[2].timestamp)}`, K1);
    const none = WsProbe.open(base, id, '', K1);
    for (const p of [all, legacy, since, none]) await p.waitFor((f) => f.key === 'full_state', 'the full state');
    await say(id, 'c');
    for (const p of [all, legacy, since, none]) await p.waitFor(isReply('c'), 'the live reply');
    const now = await search(id);
    expect(all.events).toEqual(now);
    expect(legacy.events).toEqual(now);
    expect(since.events).toEqual(now.slice(2));
    expect(none.events).toEqual(now.slice(4));
    for (const p of [all, legacy, since, none]) expect(p.frames[0].key).toBe('full_state');
    await Promise.all([all, legacy, since, none].map((p) => p.close()));
  });

  it('a frame from the client is a message that runs, as POST …/events with run: true', async () => {
    const id = await create();
    const probe = WsProbe.open(base, id, '', K1);
    await probe.waitFor((f) => f.key === 'full_state', 'the full state');
    probe.send({ role: 'user', content: [{ type: 'text', text: 'over the socket' }] });
    await probe.waitFor(isReply('over the socket'), 'the reply');
    expect((await search(id)).map(eventText)).toEqual(['over the socket', 'echo: over the socket']);
    // A bad frame gets a ServerErrorEvent and the socket stays open.
    probe.send({ role: 'robot', content: [] });
    const error = await probe.waitFor((f) => f.kind === 'ServerErrorEvent', 'the error');
    expect(error).toMatchObject({ code: 'ValidationError', source: 'environment' });
    probe.send('{not json');
    await probe.waitFor((f) => f.code === 'JSONDecodeError', 'the JSON error');
    probe.send({ role: 'user', content: [{ type: 'text', text: 'still here' }] });
    await probe.waitFor(isReply('still here'), 'the second reply');
    await probe.close();
  });

  it('reconnecting to another API process with resend_mode=since: no gap, no repeat but the events at after_timestamp', async () => {
    const id = await create();
    const first = WsProbe.open(baton.apis[0]!.url, id, '?resend_mode=all', K1);
    await say(id, 'before');
    await first.waitFor(isReply('before'), 'the first reply');
    await first.close();
    const got = first.events;
    const last = got[got.length - 1].timestamp;

    // Missed while disconnected.
    await say(id, 'while away');
    await finished(id);

    const second = WsProbe.open(baton.apis[1]!.url, id, `?resend_mode=since&after_timestamp=${encodeURIComponent(last)}`, K1);
    await second.waitFor(isReply('while away'), 'the missed reply');
    await say(id, 'after');
    await second.waitFor(isReply('after'), 'the live reply');
    const all = await search(id);
    const ids = second.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    // The union is the whole conversation, in order; the overlap is the events stamped `last`.
    const seen = new Map([...got, ...second.events].map((e) => [e.id, e]));
    expect([...seen.values()]).toEqual(all);
    const overlap = got.filter((e) => ids.includes(e.id));
    expect(overlap.length).toBeGreaterThan(0);
    expect(overlap.every((e) => e.timestamp === last)).toBe(true);
    await second.close();
  });

  it('deleting the conversation closes its sockets with 4004', async () => {
    const id = await create();
    const probe = WsProbe.open(baton.apis[1]!.url, id, '', K1);
    await probe.waitFor((f) => f.key === 'full_state', 'the full state');
    expect((await http(base, 'DELETE', `/api/conversations/${id}`, undefined, K1)).status).toBe(200);
    expect((await probe.closed).code).toBe(4004);
  });
});

describe('resources', () => {
  it('sockets count in MAX_WAITERS; a client that stops reading is closed, the others keep going', async () => {
    const small = await Baton.start({
      redisUrl: inject('redisUrl'),
      workers: 0,
      apiEnv: { MAX_WAITERS: '2', SSE_HEARTBEAT_S: '2' },
    });
    try {
      const id = (await http(small.url, 'POST', '/api/conversations', {})).body.id as string;
      const reader = WsProbe.open(small.url, id);
      const stalled = WsProbe.open(small.url, id);
      await reader.waitFor((f) => f.key === 'full_state', 'the full state');
      await stalled.waitFor((f) => f.key === 'full_state', 'the full state');
      stalled.ws.pause(); // reads nothing more: its TCP window fills, then the server's buffer

      const third = WsProbe.open(small.url, id);
      await third.closed;
      expect(third.refusedWith).toBe(503);

      const big = 'x'.repeat(256 * 1024);
      let sent = 0;
      // Messages keep coming until the server gives the stalled socket's slot back.
      const fourth = await waitUntil(
        async () => {
          const res = await http(small.url, 'POST', `/api/conversations/${id}/events`, { role: 'user', content: [{ type: 'text', text: `${sent++} ${big}` }] });
          expect(res.status).toBe(200);
          const probe = WsProbe.open(small.url, id);
          return (await probe.started()) ? probe : null;
        },
        { timeoutMs: 30_000, what: 'the stalled socket to be closed' },
      );
      // The reader got every message; the stalled one was cut off without them all.
      await reader.waitFor((f) => eventText(f)?.startsWith(`${sent - 1} `) === true, 'the last message');
      stalled.ws.resume();
      const { code } = await stalled.closed;
      expect(code).toBe(1006);
      expect(stalled.events.length).toBeLessThan(sent);
      await Promise.all([reader.close(), fourth.close()]);
    } finally {
      await small.stop();
    }
  });

  it('an API process shutting down closes its sockets with 1001 and exits', async () => {
    const api = await baton.startApi();
    const id = await create();
    const probe = WsProbe.open(api.url, id, '', K1);
    await probe.waitFor((f) => f.key === 'full_state', 'the full state');
    api.child.kill('SIGTERM');
    expect((await probe.closed).code).toBe(1001);
    expect((await api.exited).code).toBe(0);
  });
});
