import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, createSession, http } from './support/baton.ts';
import { RedisMonitor } from './support/monitor.ts';
import { type Reply, Receiver } from './support/receiver.ts';

/**
 * A webhook delivery stores its body once, however often it is attempted, dead-lettered and
 * redelivered. Real API and worker processes, a real local receiver, and Redis looked at from
 * outside: every key of this deployment read back, MEMORY USAGE of the delivery log, and
 * MONITOR of every command the processes send (on a cluster, on every master).
 */

let baton: Baton;
let base: string;
const receivers: Receiver[] = [];
/** MONITOR connections: closed by each test, and here too should a test fail first. */
const monitoring: RedisMonitor[] = [];

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { WEBHOOK_ALLOW_PRIVATE: 'true' },
    // Four attempts: at once, then three retries 50 ms apart.
    workerEnv: { WEBHOOK_SCHEDULE: '0,50,50,50' },
  });
  base = baton.url;
});
afterAll(async () => {
  for (const m of monitoring) m.stop();
  await Promise.all(receivers.map((r) => r.close()));
  await baton?.stop();
});

async function receiver(reply: (index: number) => Reply | Promise<Reply>): Promise<Receiver> {
  const r = await Receiver.start();
  r.reply = (_req, i) => reply(i);
  receivers.push(r);
  return r;
}

/** The masters of the test's Redis: the one server, or every master of a cluster. */
async function masters(): Promise<Redis[]> {
  const client = baton.redis;
  if (!client.isCluster) return [client as Redis];
  const cluster = client as Cluster;
  if (cluster.status === 'wait') await cluster.connect();
  return cluster.nodes('master');
}

/**
 * MONITOR on every master: the names of the commands that Baton's processes send (not those a
 * script runs) with `marker` in an argument, from now until `stop()`.
 */
async function watchCommands(marker: string): Promise<{ commands: () => string[]; stop: () => void }> {
  const nodes = await masters();
  const monitors = await Promise.all(nodes.map((node) => RedisMonitor.start(node.options.host ?? '127.0.0.1', node.options.port ?? 6379, (line) => line.includes(marker))));
  monitoring.push(...monitors);
  return {
    commands: () => monitors.flatMap((m) => m.commands.filter((c) => c.source !== 'lua').map((c) => c.name)),
    stop: () => monitors.forEach((m) => m.stop()),
  };
}

/** Every stored value of this deployment (its keys and BullMQ's) that contains `marker`: key and field. */
async function storedCopies(marker: string): Promise<string[]> {
  const r = baton.redis;
  const found: string[] = [];
  for (const key of await baton.keys(`*${baton.prefix}*`)) {
    const type = await r.type(key);
    let entries: [string, string][] = [];
    if (type === 'string') entries = [['', (await r.get(key)) ?? '']];
    else if (type === 'hash') entries = Object.entries(await r.hgetall(key));
    else if (type === 'list') entries = (await r.lrange(key, 0, -1)).map((v, i) => [String(i), v]);
    else if (type === 'set') entries = (await r.smembers(key)).map((v) => [v, v]);
    else if (type === 'zset') entries = (await r.zrange(key, 0, -1)).map((v) => [v, v]);
    else if (type === 'stream') entries = (await r.xrange(key, '-', '+')).map(([id, fields]) => [id, fields.join('\n')]);
    for (const [field, value] of entries) {
      if (value.includes(marker) || field.includes(marker)) found.push(`${key} ${field}`);
    }
  }
  return found.sort();
}

/** MEMORY USAGE (every field counted) of a session's delivery records and of their bodies. */
async function deliveryBytes(sessionId: string): Promise<{ records: number; bodies: number }> {
  const usage = async (key: string) => Number((await baton.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  const k = `${baton.prefix}:sess:{${sessionId}}`;
  return { records: await usage(`${k}:deliveries`), bodies: await usage(`${k}:deliveries:bodies`) };
}

async function untilStatus(sessionId: string, turnId: string, status: string): Promise<any> {
  return waitUntil(
    async () => {
      const log = (await http(base, 'GET', `/sessions/${sessionId}/webhooks`)).body as any[];
      return log.find((d) => d.turn_id === turnId && d.status === status);
    },
    { timeoutMs: 15_000, what: `turn ${turnId}'s delivery to be ${status}` },
  );
}

/** A session whose history holds a 64 KiB message with `marker`, and whose webhook carries the history. */
async function sessionWithHistory(marker: string, url: string): Promise<string> {
  const content = `${marker} ${'x'.repeat(64 * 1024)}`;
  return createSession(base, { state: [{ role: 'user', content }], webhook: { url, include_messages: true } });
}

it('a delivery answered 503 three times, then 200: one stored copy of its body, written once; the record grows by the attempts only', async () => {
  const marker = `marker-${randomUUID()}`;
  let release!: () => void;
  const latch = new Promise<void>((resolve) => (release = resolve));
  // The second attempt is held until the test has measured the log with one attempt recorded.
  const r = await receiver(async (i) => {
    if (i === 1) await latch;
    return { status: i < 3 ? 503 : 200 };
  });
  const id = await sessionWithHistory(marker, r.url);
  const watch = await watchCommands(marker);
  const sent = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'hello' });
  expect(sent.status).toBe(202);
  const turnId = sent.body.turn_id as string;

  await r.waitFor(2); // the first attempt is recorded (before its retry is queued); the second is held
  const before = await deliveryBytes(id);
  release();
  const d = await untilStatus(id, turnId, 'delivered');
  const after = await deliveryBytes(id);
  watch.stop();

  expect(d.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([503, 503, 503, 200]);
  // Every attempt sent the same body, with the same webhook-id; the body carries the history.
  expect(r.requests).toHaveLength(4);
  expect(new Set(r.requests.map((q) => q.body)).size).toBe(1);
  expect(new Set(r.requests.map((q) => q.headers['webhook-id']))).toEqual(new Set([`msg_${turnId}`]));
  expect(r.requests[0]!.json.messages[0].content).toContain(marker);

  // Sent to Redis once: by the script call that logged the delivery (EVALSHA, or EVAL if the
  // script was not loaded yet), none by its four attempts.
  expect(watch.commands()).toHaveLength(1);
  // Stored: the history's message, and the delivery's body once (not in its record, the job or elsewhere).
  const k = `${baton.prefix}:sess:{${id}}`;
  expect(await storedCopies(marker)).toEqual([`${k}:deliveries:bodies ${d.id}`, `${k}:messages 0`]);
  // The body (64 KiB) did not change; the record grew by three attempts' fields, not by a body.
  expect(before.bodies).toBeGreaterThan(64 * 1024);
  expect(after.bodies).toBe(before.bodies);
  expect(after.records - before.records).toBeLessThan(1024);
});

it('a dead letter references the delivery’s one body: redelivered with the same webhook-id and body, still one copy', async () => {
  const marker = `marker-${randomUUID()}`;
  const r = await receiver((i) => ({ status: i < 4 ? 503 : 200 }));
  const id = await sessionWithHistory(marker, r.url);
  const watch = await watchCommands(marker);
  const sent = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'hello' });
  const turnId = sent.body.turn_id as string;
  const dead = await untilStatus(id, turnId, 'dead');
  expect(dead.attempts).toHaveLength(4);
  const letters = (await http(base, 'GET', '/webhooks/dead-letters?limit=500')).body as any[];
  expect(letters.map((l) => l.id)).toContain(dead.id);
  const k = `${baton.prefix}:sess:{${id}}`;
  expect(await storedCopies(marker)).toEqual([`${k}:deliveries:bodies ${dead.id}`, `${k}:messages 0`]);

  expect((await http(base, 'POST', `/sessions/${id}/webhooks/${dead.id}/redeliver`)).status).toBe(202);
  const delivered = await untilStatus(id, turnId, 'delivered');
  watch.stop();
  expect(delivered.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([503, 503, 503, 503, 200]);
  expect(r.requests).toHaveLength(5);
  expect(r.requests[4]!.body).toBe(r.requests[0]!.body);
  expect(r.requests[4]!.headers['webhook-id']).toBe(`msg_${turnId}`);
  expect(await storedCopies(marker)).toEqual([`${k}:deliveries:bodies ${dead.id}`, `${k}:messages 0`]);
  expect(watch.commands()).toHaveLength(1);
});
