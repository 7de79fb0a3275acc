import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';

/**
 * The OpenHands agent server surface (`/api/conversations`, `X-Session-API-Key`,
 * FastAPI errors) and OpenHands 0.53's add_event body on its events route.
 */

let baton: Baton; // quick echo turns, no API keys
let slow: Baton; // 10 s echo turns (for interrupts), API keys k1 and k2
let base: string;

beforeAll(async () => {
  [baton, slow] = await Promise.all([
    Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '1000' } }),
    Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '10000' }, apiEnv: { API_KEYS: 'k1,k2' } }),
  ]);
  base = baton.url;
});
afterAll(() => Promise.all([baton?.stop(), slow?.stop()]));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ALREADY_RUNNING = 'Conversation already running. Wait for completion or pause first.';
const KEY = { 'X-Session-API-Key': 'k2' };

function oh(method: string, path: string, body?: unknown, headers?: Record<string, string>, on = base) {
  return http(on, method, `/api/conversations${path}`, body, headers);
}

async function create(body: unknown = {}, headers?: Record<string, string>, on = base): Promise<string> {
  const res = await oh('POST', '', body, headers, on);
  if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

function text(t: string) {
  return { type: 'text', text: t };
}

/** Polls the conversation until `done` holds, and returns it. */
async function waitFor(id: string, done: (info: any) => boolean, headers?: Record<string, string>, on = base): Promise<any> {
  return waitUntil(
    async () => {
      const res = await oh('GET', `/${id}`, undefined, headers, on);
      return res.status === 200 && done(res.body) ? res.body : null;
    },
    { timeoutMs: 15_000, what: `conversation ${id}` },
  );
}

const settled = (info: any) => info.execution_status !== 'running';

async function events(id: string, query = '', headers?: Record<string, string>, on = base): Promise<any[]> {
  const res = await oh('GET', `/${id}/events/search${query}`, undefined, headers, on);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** `source: text` of each message event, oldest first. */
async function transcript(id: string, headers?: Record<string, string>, on = base): Promise<string[]> {
  return (await events(id, '', headers, on)).map((e) =>
    e.kind === 'MessageEvent'
      ? `${e.source}: ${e.llm_message.content.find((c: any) => c.type === 'text')?.text ?? ''}`
      : `${e.kind}: ${e.code}`,
  );
}

describe('conversations', () => {
  it('POST creates a conversation (201 ConversationInfo), accepting and ignoring agent-server fields Baton cannot honour', async () => {
    const res = await oh('POST', '', {
      agent: { kind: 'Agent', llm: { model: 'litellm_proxy/some-model', api_key: 'sk-x', usage_id: 'agent' }, tools: [] },
      workspace: { kind: 'LocalWorkspace', working_dir: 'workspace/project' },
      max_iterations: 50,
      stuck_detection: false,
      confirmation_policy: { kind: 'NeverConfirm' },
      secrets: {},
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID),
      // As sent, the LLM key masked as the agent server shows its secrets.
      agent: { kind: 'Agent', llm: { model: 'litellm_proxy/some-model', api_key: '**********', usage_id: 'agent' }, tools: [] },
      workspace: { kind: 'LocalWorkspace', working_dir: 'workspace/project' },
      stats: { usage_to_metrics: {} },
      title: null,
      tags: {},
      execution_status: 'idle',
      confirmation_policy: { kind: 'NeverConfirm' },
      security_analyzer: null,
      activated_knowledge_skills: [],
      metrics: null,
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
      baton: { agent: 'echo', status: 'idle', paused: false, error: null, total_messages: 0, pending_messages: 0 },
    });
    // A conversation IS a Baton session.
    const native = await http(base, 'GET', `/sessions/${res.body.id}`);
    expect(native.status).toBe(200);
    expect(native.body.status).toBe('idle');
    // An empty body works too.
    expect((await oh('POST', '')).status).toBe(201);
  });

  it('PATCH sets the title, replaces the tags ({} clears them); 404 for an unknown conversation, 422 for bad values', async () => {
    const id = await create({ title: 'Before', tags: { a: '1', b: '2' } });
    expect((await oh('PATCH', `/${id}`, { title: 'After' })).body).toEqual({ success: true });
    expect((await oh('GET', `/${id}`)).body).toMatchObject({ title: 'After', tags: { a: '1', b: '2' } });
    await oh('PATCH', `/${id}`, { tags: { c: '3' } });
    expect((await oh('GET', `/${id}`)).body).toMatchObject({ title: 'After', tags: { c: '3' } });
    await oh('PATCH', `/${id}`, { tags: {} });
    const cleared = (await oh('GET', `/${id}`)).body;
    expect(cleared).toMatchObject({ title: 'After', tags: {} });
    expect(Date.parse(cleared.updated_at)).toBeGreaterThanOrEqual(Date.parse(cleared.created_at));
    const missing = await oh('PATCH', `/${crypto.randomUUID()}`, { title: 'x' });
    expect(missing.status).toBe(404);
    const bad = await oh('PATCH', `/${id}`, { title: '', tags: { Bad: 'x' } });
    expect(bad.status).toBe(422);
    expect(bad.body.detail.map((d: any) => [d.type, d.loc])).toEqual([
      ['string_too_short', ['body', 'title']],
      ['value_error', ['body', 'tags', 'Bad']],
    ]);
  });

  it('POST with an existing conversation_id answers 200 with it (initial_message ignored); ids are normalised', async () => {
    const hex = crypto.randomUUID().replace(/-/g, '').toUpperCase();
    const dashed = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toLowerCase();
    const first = await oh('POST', '', { conversation_id: hex, title: 'Mine', tags: { team: 'core', env2: 'dev' } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ id: dashed, title: 'Mine', tags: { team: 'core', env2: 'dev' }, execution_status: 'idle' });

    const again = await oh('POST', '', { conversation_id: dashed, initial_message: { content: [text('ignored')] } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await transcript(dashed)).toEqual([]);
    expect((await oh('GET', `/${hex}`)).body).toEqual(first.body);
  });

  it('POST with initial_message runs it (as the agent server does, whatever its run flag)', async () => {
    const res = await oh('POST', '', { initial_message: { role: 'user', content: [text('hello')], run: false } });
    expect(res.status).toBe(201);
    expect(res.body.execution_status).toBe('running');
    const done = await waitFor(res.body.id, settled);
    expect(done).toMatchObject({ execution_status: 'finished', baton: { total_messages: 2, error: null } });
    expect(await transcript(res.body.id)).toEqual(['user: hello', 'agent: echo: hello']);
  });

  it('POST answers 422 in FastAPI shape, naming each bad field, and creates nothing', async () => {
    const before = (await oh('GET', '/count')).body;
    const res = await oh('POST', '', {
      conversation_id: 'nope',
      title: '',
      tags: { 'Bad-Key': 'x' },
      initial_message: { role: 'robot', content: [{ type: 'text' }] },
    });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([
      { type: 'uuid_parsing', loc: ['body', 'conversation_id'], msg: expect.stringMatching(/^Input should be a valid UUID/), input: 'nope' },
      {
        type: 'literal_error',
        loc: ['body', 'initial_message', 'role'],
        msg: "Input should be 'user', 'system', 'assistant' or 'tool'",
        input: 'robot',
        ctx: { expected: "'user', 'system', 'assistant' or 'tool'" },
      },
      { type: 'missing', loc: ['body', 'initial_message', 'content', 0, 'text'], msg: 'Field required' },
      { type: 'string_too_short', loc: ['body', 'title'], msg: 'String should have at least 1 character', input: '', ctx: { min_length: 1 } },
      { type: 'value_error', loc: ['body', 'tags', 'Bad-Key'], msg: 'Tag keys must be lowercase alphanumeric', input: 'Bad-Key' },
    ]);
    const notObject = await oh('POST', '', [1]);
    expect(notObject.status).toBe(422);
    expect(notObject.body.detail).toEqual([
      { type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: [1] },
    ]);
    expect((await oh('GET', '/count')).body).toBe(before);
  });

  it('GET /{id} answers the ConversationInfo; 404 {detail} when missing; 422 when the id is not a UUID', async () => {
    const id = await create({ title: 'T' });
    const res = await oh('GET', `/${id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, title: 'T', execution_status: 'idle' });

    const missingId = crypto.randomUUID();
    const missing = await oh('GET', `/${missingId}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: `Conversation "${missingId}" not found` });

    const bad = await oh('GET', '/not-a-uuid');
    expect(bad.status).toBe(422);
    expect(bad.body.detail).toEqual([
      { type: 'uuid_parsing', loc: ['path', 'conversation_id'], msg: expect.stringMatching(/^Input should be a valid UUID/), input: 'not-a-uuid' },
    ]);
  });

  it('GET /search pages through every conversation in creation order; /count agrees', async () => {
    for (let i = 0; i < 5; i++) await create();
    const total = (await oh('GET', '/count')).body;
    expect(Number.isInteger(total) && total >= 5).toBe(true);
    const seen: any[] = [];
    let query = '?limit=2&sort_order=CREATED_AT';
    let pages = 0;
    for (; pages < 100; pages++) {
      const res = await oh('GET', `/search${query}`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['items', 'next_page_id']);
      expect(res.body.items.length).toBeGreaterThan(0); // no empty trailing page
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items);
      if (res.body.next_page_id === null) break;
      query = `?limit=2&page_id=${res.body.next_page_id}&sort_order=CREATED_AT`;
    }
    expect(pages + 1).toBe(Math.ceil(total / 2));
    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((c) => c.id)).size).toBe(total);
    const created = seen.map((c) => Date.parse(c.created_at));
    expect([...created].sort((a, b) => a - b)).toEqual(created);
    expect(seen[0]).toHaveProperty('execution_status');

    const all = await oh('GET', '/search?sort_order=CREATED_AT');
    expect(all.body).toEqual({ items: seen, next_page_id: null });
  });

  it('GET /search sorts newest first by default (CREATED_AT_DESC), and by last update (UPDATED_AT, UPDATED_AT_DESC)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await create());
    // Touch the first: it becomes the most recently updated.
    const sent = await oh('POST', `/${ids[0]}/events`, { content: [text('touch')] });
    expect(sent.status).toBe(200);
    const order = async (query: string) => {
      const got: string[] = [];
      let q = `?limit=2${query}`;
      for (let i = 0; i < 1000; i++) {
        const res = await oh('GET', `/search${q}`);
        expect(res.status).toBe(200);
        got.push(...res.body.items.map((c: any) => c.id).filter((id: string) => ids.includes(id)));
        if (!res.body.next_page_id) break;
        q = `?limit=2${query}&page_id=${res.body.next_page_id}`;
      }
      return got;
    };
    expect(await order('')).toEqual([...ids].reverse());
    expect(await order('&sort_order=CREATED_AT_DESC')).toEqual([...ids].reverse());
    expect(await order('&sort_order=CREATED_AT')).toEqual(ids);
    expect(await order('&sort_order=UPDATED_AT')).toEqual([ids[1], ids[2], ids[0]]);
    expect(await order('&sort_order=UPDATED_AT_DESC')).toEqual([ids[0], ids[2], ids[1]]);
  });

  it('GET /search and /count filter by execution status', async () => {
    const id = await create({ initial_message: { content: [text('done')] } });
    await waitFor(id, settled);
    const finished = await oh('GET', '/search?status=finished');
    expect(finished.status).toBe(200);
    expect(finished.body.items.length).toBeGreaterThan(0);
    expect(finished.body.items.every((c: any) => c.execution_status === 'finished')).toBe(true);
    expect(finished.body.items.map((c: any) => c.id)).toContain(id);
    expect((await oh('GET', '/count?status=finished')).body).toBe(finished.body.items.length);
    const idle = (await oh('GET', '/search?status=idle')).body.items;
    expect(idle.every((c: any) => c.execution_status === 'idle')).toBe(true);
    expect((await oh('GET', '/count?status=idle')).body).toBe(idle.length);
  });

  it('GET /search and /count reject bad parameters with 422', async () => {
    const cases: [string, any][] = [
      ['/search?limit=0', { type: 'greater_than', loc: ['query', 'limit'], msg: 'Input should be greater than 0', input: '0', ctx: { gt: 0 } }],
      ['/search?limit=101', { type: 'less_than_equal', loc: ['query', 'limit'], msg: 'Input should be less than or equal to 100', input: '101', ctx: { le: 100 } }],
      ['/search?limit=ten', { type: 'int_parsing', loc: ['query', 'limit'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: 'ten' }],
      ['/search?page_id=bogus', { type: 'value_error', loc: ['query', 'page_id'], msg: 'Not a next_page_id from this API', input: 'bogus' }],
      ['/search?sort_order=NEWEST', { type: 'enum', loc: ['query', 'sort_order'], msg: "Input should be 'CREATED_AT', 'UPDATED_AT', 'CREATED_AT_DESC' or 'UPDATED_AT_DESC'", input: 'NEWEST', ctx: { expected: "'CREATED_AT', 'UPDATED_AT', 'CREATED_AT_DESC' or 'UPDATED_AT_DESC'" } }],
      ['/count?status=sleepy', expect.objectContaining({ type: 'enum', loc: ['query', 'status'] })],
    ];
    for (const [path, issue] of cases) {
      const res = await oh('GET', path);
      expect(res.status, path).toBe(422);
      expect(res.body.detail, path).toEqual([issue]);
    }
  });

  it('GET ?ids= returns each conversation or null; 422 without ids', async () => {
    const id = await create();
    const missing = crypto.randomUUID();
    const res = await oh('GET', `?ids=${id}&ids=${missing}`);
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(2);
    expect(res.body[0]).toMatchObject({ id, execution_status: 'idle' });
    expect(res.body[1]).toBeNull();
    const none = await oh('GET', '');
    expect(none.status).toBe(422);
    expect(none.body.detail).toEqual([{ type: 'missing', loc: ['query', 'ids'], msg: 'Field required' }]);
  });

  it('DELETE /{id} answers {success: true}; then the conversation is gone; 404 after', async () => {
    const id = await create();
    const res = await oh('DELETE', `/${id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect((await oh('GET', `/${id}`)).status).toBe(404);
    expect((await http(base, 'GET', `/sessions/${id}`)).status).toBe(404);
    const again = await oh('DELETE', `/${id}`);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ detail: `Conversation "${id}" not found` });
    expect((await oh('GET', '/search')).body.items.map((c: any) => c.id)).not.toContain(id);
  });

  it('unknown routes answer 404, wrong methods 405, bad JSON 400 and other media types 415, all as {detail}', async () => {
    const id = await create();
    const route = await oh('GET', `/${id}/nope`);
    expect(route.status).toBe(404);
    expect(typeof route.body.detail).toBe('string');
    const method = await oh('GET', `/${id}/run`);
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('POST');
    expect(typeof method.body.detail).toBe('string');
    const json = await oh('POST', `/${id}/events`, '{"content":');
    expect(json.status).toBe(422);
    expect(json.body.detail).toEqual([
      { type: 'json_invalid', loc: ['body', 11], msg: 'JSON decode error', input: {}, ctx: { error: expect.any(String) } },
    ]);
    const type = await oh('POST', `/${id}/events`, 'hi', { 'content-type': 'text/plain' });
    expect(type.status).toBe(415);
    expect(typeof type.body.detail).toBe('string');
  });
});

describe('sending messages', () => {
  it('run: false adds the message (text parts joined by newlines) and starts no turn', async () => {
    const id = await create();
    const res = await oh('POST', `/${id}/events`, { role: 'user', content: [text('line one'), text('line two')], run: false });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    const info = (await oh('GET', `/${id}`)).body;
    expect(info).toMatchObject({ execution_status: 'idle', baton: { total_messages: 1, pending_messages: 0 } });
    expect((await http(base, 'GET', `/sessions/${id}/messages`)).body).toEqual([{ role: 'user', content: 'line one\nline two' }]);
    const [event] = await events(id);
    expect(event).toEqual({
      kind: 'MessageEvent',
      id: expect.stringMatching(UUID),
      timestamp: expect.stringMatching(ISO),
      source: 'user',
      llm_message: { role: 'user', content: [text('line one\nline two')] },
      activated_skills: [],
      extended_content: [],
    });
    // `run` defaults to false.
    expect((await oh('POST', `/${id}/events`, { content: [text('more')] })).body).toEqual({ success: true });
    expect(await transcript(id)).toEqual(['user: line one\nline two', 'user: more']);
    expect((await oh('GET', `/${id}`)).body.execution_status).toBe('idle');
  });

  it('run: true adds the message and runs the agent: running → finished, with the reply in the events', async () => {
    const id = await create();
    const res = await oh('POST', `/${id}/events`, { role: 'user', content: [text('hi')], run: true });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect((await oh('GET', `/${id}`)).body.execution_status).toBe('running');
    const done = await waitFor(id, settled);
    expect(done).toMatchObject({ execution_status: 'finished', baton: { status: 'idle', total_messages: 2 } });
    const items = await events(id);
    expect(items.map((e) => [e.source, e.llm_message])).toEqual([
      ['user', { role: 'user', content: [text('hi')] }],
      ['agent', { role: 'assistant', content: [text('echo: hi')] }],
    ]);
  });

  it('maps images: the first data URL to base64_image, other URLs to user_params.image_urls, and back in events', async () => {
    const id = await create();
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    const jpg = 'data:image/jpeg;base64,/9j/4AAQ';
    const res = await oh('POST', `/${id}/events`, {
      content: [text('look'), { type: 'image', image_urls: ['https://example.com/a.png', png] }, { type: 'image', image_urls: [jpg], cache_prompt: true }],
    });
    expect(res.status).toBe(200);
    expect((await http(base, 'GET', `/sessions/${id}/messages`)).body).toEqual([
      { role: 'user', content: 'look', base64_image: png, user_params: { image_urls: ['https://example.com/a.png', jpg] } },
    ]);
    const [event] = await events(id);
    expect(event.llm_message).toEqual({
      role: 'user',
      content: [text('look'), { type: 'image', image_urls: [png, 'https://example.com/a.png', jpg] }],
    });
  });

  it('answers 422 with every bad field located, 404 for an unknown conversation, 422 for a bad id', async () => {
    const id = await create();
    const res = await oh('POST', `/${id}/events`, {
      role: 'robot',
      content: [{ type: 'text' }, { type: 'image' }, { type: 'text', text: 'x', colour: 'red' }, { type: 'video' }, 'plain', { type: 'text', text: 5 }],
      run: 'maybe',
    });
    expect(res.status).toBe(422);
    expect(res.body.detail.map((d: any) => [d.type, d.loc])).toEqual([
      ['literal_error', ['body', 'role']],
      ['bool_parsing', ['body', 'run']],
      ['missing', ['body', 'content', 0, 'text']],
      ['missing', ['body', 'content', 1, 'image_urls']],
      ['extra_forbidden', ['body', 'content', 2, 'colour']],
      ['literal_error', ['body', 'content', 3, 'type']],
      ['model_attributes_type', ['body', 'content', 4]],
      ['string_type', ['body', 'content', 5, 'text']],
    ]);
    expect(res.body.detail[2].msg).toBe('Field required');
    expect(res.body.detail[4].msg).toBe('Extra inputs are not permitted');
    expect(res.body.detail[7].msg).toBe('Input should be a valid string');
    const notList = await oh('POST', `/${id}/events`, { content: 'hi' });
    expect(notList.body.detail).toEqual([{ type: 'list_type', loc: ['body', 'content'], msg: 'Input should be a valid list', input: 'hi' }]);
    const noBody = await oh('POST', `/${id}/events`);
    expect(noBody.status).toBe(422);
    expect(noBody.body.detail).toEqual([{ type: 'missing', loc: ['body'], msg: 'Field required' }]);
    expect(await transcript(id)).toEqual([]);

    const missing = crypto.randomUUID();
    const gone = await oh('POST', `/${missing}/events`, { content: [text('x')], run: true });
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ detail: `Conversation "${missing}" not found` });
    const bad = await oh('POST', '/nope/events', { content: [text('x')] });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(['path', 'conversation_id']);
  });

  it('run: true on a busy conversation queues the message (no 409) and runs it after the current turn, in order', async () => {
    const id = await create();
    for (const m of ['m1', 'm2', 'm3']) {
      const res = await oh('POST', `/${id}/events`, { content: [text(m)], run: true });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true });
    }
    const busy = (await oh('GET', `/${id}`)).body;
    expect(busy.execution_status).toBe('running');
    expect(busy.baton.pending_messages).toBeGreaterThan(0);
    // Queued messages are events already, with ids that stay the same once they run.
    const queued = (await events(id)).find((e) => e.llm_message.content[0].text === 'm3');
    expect(queued).toMatchObject({ kind: 'MessageEvent', source: 'user' });

    const done = await waitFor(id, (c) => settled(c) && c.baton.pending_messages === 0);
    expect(done.execution_status).toBe('finished');
    // Events are in time order: the messages were sent before the replies came.
    expect(await transcript(id)).toEqual(['user: m1', 'user: m2', 'user: m3', 'agent: echo: m1', 'agent: echo: m2', 'agent: echo: m3']);
    // ...while the history (what the agent saw) has each reply after its message.
    expect((await http(base, 'GET', `/sessions/${id}/messages`)).body.map((m: any) => m.content)).toEqual(['m1', 'echo: m1', 'm2', 'echo: m2', 'm3', 'echo: m3']);
    expect((await events(id)).find((e) => e.llm_message.content[0].text === 'm3')).toEqual(queued);
  });

  it('run: false while a turn runs adds the message without queuing a turn', async () => {
    // On the 10 s Baton the turn is certainly still running when the second message comes.
    const id = await create({}, KEY, slow.url);
    await oh('POST', `/${id}/events`, { content: [text('first')], run: true }, KEY, slow.url);
    expect((await oh('POST', `/${id}/events`, { content: [text('aside')] }, KEY, slow.url)).status).toBe(200);
    const info = (await oh('GET', `/${id}`, undefined, KEY, slow.url)).body;
    expect(info).toMatchObject({ execution_status: 'running', baton: { pending_messages: 0, total_messages: 2 } });
    expect(await transcript(id, KEY, slow.url)).toEqual(['user: first', 'user: aside']);
    // (The store's unit tests show such a message lands before the running turn's reply.)
    await oh('POST', `/${id}/interrupt`, undefined, KEY, slow.url);
  });
});

describe('run, pause', () => {
  it('POST /run starts a turn on the history: {success: true}, then the reply', async () => {
    const id = await create();
    await oh('POST', `/${id}/events`, { content: [text('queued by hand')] });
    const res = await oh('POST', `/${id}/run`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    await waitFor(id, settled);
    expect(await transcript(id)).toEqual(['user: queued by hand', 'agent: echo: queued by hand']);
    expect((await oh('GET', `/${id}`)).body.execution_status).toBe('finished');
  });

  it('POST /run answers 409 "already running" while busy, and 404 for an unknown conversation', async () => {
    const id = await create();
    await oh('POST', `/${id}/events`, { content: [text('busy')], run: true });
    const res = await oh('POST', `/${id}/run`);
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ detail: ALREADY_RUNNING });
    await waitFor(id, settled);
    expect(await transcript(id)).toEqual(['user: busy', 'agent: echo: busy']);
    const missing = crypto.randomUUID();
    const gone = await oh('POST', `/${missing}/run`);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ detail: `Conversation "${missing}" not found` });
  });

  it('POST /pause lets the running turn finish and holds queued messages until /run', async () => {
    const id = await create();
    await oh('POST', `/${id}/events`, { content: [text('one')], run: true });
    const paused = await oh('POST', `/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body).toEqual({ success: true });
    expect((await oh('GET', `/${id}`)).body.execution_status).toBe('running');
    expect((await oh('POST', `/${id}/events`, { content: [text('two')], run: true })).status).toBe(200);

    // The running turn ends; the queued one does not start (the end and the start are one atomic step).
    const held = await waitFor(id, settled);
    expect(held).toMatchObject({ execution_status: 'paused', baton: { paused: true, pending_messages: 1 } });
    expect(await transcript(id)).toEqual(['user: one', 'user: two', 'agent: echo: one']);

    const run = await oh('POST', `/${id}/run`);
    expect(run.status).toBe(200);
    expect(run.body).toEqual({ success: true });
    const done = await waitFor(id, settled);
    expect(done).toMatchObject({ execution_status: 'finished', baton: { paused: false, pending_messages: 0 } });
    expect(await transcript(id)).toEqual(['user: one', 'user: two', 'agent: echo: one', 'agent: echo: two']);
  });

  it('a paused idle conversation reports paused; /run resumes it and runs the history', async () => {
    const id = await create();
    await oh('POST', `/${id}/events`, { content: [text('later')] });
    expect((await oh('POST', `/${id}/pause`)).body).toEqual({ success: true });
    expect((await oh('GET', `/${id}`)).body.execution_status).toBe('paused');
    expect((await oh('POST', `/${id}/run`)).body).toEqual({ success: true });
    const done = await waitFor(id, settled);
    expect(done).toMatchObject({ execution_status: 'finished', baton: { paused: false } });
    expect(await transcript(id)).toEqual(['user: later', 'agent: echo: later']);
    const missing = await oh('POST', `/${crypto.randomUUID()}/pause`);
    expect(missing.status).toBe(404);
  });
});

describe('OpenHands 0.53 add_event', () => {
  it('a message action is added as a user message and run; {success: true}', async () => {
    const id = await create();
    const res = await oh('POST', `/${id}/events`, {
      id: 7,
      source: 'user',
      timestamp: '2025-08-01T10:00:00',
      message: 'legacy hi',
      action: 'message',
      args: { content: 'legacy hi', image_urls: ['data:image/png;base64,AAAA'], file_urls: [], wait_for_response: false },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    // A second one while the first runs is queued (0.53 hands it to the running agent), never 409.
    expect((await oh('POST', `/${id}/events`, { action: 'message', args: { content: 'and more' } })).status).toBe(200);
    await waitFor(id, (c) => settled(c) && c.baton.pending_messages === 0);
    expect(await transcript(id)).toEqual(['user: legacy hi', 'user: and more', 'agent: echo: legacy hi', 'agent: echo: and more']);
    const [first] = (await http(base, 'GET', `/sessions/${id}/messages`)).body;
    expect(first).toEqual({ role: 'user', content: 'legacy hi', base64_image: 'data:image/png;base64,AAAA' });
  });

  it('change_agent_state pauses and resumes', async () => {
    const id = await create();
    expect((await oh('POST', `/${id}/events`, { action: 'change_agent_state', args: { agent_state: 'paused' } })).body).toEqual({ success: true });
    expect((await oh('POST', `/${id}/events`, { action: 'message', args: { content: 'held' } })).status).toBe(200);
    expect((await oh('GET', `/${id}`)).body).toMatchObject({ execution_status: 'paused', baton: { pending_messages: 1 } });
    expect((await oh('POST', `/${id}/events`, { action: 'change_agent_state', args: { agent_state: 'running' } })).body).toEqual({ success: true });
    await waitFor(id, (c) => c.execution_status === 'finished');
    expect(await transcript(id)).toEqual(['user: held', 'agent: echo: held']);
  });

  it('refuses actions Baton cannot perform and malformed events with 422', async () => {
    const id = await create();
    const cases: [unknown, any][] = [
      [{ action: 'run', args: { command: 'ls' } }, { type: 'value_error', loc: ['body', 'action'], input: 'run' }],
      [{ action: 'teleport' }, { type: 'value_error', loc: ['body', 'action'], input: 'teleport' }],
      [{ action: 42 }, { type: 'string_type', loc: ['body', 'action'], input: 42 }],
      [{ action: 'message', args: {} }, { type: 'missing', loc: ['body', 'args', 'content'], msg: 'Field required' }],
      [{ action: 'message', args: { content: 'x', image_urls: 'a.png' } }, { type: 'list_type', loc: ['body', 'args', 'image_urls'] }],
      [{ action: 'change_agent_state', args: { agent_state: 'dancing' } }, { type: 'literal_error', loc: ['body', 'args', 'agent_state'] }],
    ];
    for (const [body, issue] of cases) {
      const res = await oh('POST', `/${id}/events`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.detail, JSON.stringify(body)).toHaveLength(1);
      expect(res.body.detail[0], JSON.stringify(body)).toMatchObject(issue);
      expect(typeof res.body.detail[0].msg).toBe('string');
    }
    expect(await transcript(id)).toEqual([]);
  });
});

describe('events', () => {
  let id: string;
  let all: any[];

  beforeAll(async () => {
    id = await create();
    await oh('POST', `/${id}/events`, { role: 'system', content: [text('be brief')] });
    for (const m of ['alpha', 'beta', 'gamma']) await oh('POST', `/${id}/events`, { content: [text(m)], run: true });
    await waitFor(id, (c) => settled(c) && c.baton.pending_messages === 0);
    all = await events(id);
  });

  it('search lists the history as events with stable ids, in time order', async () => {
    expect(all.map((e) => `${e.source}/${e.llm_message.role}: ${e.llm_message.content[0].text}`)).toEqual([
      'environment/system: be brief',
      'user/user: alpha',
      'user/user: beta',
      'user/user: gamma',
      'agent/assistant: echo: alpha',
      'agent/assistant: echo: beta',
      'agent/assistant: echo: gamma',
    ]);
    expect(new Set(all.map((e) => e.id)).size).toBe(7);
    expect(all.every((e) => UUID.test(e.id) && ISO.test(e.timestamp))).toBe(true);
    const stamps = all.map((e) => Date.parse(e.timestamp));
    expect([...stamps].sort((a, b) => a - b)).toEqual(stamps);
    expect(await events(id)).toEqual(all);
    expect((await oh('GET', `/${id}/events/count`)).body).toBe(7);
  });

  it('pages with limit and next_page_id, in either sort order', async () => {
    const walk = async (order: string) => {
      const seen: any[] = [];
      let query = `?limit=3&sort_order=${order}`;
      for (let i = 0; i < 10; i++) {
        const res = await oh('GET', `/${id}/events/search${query}`);
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(3);
        seen.push(...res.body.items);
        if (!res.body.next_page_id) break;
        expect(res.body.next_page_id).toBe(all.find((e) => e.id === res.body.next_page_id)?.id);
        query = `?limit=3&sort_order=${order}&page_id=${res.body.next_page_id}`;
      }
      return seen;
    };
    expect(await walk('TIMESTAMP')).toEqual(all);
    expect(await walk('TIMESTAMP_DESC')).toEqual([...all].reverse());
  });

  it('filters by kind, source, body and timestamp; count applies the same filters', async () => {
    const agent = await events(id, '?source=agent');
    expect(agent.map((e) => e.llm_message.content[0].text)).toEqual(['echo: alpha', 'echo: beta', 'echo: gamma']);
    expect((await oh('GET', `/${id}/events/count?source=agent`)).body).toBe(3);
    expect(await events(id, '?kind=MessageEvent')).toEqual(all);
    expect(await events(id, '?kind=openhands.sdk.event.llm_convertible.message.MessageEvent')).toEqual(all);
    expect(await events(id, '?kind=ActionEvent')).toEqual([]);
    expect((await oh('GET', `/${id}/events/count?kind=ActionEvent`)).body).toBe(0);
    expect((await events(id, '?body=BETA')).map((e) => e.llm_message.content[0].text)).toEqual(['beta', 'echo: beta']);
    expect(await events(id, '?source=user&body=gamma&sort_order=TIMESTAMP_DESC')).toEqual([all[3]]);
    const after = encodeURIComponent(all[6].timestamp);
    expect(await events(id, `?timestamp__gte=${after}`)).toEqual(all.filter((e) => e.timestamp >= all[6].timestamp));
    expect((await oh('GET', `/${id}/events/count?timestamp__lt=${after}`)).body).toBe(all.filter((e) => e.timestamp < all[6].timestamp).length);
  });

  it('GET /events/{event_id} answers one event; 404 for an unknown one', async () => {
    const res = await oh('GET', `/${id}/events/${all[2].id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(all[2]);
    const missing = await oh('GET', `/${id}/events/${crypto.randomUUID()}`);
    expect(missing.status).toBe(404);
    expect(typeof missing.body.detail).toBe('string');
  });

  it('rejects bad parameters with 422 and answers 404 for an unknown conversation', async () => {
    const cases: [string, any][] = [
      ['/events/search?limit=0', { type: 'greater_than', loc: ['query', 'limit'] }],
      ['/events/search?limit=500', { type: 'less_than_equal', loc: ['query', 'limit'] }],
      ['/events/search?sort_order=NEWEST', { type: 'enum', loc: ['query', 'sort_order'], msg: "Input should be 'TIMESTAMP' or 'TIMESTAMP_DESC'" }],
      ['/events/search?page_id=nope', { type: 'value_error', loc: ['query', 'page_id'] }],
      ['/events/count?timestamp__gte=yesterday', { type: 'datetime_parsing', loc: ['query', 'timestamp__gte'] }],
    ];
    for (const [path, issue] of cases) {
      const res = await oh('GET', `/${id}${path}`);
      expect(res.status, path).toBe(422);
      expect(res.body.detail, path).toHaveLength(1);
      expect(res.body.detail[0], path).toMatchObject(issue);
    }
    const missing = crypto.randomUUID();
    for (const path of ['/events/search', '/events/count']) {
      const res = await oh('GET', `/${missing}${path}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ detail: `Conversation "${missing}" not found` });
    }
  });
});

describe('interrupt and auth (slow turns, API keys)', () => {
  const on = () => slow.url;

  it('answers 401 {detail} without a key or with a wrong one, and works with a valid X-Session-API-Key', async () => {
    const attempts: Record<string, string>[] = [{}, { 'X-Session-API-Key': 'nope' }, { Authorization: 'Bearer k1' }];
    for (const headers of attempts) {
      const res = await oh('POST', '', {}, headers, on());
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ detail: 'A valid API key is required' });
      expect((await oh('GET', '/search', undefined, headers, on())).status).toBe(401);
    }
    const created = await oh('POST', '', {}, KEY, on());
    expect(created.status).toBe(201);
    const read = await oh('GET', `/${created.body.id}`, undefined, KEY, on());
    expect(read.status).toBe(200);
    expect(read.body.id).toBe(created.body.id);
    // Each key is a tenant: to the other key the conversation does not exist.
    expect((await oh('GET', `/${created.body.id}`, undefined, { 'X-Session-API-Key': 'k1' }, on())).status).toBe(404);
  });

  it('POST /interrupt cancels the running turn (no reply), pauses, and holds queued messages until /run', async () => {
    const id = await create({}, KEY, on());
    await oh('POST', `/${id}/events`, { content: [text('slow one')], run: true }, KEY, on());
    await oh('POST', `/${id}/events`, { content: [text('next')], run: true }, KEY, on());
    expect((await oh('GET', `/${id}`, undefined, KEY, on())).body.execution_status).toBe('running');

    const res = await oh('POST', `/${id}/interrupt`, undefined, KEY, on());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    const after = await waitFor(id, settled, KEY, on());
    expect(after).toMatchObject({ execution_status: 'paused', baton: { status: 'idle', error: 'Turn cancelled', pending_messages: 1 } });
    expect(await transcript(id, KEY, on())).toEqual(['user: slow one', 'ConversationErrorEvent: TurnCancelled', 'user: next']);
    const error = (await events(id, '?kind=ConversationErrorEvent', KEY, on()))[0];
    expect(error).toEqual({
      kind: 'ConversationErrorEvent',
      id: expect.stringMatching(UUID),
      timestamp: expect.stringMatching(ISO),
      source: 'environment',
      code: 'TurnCancelled',
      detail: 'Turn cancelled',
    });
    expect((await http(on(), 'GET', `/sessions/${id}/messages`, undefined, { Authorization: 'Bearer k2' })).body).toEqual([
      { role: 'user', content: 'slow one' },
    ]);

    // /run resumes: the held message's turn starts; interrupting again pauses once more.
    expect((await oh('POST', `/${id}/run`, undefined, KEY, on())).body).toEqual({ success: true });
    expect((await oh('GET', `/${id}`, undefined, KEY, on())).body).toMatchObject({ execution_status: 'running', baton: { pending_messages: 0 } });
    expect((await oh('POST', `/${id}/interrupt`, undefined, KEY, on())).body).toEqual({ success: true });
    expect(await waitFor(id, settled, KEY, on())).toMatchObject({ execution_status: 'paused' });
    expect(await transcript(id, KEY, on())).toEqual([
      'user: slow one',
      'ConversationErrorEvent: TurnCancelled',
      'user: next',
      'ConversationErrorEvent: TurnCancelled',
    ]);
    expect((await oh('POST', `/${crypto.randomUUID()}/interrupt`, undefined, KEY, on())).status).toBe(404);
  });

  it('0.53 change_agent_state "stopped" cancels the running turn: execution_status idle, no reply', async () => {
    const id = await create({}, KEY, on());
    await oh('POST', `/${id}/events`, { action: 'message', args: { content: 'stop me' } }, KEY, on());
    const res = await oh('POST', `/${id}/events`, { action: 'change_agent_state', args: { agent_state: 'stopped' } }, KEY, on());
    expect(res.body).toEqual({ success: true });
    const after = await waitFor(id, settled, KEY, on());
    expect(after).toMatchObject({ execution_status: 'idle', baton: { status: 'idle', error: 'Turn cancelled', paused: false } });
    expect(await transcript(id, KEY, on())).toEqual(['user: stop me', 'ConversationErrorEvent: TurnCancelled']);
  });
});
