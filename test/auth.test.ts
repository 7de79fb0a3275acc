import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Baton, http } from './support/baton.ts';

/** API_KEYS turns auth on for every route but /health; the native API reads `Authorization: Bearer`. */
let baton: Baton;
const KEY = 'k1-secret-value';
const OTHER = 'k2-secret-value';

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), apiEnv: { API_KEYS: `${KEY}, ${OTHER}`, LOG_LEVEL: 'trace' } });
});
afterAll(() => baton?.stop());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('native API auth', () => {
  it('leaves /health open', async () => {
    expect((await http(baton.url, 'GET', '/health')).status).toBe(200);
  });

  it.each([
    ['no header', {}],
    ['a wrong key', bearer('nope')],
    ['a key with a different case', bearer(KEY.toUpperCase())],
    ['a key in the wrong scheme', { authorization: `Basic ${KEY}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])('answers 401 unauthorized with %s', async (_name, headers) => {
    for (const [method, path] of [
      ['POST', '/sessions'],
      ['GET', '/sessions'],
      ['GET', '/sessions/00000000-0000-4000-8000-000000000000'],
      ['GET', '/webhooks/dead-letters'],
    ] as const) {
      const res = await http(baton.url, method, path, undefined, headers);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthorized', message: 'A valid API key is required' }, detail: 'A valid API key is required' });
    }
  });

  it('accepts each configured key', async () => {
    for (const key of [KEY, OTHER]) {
      const created = await http(baton.url, 'POST', '/sessions', {}, bearer(key));
      expect(created.status).toBe(201);
      const sent = await http(baton.url, 'POST', `/sessions/${created.body.session_id}/messages`, { content: 'hi' }, bearer(key));
      expect(sent.status).toBe(202);
    }
  });

  it('never writes a key to the logs', async () => {
    await http(baton.url, 'GET', '/sessions', undefined, bearer('wrong-key-value'));
    const logs = baton.apis.map((a) => a.output).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [KEY, OTHER, 'wrong-key-value']) expect(logs).not.toContain(secret);
  });
});
