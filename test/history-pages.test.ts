import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), apiEnv: { PAGE_LIMIT_MAX: '100' } });
  base = baton.url;
});
afterAll(() => baton?.stop());

const user = (content: string) => ({ role: 'user', content });

describe('GET /sessions/{id}/messages pages', () => {
  it('walks every page with limit + cursor (X-Next-Cursor, Link) while turns add messages: no gap, no repeat', async () => {
    const state = Array.from({ length: 7 }, (_, i) => user(`m${i}`));
    const id = await createSession(base, { state });
    const seen: unknown[] = [];
    let path = `/sessions/${id}/messages?limit=3`;
    for (let page = 0; page < 50; page++) {
      const res = await http(base, 'GET', path);
      expect(res.status).toBe(200);
      expect(res.body.length).toBeLessThanOrEqual(3);
      seen.push(...res.body);
      const next = res.headers.get('x-next-cursor');
      if (!next) break;
      expect(res.headers.get('link')).toBe(`</sessions/${id}/messages?limit=3&cursor=${next}>; rel="next"`);
      path = `/sessions/${id}/messages?limit=3&cursor=${next}`;
      // A turn adds two messages (the user's and the reply) between pages, for the first pages.
      if (page < 3) {
        expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: `more ${page}` })).status).toBe(202);
        await waitForIdle(base, id);
      }
    }
    const whole = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(whole.status).toBe(200);
    expect(whole.body).toHaveLength(7 + 3 * 2);
    expect(seen).toEqual(whole.body);
  });

  it('without limit answers the whole history (read in chunks), as before', async () => {
    const state = Array.from({ length: 1_200 }, (_, i) => user(`n${i}`));
    const id = await createSession(base, { state });
    const res = await http(base, 'GET', `/sessions/${id}/messages`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(state);
    expect(res.headers.get('x-next-cursor')).toBeNull();
  });

  it('a bad cursor or limit is a 422 naming the field', async () => {
    const id = await createSession(base, { state: [user('a')] });
    const bad = await http(base, 'GET', `/sessions/${id}/messages?limit=2&cursor=bogus`);
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('validation_failed');
    expect(JSON.stringify(bad.body.error)).toContain('query.cursor');
    const big = await http(base, 'GET', `/sessions/${id}/messages?limit=101`);
    expect(big.status).toBe(422);
    expect(JSON.stringify(big.body.error)).toContain('limit');
    const missing = await http(base, 'GET', `/sessions/${crypto.randomUUID()}/messages?limit=2`);
    expect(missing.status).toBe(404);
  });
});

describe('agenhq GET /api/v1/sessions/{id}/events pages', () => {
  it('walks every page with limit + next_cursor while turns add messages: no gap, no repeat', async () => {
    const state = Array.from({ length: 7 }, (_, i) => (i % 2 ? { role: 'assistant', content: `a${i}` } : user(`u${i}`)));
    const id = await createSession(base, { state });
    const seen: { id: string }[] = [];
    let path = `/api/v1/sessions/${id}/events?limit=3`;
    for (let page = 0; page < 50; page++) {
      const res = await http(base, 'GET', path);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['items', 'next_cursor']);
      expect(res.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.items);
      if (!res.body.next_cursor) break;
      path = `/api/v1/sessions/${id}/events?limit=3&cursor=${res.body.next_cursor}`;
      if (page < 3) {
        expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: `more ${page}` })).status).toBe(202);
        await waitForIdle(base, id);
      }
    }
    const whole = await http(base, 'GET', `/api/v1/sessions/${id}/events`);
    expect(whole.status).toBe(200);
    expect(whole.body).toHaveLength(7 + 3 * 2);
    expect(seen).toEqual(whole.body);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
  });

  it('a bad cursor is refused, Fastify-style', async () => {
    const id = await createSession(base, { state: [user('a')] });
    const bad = await http(base, 'GET', `/api/v1/sessions/${id}/events?limit=2&cursor=bogus`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('cursor');
  });
});
