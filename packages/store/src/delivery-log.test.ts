import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { type Delivery, DeliveryLog } from './delivery-log.ts';
import { SessionStore } from './session-store.ts';

let redis: Redis;
useTestRedis((client) => (redis = client));

const DAY = 24 * 3600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

const incarnations = new Map<string, string>();

function delivery(sessionId: string, n: number, createdAt: number, status: Delivery['status'] = 'delivered'): Delivery {
  return {
    incarnation: incarnations.get(sessionId) ?? '',
    id: `turn${String(n).padStart(4, '0')}.m`,
    webhook_id: `msg_turn${n}`,
    session_id: sessionId,
    turn_id: `turn${n}`,
    type: 'turn.completed',
    target: 'message',
    url: 'https://example.com/hook',
    body: '{}',
    status,
    attempts: [],
    schedule_base: 0,
    redeliveries: 0,
    next_attempt_at: null,
    created_at: new Date(createdAt).toISOString(),
  };
}

async function liveSession(prefix: string): Promise<string> {
  const sessionId = randomUUID();
  await new SessionStore(redis, { prefix, runningGraceMs: 1000, notifyAll: false }).create({ sessionId, agent: 'echo', tenant: '', state: [] });
  incarnations.set(sessionId, (await redis.hget(`${prefix}:sess:{${sessionId}}`, 'incarnation')) ?? '');
  return sessionId;
}

it('a session’s log keeps its newest WEBHOOK_LOG_MAX deliveries; a pending one is never dropped', async () => {
  const prefix = `t-${randomUUID()}`;
  const now = T0 + 1000 * 60;
  const log = new DeliveryLog(redis, prefix, { maxPerSession: 5, maxAgeMs: DAY }, () => now);
  const sessionId = await liveSession(prefix);
  // The oldest is still being attempted: it stays, and the cap takes the next oldest instead.
  await log.add(delivery(sessionId, 0, T0, 'pending'));
  for (let n = 1; n < 12; n++) await log.add(delivery(sessionId, n, T0 + n * 1000));
  const ids = (await log.list(sessionId)).map((d) => d.id);
  expect(ids).toEqual(['turn0000.m', 'turn0008.m', 'turn0009.m', 'turn0010.m', 'turn0011.m']);
  expect(await redis.hlen(`${prefix}:sess:{${sessionId}}:deliveries`)).toBe(5);
  expect(await redis.zcard(`${prefix}:sess:{${sessionId}}:deliveries:at`)).toBe(5);
  // Each dropped delivery's body went with its record: the kept ones' bodies, nothing else.
  expect((await redis.hkeys(`${prefix}:sess:{${sessionId}}:deliveries:bodies`)).sort()).toEqual(ids);
});

it('a session’s log drops finished deliveries older than WEBHOOK_LOG_TTL_S at its next write, and expires after it when idle', async () => {
  const prefix = `t-${randomUUID()}`;
  let now = T0;
  const log = new DeliveryLog(redis, prefix, { maxPerSession: 100, maxAgeMs: 7 * DAY }, () => now);
  const sessionId = await liveSession(prefix);
  await log.add(delivery(sessionId, 1, T0));
  await log.add(delivery(sessionId, 2, T0 + DAY, 'pending'));
  await log.add(delivery(sessionId, 3, T0 + 2 * DAY));
  // Eight days on, a new delivery's write trims the log: 1 is too old, 2 still pending, 3 young enough.
  now = T0 + 8 * DAY;
  await log.add(delivery(sessionId, 4, now));
  expect((await log.list(sessionId)).map((d) => d.id)).toEqual(['turn0002.m', 'turn0003.m', 'turn0004.m']);
  expect((await redis.hkeys(`${prefix}:sess:{${sessionId}}:deliveries:bodies`)).sort()).toEqual(['turn0002.m', 'turn0003.m', 'turn0004.m']);
  // With no write for the age, the whole log expires (every entry is older by then), bodies too.
  for (const key of ['deliveries', 'deliveries:at', 'deliveries:bodies']) {
    const pttl = await redis.pttl(`${prefix}:sess:{${sessionId}}:${key}`);
    expect(pttl, key).toBeGreaterThan(7 * DAY - 60_000);
    expect(pttl, key).toBeLessThanOrEqual(7 * DAY);
  }
});

it('a delivery’s body is stored once, apart from its record: saving an attempt rewrites the record, never the body', async () => {
  const prefix = `t-${randomUUID()}`;
  const log = new DeliveryLog(redis, prefix);
  const sessionId = await liveSession(prefix);
  const body = JSON.stringify({ type: 'turn.completed', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
  const d = { ...delivery(sessionId, 1, T0, 'pending'), body };
  expect(await log.add(d)).toBe(true);
  const stored = await redis.hget(`${prefix}:sess:{${sessionId}}:deliveries`, d.id);
  expect(JSON.parse(stored ?? '{}')).not.toHaveProperty('body');
  expect(await redis.hget(`${prefix}:sess:{${sessionId}}:deliveries:bodies`, d.id)).toBe(body);

  // An attempt: the record changes; a body changed in memory is not written (save never sends it).
  const attempted = { ...d, body: 'not this', attempts: [{ at: new Date(T0).toISOString(), status_code: 503, latency_ms: 3, error: null }] };
  expect(await log.save(attempted)).toBe(true);
  expect(await log.get(sessionId, d.id)).toEqual({ ...attempted, body });
  expect((await log.record(sessionId, d.id))?.attempts).toHaveLength(1);
  expect((await log.list(sessionId))[0]).not.toHaveProperty('body');
});

it('saving a delivery that is no longer logged writes nothing back', async () => {
  const prefix = `t-${randomUUID()}`;
  const log = new DeliveryLog(redis, prefix);
  const sessionId = await liveSession(prefix);
  const d = delivery(sessionId, 1, T0, 'pending');
  expect(await log.save(d)).toBe(false);
  expect(await redis.exists(`${prefix}:sess:{${sessionId}}:deliveries`, `${prefix}:sess:{${sessionId}}:deliveries:at`)).toBe(0);
  expect(await log.get(sessionId, d.id)).toBeNull();
});

it('a record written before bodies were kept apart: sent with its body, stored apart at the first read and dropped from the record at its update', async () => {
  const prefix = `t-${randomUUID()}`;
  const log = new DeliveryLog(redis, prefix);
  const sessionId = await liveSession(prefix);
  const legacy = { ...delivery(sessionId, 1, Date.now(), 'pending'), body: '{"type":"turn.completed","old":true}' };
  await redis.hset(`${prefix}:sess:{${sessionId}}:deliveries`, legacy.id, JSON.stringify(legacy));
  expect(await log.get(sessionId, legacy.id)).toEqual(legacy);
  expect(await redis.hget(`${prefix}:sess:{${sessionId}}:deliveries:bodies`, legacy.id)).toBe(legacy.body);
  // The attempt's update drops the record's own copy; the body sent stays the same.
  expect(await log.save({ ...legacy, status: 'delivered' })).toBe(true);
  expect(JSON.parse((await redis.hget(`${prefix}:sess:{${sessionId}}:deliveries`, legacy.id)) ?? '{}')).not.toHaveProperty('body');
  expect(await log.get(sessionId, legacy.id)).toEqual({ ...legacy, status: 'delivered' });
});

it('a deleted session’s log, bodies included, is kept a day; a new session with its id stops that clock', async () => {
  const prefix = `t-${randomUUID()}`;
  const store = new SessionStore(redis, { prefix, runningGraceMs: 1000, notifyAll: false });
  const log = new DeliveryLog(redis, prefix);
  const sessionId = await liveSession(prefix);
  await log.add(delivery(sessionId, 1, Date.now(), 'dead'));
  const keys = ['deliveries', 'deliveries:at', 'deliveries:bodies'].map((k) => `${prefix}:sess:{${sessionId}}:${k}`);
  await store.delete(sessionId);
  for (const key of keys) {
    const pttl = await redis.pttl(key);
    expect(pttl, key).toBeGreaterThan(DAY - 60_000);
    expect(pttl, key).toBeLessThanOrEqual(DAY);
  }
  await store.create({ sessionId, agent: 'echo', tenant: '', state: [] });
  for (const key of keys) expect(await redis.pttl(key), key).toBe(-1);
});

it('dead letters keep the newest DEAD_LETTERS_MAX, in the server’s list and in each tenant’s', async () => {
  const prefix = `t-${randomUUID()}`;
  const log = new DeliveryLog(redis, prefix, { maxDeadLetters: 3 });
  const sessionId = randomUUID();
  for (let n = 0; n < 6; n++) await log.addDeadLetter({ session_id: sessionId, id: `d${n}`, tenant: n % 2 ? 'acme' : 'globex' }, T0 + n);
  const ids = async (tenant?: string) => (await log.deadLetters(100, tenant)).map((l) => l.delivery_id);
  expect(await ids()).toEqual(['d5', 'd4', 'd3']);
  expect(await ids('acme')).toEqual(['d5', 'd3', 'd1']);
  expect(await ids('globex')).toEqual(['d4', 'd2', 'd0']);
  expect(await redis.zcard(`${prefix}:webhooks:dead`)).toBe(3);
});
