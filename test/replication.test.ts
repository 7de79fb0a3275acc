import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisServer, waitUntil } from '@baton/devtools';
import { sessionKeys } from '@baton/core';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/**
 * Strict durability (REDIS_WAIT_REPLICAS=1): a 201/202 is sent only once a replica has the
 * write. A master and a real replica (`replicaof`) of this file's own; the replica is detached
 * (`REPLICAOF NO ONE`) to play one that falls behind.
 */
let master: RedisServer;
let replicaServer: RedisServer;
let replica: Redis;
let admin: Redis;
let baton: Baton;

async function replicasOnline(count: number): Promise<void> {
  await waitUntil(async () => {
    const info = await admin.info('replication');
    const online = (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
    return /^connected_slaves:(\d+)/m.exec(info)?.[1] === String(count) && online === count;
  }, { timeoutMs: 15_000, what: `${count} replica(s) online` });
}

async function attach(): Promise<void> {
  await replica.replicaof('127.0.0.1', master.port);
  await replicasOnline(1);
}

beforeAll(async () => {
  master = await RedisServer.start({ appendonly: true });
  replicaServer = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  admin = new Redis(master.url);
  replica = new Redis(replicaServer.url);
  await replicasOnline(1);
  baton = await Baton.start({ redisUrl: master.url, apiEnv: { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '2000' } });
});
afterAll(async () => {
  await baton?.stop();
  admin?.disconnect();
  replica?.disconnect();
  await replicaServer?.dispose();
  await master?.dispose();
});

describe('REDIS_WAIT_REPLICAS', () => {
  it('a 201 and a 202 come once the replica holds the session and the turn', async () => {
    const sid = await createSession(baton.url);
    const { meta } = sessionKeys(baton.prefix, sid);
    expect(await replica.exists(meta)).toBe(1);
    const sent = await http(baton.url, 'POST', `/sessions/${sid}/messages`, { content: 'hello' });
    expect(sent.status).toBe(202);
    // Read from the replica at once: it has the turn the 202 promised.
    expect(await replica.hget(meta, 'turn_id')).toBe(sent.body.turn_id);
  });

  it('a replica that does not acknowledge in time: 503 replication_timeout; the retry under the same Idempotency-Key gets the same turn', async () => {
    const sid = await createSession(baton.url);
    await replica.replicaof('NO', 'ONE');
    await replicasOnline(0);
    try {
      const key = { 'idempotency-key': `wait-${randomUUID()}` };
      const refused = await http(baton.url, 'POST', `/sessions/${sid}/messages`, { content: 'hello' }, key);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body.error).toMatchObject({ code: 'replication_timeout', message: expect.stringContaining('0 of 1 replicas') });
      // The master has the turn; only its replication is unconfirmed.
      const onMaster = await admin.hget(sessionKeys(baton.prefix, sid).meta, 'turn_id');
      expect(onMaster).toEqual(expect.any(String));

      await attach();
      const retried = await http(baton.url, 'POST', `/sessions/${sid}/messages`, { content: 'hello' }, key);
      expect(retried.status).toBe(202);
      expect(retried.body.turn_id).toBe(onMaster);
      await waitForIdle(baton.url, sid);
      expect((await http(baton.url, 'GET', `/sessions/${sid}/messages`)).body).toEqual([
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'echo: hello' },
      ]);
    } finally {
      await attach();
    }
  });

  it('POST /sessions without a replica: 503 replication_timeout, and its retry gets the same session', async () => {
    await replica.replicaof('NO', 'ONE');
    await replicasOnline(0);
    try {
      const key = { 'idempotency-key': `wait-${randomUUID()}` };
      const refused = await http(baton.url, 'POST', '/sessions', {}, key);
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('replication_timeout');
      await attach();
      const retried = await http(baton.url, 'POST', '/sessions', {}, key);
      expect(retried.status).toBe(201);
      expect(await replica.exists(sessionKeys(baton.prefix, retried.body.session_id).meta)).toBe(1);
      expect(await http(baton.url, 'GET', '/sessions?limit=200').then((r) => r.body.length)).toBe(3);
    } finally {
      await attach();
    }
  });
});
