import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { waitUntil } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';
import { RedisMonitor } from './support/monitor.ts';

/**
 * OpenHands `events/search` and `events/count` read by range: a page of a long history reads
 * about the page (MONITOR shows every command it sends), and the answers are byte for byte
 * those of the whole read that sessions made before the history's time index still get.
 */

let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '300' }, apiEnv: { BODY_LIMIT: '8mb' } });
  base = baton.url;
});
afterAll(() => baton?.stop());

const oh = (path: string) => `/api/conversations${path}`;

/** The raw body of a GET (byte-for-byte comparisons), and its JSON. */
async function get(path: string): Promise<{ status: number; text: string; body: any }> {
  const res = await fetch(base + path);
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) };
}

/** Every page of a search, following next_page_id: the raw bodies. */
async function walk(id: string, query: string): Promise<string[]> {
  const pages: string[] = [];
  let path = oh(`/${id}/events/search?${query}`);
  for (let i = 0; i < 500; i++) {
    const res = await get(path);
    expect(res.status, path).toBe(200);
    pages.push(res.text);
    if (!res.body.next_page_id) return pages;
    path = oh(`/${id}/events/search?${query}&page_id=${res.body.next_page_id}`);
  }
  throw new Error(`no end to ${query}`);
}

/** Runs `fn` with the session's time index hidden (as a session made before it has none), then puts it back. */
async function withoutIndex<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const meta = `${baton.prefix}:sess:{${id}}`;
  const ix = await baton.redis.hget(meta, 'ix');
  await baton.redis.hdel(meta, 'ix');
  try {
    return await fn();
  } finally {
    await baton.redis.hset(meta, 'ix', ix as string);
  }
}

/**
 * The commands Redis ran for this session while `fn` ran, as their arguments: MONITOR connections
 * of the test's own (one per master on a Redis Cluster).
 */
async function commandsOf(id: string, fn: () => Promise<unknown>): Promise<string[][]> {
  const redis = baton.redis;
  if (redis.isCluster && (redis as Cluster).status === 'wait') await (redis as Cluster).connect();
  const nodes: Redis[] = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
  const marker = `${id}:done`;
  const monitors = await Promise.all(
    nodes.map((node) => RedisMonitor.start(node.options.host ?? '127.0.0.1', node.options.port ?? 6379, (line) => line.includes(`{${id}}`) || line.includes(marker))),
  );
  try {
    await fn();
    // Every command of `fn` ran before these: once each MONITOR shows its marker, it has shown them.
    await Promise.all(nodes.map((node) => node.echo(marker)));
    await waitUntil(async () => monitors.every((m) => m.commands.some((c) => c.line.includes(marker))), { timeoutMs: 5_000, what: 'MONITOR to catch up' });
  } finally {
    for (const monitor of monitors) monitor.stop();
  }
  return monitors.flatMap((m) => m.commands.filter((c) => !c.line.includes(marker)).map((c) => args(c.line)));
}

/** A MONITOR line's command and arguments (Redis quotes each, escaping quotes and backslashes). */
function args(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] as string).replace(/\\(.)/g, '$1'));
}

/** History entries each LRANGE of the session's history read. */
function historyRanges(commands: string[][], id: string): number[] {
  return commands
    .filter((c) => c[0]?.toLowerCase() === 'lrange' && c[1] === `${baton.prefix}:sess:{${id}}:messages`)
    .map((c) => Number(c[3]) - Number(c[2]) + 1);
}

describe('a long history', () => {
  const SIZE = 3_000;
  let id: string;
  let total: number;

  beforeAll(async () => {
    // 3,000 messages (a third of them assistant messages with a tool call: two events each), then
    // three messages sent at once: the last two wait behind the first turn, and sort before its reply.
    const state = Array.from({ length: SIZE }, (_, i) =>
      i % 3 === 0
        ? { role: 'user', content: `u${i}` }
        : i % 3 === 1
          ? { role: 'assistant', content: `a${i}`, tool_calls: [{ id: `c${i}`, type: 'function', function: { name: 'clock', arguments: '{}' } }] }
          : { role: 'tool', content: `t${i}`, tool_call_id: `c${i - 1}` },
    );
    id = await createSession(base, { state });
    for (const m of ['x', 'y', 'z']) {
      expect((await http(base, 'POST', oh(`/${id}/events`), { role: 'user', content: [{ type: 'text', text: m }], run: true })).status).toBe(200);
    }
    await waitForIdle(base, id);
    total = SIZE + SIZE / 3 + 6;
  });

  it('count reads no history: the index keeps it', async () => {
    let count: any;
    const commands = await commandsOf(id, async () => (count = await get(oh(`/${id}/events/count`))));
    expect(count.body).toBe(total);
    expect(commands.filter((c) => c[0]?.toLowerCase() === 'lrange')).toEqual([]);
    expect((await get(`/api/v1/events/count?conversation_id__eq=${id}`)).body).toBe(total);
  });

  it('a page deep in the history (asc by page_id, and newest first) reads about the page, and is the page the whole read gives', async () => {
    const pages = await walk(id, 'limit=100');
    expect(pages).toHaveLength(Math.ceil(total / 100));
    const all = pages.flatMap((p) => JSON.parse(p).items);
    expect(all).toHaveLength(total);
    // Time order: the queued messages before the first reply, then the replies.
    expect(all.slice(-6).map((e: any) => e.llm_message.content[0].text)).toEqual(['x', 'y', 'z', 'echo: x', 'echo: y', 'echo: z']);
    // Page 25 (events 2,400–2,499): asked for by the next_page_id of page 24.
    const pageId = JSON.parse(pages[23] as string).next_page_id;
    let page: any;
    const deep = await commandsOf(id, async () => (page = await get(oh(`/${id}/events/search?limit=100&page_id=${pageId}`))));
    expect(page.text).toBe(pages[24]);
    const texts = page.body.items.filter((e: any) => e.kind === 'MessageEvent').map((e: any) => e.llm_message.content[0].text);
    expect(texts[0]).toBe('u1800');
    const read = historyRanges(deep, id);
    expect(read.length).toBeGreaterThan(0);
    expect(Math.max(...read)).toBeLessThanOrEqual(102);
    expect(read.reduce((a, b) => a + b, 0)).toBeLessThan(300);
    // Newest first: the first page reads the history's end.
    let newest: any;
    const tail = await commandsOf(id, async () => (newest = await get(oh(`/${id}/events/search?limit=50&sort_order=TIMESTAMP_DESC`))));
    expect(newest.body.items.slice(0, 6).map((e: any) => e.llm_message.content[0].text)).toEqual(['echo: z', 'echo: y', 'echo: x', 'z', 'y', 'x']);
    expect(Math.max(...historyRanges(tail, id))).toBeLessThanOrEqual(52);
    // The same pages, byte for byte, from the whole read (the index hidden).
    expect(await withoutIndex(id, () => walk(id, 'limit=100'))).toEqual(pages);
    const wholeTail = await withoutIndex(id, () => commandsOf(id, () => get(oh(`/${id}/events/search?limit=50&sort_order=TIMESTAMP_DESC`))));
    expect(historyRanges(wholeTail, id).reduce((a, b) => a + b, 0)).toBe(SIZE + 6);
  });
});

describe('the same answers as the whole read', () => {
  let id: string;

  beforeAll(async () => {
    // Tool steps, messages queued behind a running turn and added while it runs, a turn that
    // waits for a person and is cancelled, a running turn cancelled (/interrupt), then resumed.
    id = (await http(base, 'POST', oh(''), { initial_message: { role: 'user', content: [{ type: 'text', text: 'hello' }] } })).body.id;
    await waitForIdle(base, id);
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'tools', user_params: { echo: { tool_steps: 2 } } })).status).toBe(202);
    for (const m of ['q1', 'q2']) await http(base, 'POST', oh(`/${id}/events`), { role: 'user', content: [{ type: 'text', text: m }], run: true });
    await http(base, 'POST', oh(`/${id}/events`), { role: 'user', content: [{ type: 'text', text: 'aside' }], run: false });
    await waitForIdle(base, id);
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: 'ask', user_params: { echo: { interrupt: { type: 'user_input', payload: 'who?' } } } })).status).toBe(202);
    await waitUntil(async () => (await http(base, 'GET', `/sessions/${id}`)).body.status === 'interrupted', { timeoutMs: 15_000, what: 'the interrupt' });
    expect((await http(base, 'POST', `/sessions/${id}/cancel`)).status).toBeLessThan(300);
    await waitForIdle(base, id);
    await http(base, 'POST', oh(`/${id}/events`), { role: 'user', content: [{ type: 'text', text: 'slow' }], run: true });
    await http(base, 'POST', oh(`/${id}/interrupt`));
    await waitForIdle(base, id);
    await http(base, 'POST', oh(`/${id}/run`));
    await waitForIdle(base, id);
  });

  it('every page in both orders, with filters, and every count, byte for byte', async () => {
    const all = JSON.parse((await walk(id, 'limit=100'))[0] as string).items;
    const kinds = new Set(all.map((e: any) => e.kind));
    expect([...kinds].sort()).toEqual(['ActionEvent', 'ConversationErrorEvent', 'MessageEvent']);
    const middle = encodeURIComponent(all[Math.floor(all.length / 2)].timestamp);
    const queries = [
      ...[1, 2, 3, 7].flatMap((limit) => [`limit=${limit}`, `limit=${limit}&sort_order=TIMESTAMP_DESC`]),
      'limit=2&source=agent',
      'limit=3&kind=ActionEvent&sort_order=TIMESTAMP_DESC',
      'limit=2&kind=openhands.sdk.event.conversation_error.ConversationErrorEvent',
      'limit=2&body=Q',
      `limit=2&timestamp__gte=${middle}`,
      `limit=2&timestamp__lt=${middle}&sort_order=TIMESTAMP_DESC`,
      `limit=100&timestamp__gte=${middle}&sort_order=TIMESTAMP_DESC`,
    ];
    const counts = ['', '?source=user', '?kind=ActionEvent', `?timestamp__gte=${middle}`, `?timestamp__lt=${middle}`, '?body=echo'];
    const answers = async () => ({
      pages: await Promise.all(queries.map((q) => walk(id, q))),
      counts: await Promise.all(counts.map(async (q) => (await get(oh(`/${id}/events/count${q}`))).text)),
    });
    const byRange = await answers();
    const whole = await withoutIndex(id, answers);
    expect(byRange).toEqual(whole);
    expect(byRange.counts[0]).toBe(String(all.length));
    // Pages whose marks are gone (expired): read whole once, the same again.
    await baton.redis.del(`${baton.prefix}:sess:{${id}}:marks`);
    expect(await answers()).toEqual(byRange);
  });
});
