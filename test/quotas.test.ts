import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Baton, http } from './support/baton.ts';

/**
 * Per-tenant quotas: TENANT_MAX_SESSIONS sessions per API key, answered 403
 * `session_quota_exceeded` on every surface (in its own error shape); other tenants and the
 * admin key are not affected, and deleting a session makes room.
 */
const ALICE = 'quota-key-alice';
const BOB = 'quota-key-bob';
const ADMIN = 'quota-admin-key';
let baton: Baton;

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { API_KEYS: `${ALICE},${BOB}`, ADMIN_KEY: ADMIN, TENANT_MAX_SESSIONS: '2' },
  });
});
afterAll(() => baton?.stop());

const native = (key: string) => ({ authorization: `Bearer ${key}` });
const openhands = (key: string) => ({ 'x-session-api-key': key });

describe('TENANT_MAX_SESSIONS', () => {
  it('a tenant at its quota gets 403 session_quota_exceeded on the native API and OpenHands; others are unaffected; a delete makes room', async () => {
    const first = await http(baton.url, 'POST', '/sessions', {}, native(ALICE));
    expect(first.status).toBe(201);
    // The second through the OpenHands surface: one quota across the surfaces.
    expect((await http(baton.url, 'POST', '/api/conversations', {}, openhands(ALICE))).status).toBe(201);

    const refused = await http(baton.url, 'POST', '/sessions', {}, native(ALICE));
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('session_quota_exceeded');
    expect(refused.body.error.message).toContain('TENANT_MAX_SESSIONS');
    const put = await http(baton.url, 'PUT', `/sessions/${crypto.randomUUID()}`, {}, native(ALICE));
    expect([put.status, put.body.error.code]).toEqual([403, 'session_quota_exceeded']);
    const oh = await http(baton.url, 'POST', '/api/conversations', {}, openhands(ALICE));
    expect(oh.status).toBe(403);
    expect(oh.body).toEqual({ detail: expect.stringContaining('TENANT_MAX_SESSIONS') });
    expect((await http(baton.url, 'GET', '/sessions', undefined, native(ALICE))).body).toHaveLength(2);

    // Another tenant and the admin key have room of their own.
    expect((await http(baton.url, 'POST', '/sessions', {}, native(BOB))).status).toBe(201);
    expect((await http(baton.url, 'POST', '/sessions', {}, native(ADMIN))).status).toBe(201);
    // Messages to existing sessions are not refused.
    expect((await http(baton.url, 'POST', `/sessions/${first.body.session_id}/messages`, { content: 'hi' }, native(ALICE))).status).toBe(202);

    expect((await http(baton.url, 'DELETE', `/sessions/${first.body.session_id}`, undefined, native(ALICE))).status).toBe(204);
    expect((await http(baton.url, 'POST', '/sessions', {}, native(ALICE))).status).toBe(201);
  });
});
