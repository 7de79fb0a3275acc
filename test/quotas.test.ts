import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Baton, http } from './support/baton.ts';

/**
 * Per-tenant quotas: TENANT_MAX_SESSIONS sessions per API key, answered 403
 * `session_quota_exceeded`, and TENANT_MAX_BYTES bytes of messages per API key, answered 403
 * `storage_quota_exceeded`, on every surface (in its own error shape); other tenants and the
 * admin key are not affected, and deleting a session makes room.
 */
const ALICE = 'quota-key-alice';
const BOB = 'quota-key-bob';
const ADMIN = 'quota-admin-key';
const CAROL = 'quota-key-carol';
let baton: Baton;

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { API_KEYS: `${ALICE},${BOB},${CAROL}`, ADMIN_KEY: ADMIN, TENANT_MAX_SESSIONS: '2', TENANT_MAX_BYTES: '3000' },
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

describe('TENANT_MAX_BYTES', () => {
  it('a tenant whose messages reach the quota gets 403 storage_quota_exceeded on the native API and OpenHands; a delete makes room', async () => {
    const big = 'x'.repeat(1000);
    // About 1,030 bytes preloaded, then a message of as many and its echo reply: over 3,000.
    const created = await http(baton.url, 'POST', '/sessions', { state: [{ role: 'user', content: big }] }, native(CAROL));
    expect(created.status).toBe(201);
    const id = created.body.session_id as string;
    expect((await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: big }, native(CAROL))).status).toBe(202);
    const idle = await http(baton.url, 'GET', `/sessions/${id}?wait=true&timeout=10`, undefined, native(CAROL));
    expect(idle.body.status).toBe('idle');

    // The reply was counted by the worker: every write of this tenant is refused now.
    const refused = await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'one more' }, native(CAROL));
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('storage_quota_exceeded');
    expect(refused.body.error.message).toContain('TENANT_MAX_BYTES');
    expect((await http(baton.url, 'POST', '/sessions', {}, native(CAROL))).body.error.code).toBe('storage_quota_exceeded');
    const oh = await http(baton.url, 'POST', `/api/conversations/${id}/events`, { role: 'user', content: [{ type: 'text', text: 'hi' }], run: true }, openhands(CAROL));
    expect(oh.status).toBe(403);
    expect(oh.body).toEqual({ detail: expect.stringContaining('TENANT_MAX_BYTES') });
    // Nothing of the refused writes was stored.
    expect((await http(baton.url, 'GET', `/sessions/${id}/messages`, undefined, native(CAROL))).body).toHaveLength(3);
    // Another tenant is not affected.
    expect((await http(baton.url, 'POST', '/sessions', { state: [{ role: 'user', content: big }] }, native(BOB))).status).toBe(201);

    expect((await http(baton.url, 'DELETE', `/sessions/${id}`, undefined, native(CAROL))).status).toBe(204);
    expect((await http(baton.url, 'POST', '/sessions', {}, native(CAROL))).status).toBe(201);
  });
});
