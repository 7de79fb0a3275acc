import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { RedisCluster } from '@baton/devtools';
import {
  isClusterUrl,
  makeProducerConnection,
  makeRedisClient,
  makeWorkerConnection,
  parseClusterUrl,
  waitForReady,
  type RedisClient,
} from './connections.ts';
import { DeliveryLog } from './delivery-log.ts';
import { SandboxStore } from './sandbox-store.ts';
import { SessionStore } from './session-store.ts';
import { SessionWatcher } from './session-watcher.ts';
import { coalesceWrites } from './write-coalescing.ts';

describe('parseClusterUrl', () => {
  it('reads the seed nodes, credentials and TLS of a redis+cluster:// URL', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001,redis-3')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: 'redis-3', port: 6379 },
      ],
      tls: false,
    });
    expect(parseClusterUrl('rediss+cluster://baton:p%40ss:w@[::1]:7000/')).toEqual({
      nodes: [{ host: '::1', port: 7000 }],
      username: 'baton',
      password: 'p@ss:w',
      tls: true,
    });
    expect(parseClusterUrl('redis+cluster://:secret@h:1')).toMatchObject({ password: 'secret' });
    expect(parseClusterUrl('redis://127.0.0.1:6379')).toBeNull();
    expect(isClusterUrl('redis+cluster://h:1')).toBe(true);
    expect(isClusterUrl('redis://h:1')).toBe(false);
  });
});

let cluster: RedisCluster;
let redis: RedisClient;
let subscriber: RedisClient;
const prefix = `t-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
  redis = makeWorkerConnection(cluster.url, 'cluster-test');
  subscriber = makeWorkerConnection(cluster.url, 'cluster-test-sub');
  await Promise.all([waitForReady(redis, cluster.url), waitForReady(subscriber, cluster.url)]);
}, 30_000);
afterAll(async () => {
  redis?.disconnect();
  subscriber?.disconnect();
  await cluster?.dispose();
});

/** Session ids whose keys land on each of the cluster's masters, `perNode` per master. */
async function spreadIds(perNode: number): Promise<string[]> {
  const byNode = new Map<string, string[]>();
  const masters = (redis as Cluster).nodes('master');
  while ([...byNode.values()].filter((ids) => ids.length >= perNode).length < masters.length) {
    const id = randomUUID();
    const slot = (await redis.call('CLUSTER', 'KEYSLOT', `{${id}}`)) as number;
    const owner = masterOf(slot);
    const ids = byNode.get(owner) ?? [];
    if (ids.length < perNode) ids.push(id);
    byNode.set(owner, ids);
  }
  return [...byNode.values()].flat();
}

function masterOf(slot: number): string {
  return (redis as Cluster).slots[slot]?.[0] ?? '';
}

/** Which master holds each key under the prefix (KEYS on each node sees only its own). */
async function keysByNode(pattern: string): Promise<string[][]> {
  return Promise.all((redis as Cluster).nodes('master').map((node: Redis) => node.keys(pattern)));
}

describe('on a Redis Cluster', () => {
  it('coalesces the writes to each node: one turn\'s commands to every master, one write each', async () => {
    const client = makeWorkerConnection(cluster.url, 'coalesce') as Cluster;
    try {
      await waitForReady(client, cluster.url);
      coalesceWrites(client);
      const masters = client.nodes('master');
      expect(masters.length).toBe(3);
      // A key on each master (found by asking the cluster which node serves it).
      const keys = new Map<Redis, string>();
      for (let i = 0; keys.size < masters.length; i++) {
        const key = `coalesce-${randomUUID()}`;
        const slot = Number(await client.cluster('KEYSLOT', key));
        const owner = masters.find((m) => (client as unknown as { slots: string[][] }).slots[slot]?.[0] === `${m.options.host}:${m.options.port}`);
        if (owner && !keys.has(owner)) keys.set(owner, key);
      }
      // A cluster connects to each node on its first command: connect them all first.
      await Promise.all(masters.map((node) => node.ping()));
      const writes = new Map<Redis, number>();
      for (const node of masters) {
        const socket = node.stream as unknown as { _write: Function; _writev: Function };
        writes.set(node, 0);
        for (const method of ['_write', '_writev'] as const) {
          const original = socket[method].bind(socket);
          socket[method] = (...args: unknown[]) => (writes.set(node, (writes.get(node) ?? 0) + 1), original(...args));
        }
      }
      const replies = await Promise.all([...keys.values()].flatMap((key) => [client.set(key, 'a'), client.append(key, 'b'), client.get(key)]));
      expect(replies).toEqual([...keys.values()].flatMap(() => ['OK', 2, 'ab']));
      expect([...writes.values()]).toEqual([1, 1, 1]);
    } finally {
      client.disconnect();
    }
  });

  it('makes Cluster clients with the per-role options', () => {
    const producer = makeProducerConnection(cluster.url, 'p') as Cluster;
    try {
      expect(producer).toBeInstanceOf(Cluster);
      expect(producer.options.enableOfflineQueue).toBe(false);
      // Cluster-wide options given per role reach the Cluster, not only its nodes.
      const pipelined = makeRedisClient(cluster.url, { lazyConnect: true, enableAutoPipelining: true }) as Cluster;
      expect(pipelined.options.enableAutoPipelining).toBe(true);
      pipelined.disconnect();
      expect(producer.options.redisOptions).toMatchObject({ connectionName: 'p', maxRetriesPerRequest: 1 });
      expect((redis as Cluster).options.redisOptions).toMatchObject({ maxRetriesPerRequest: null });
      expect(makeRedisClient('redis://127.0.0.1:1', { lazyConnect: true })).toBeInstanceOf(Redis);
    } finally {
      producer.disconnect();
    }
  });

  it('runs the session scripts with sessions on every master; the global indexes are single keys', async () => {
    const store = new SessionStore(redis, { prefix, runningGraceMs: 5_000 });
    const ids = await spreadIds(2);
    for (const id of ids) expect(await store.create({ sessionId: id, agent: 'echo', tenant: '', state: [] })).toBe(true);

    for (const id of ids) {
      const turnA = randomUUID();
      const turnB = randomUUID();
      const message = (content: string) => ({ role: 'user' as const, content });
      expect(await store.submit({ sessionId: id, turnId: turnA, message: message('a'), webhook: null, policy: 'reject' })).toEqual({ kind: 'started', turnId: turnA });
      expect(await store.submit({ sessionId: id, turnId: turnB, message: message('b'), webhook: null, policy: 'enqueue' })).toMatchObject({ kind: 'queued' });
      const claim = await store.claim(id, turnA);
      if (claim.kind !== 'ok') throw new Error(claim.kind);
      const done = await store.finish(id, turnA, claim.fence, { ok: true, reply: { role: 'assistant', content: 'echo: a' } });
      expect(done).toMatchObject({ kind: 'ok', nextTurnId: turnB });
    }
    const page = await store.list(100);
    expect(page.items.map((v) => v.session_id).sort()).toEqual([...ids].sort());
    expect(page.items.every((v) => v.status === 'running' && v.total_messages === 3)).toBe(true);
    expect((await store.running.due(100)).length).toBe(0);

    // Each session's keys sit together on one master, and every master holds some.
    const perNode = await keysByNode(`${prefix}:sess:*`);
    for (const id of ids) expect(perNode.filter((keys) => keys.some((k) => k.includes(id)))).toHaveLength(1);
    expect(perNode.every((keys) => keys.length > 0)).toBe(true);

    for (const id of ids) expect(await store.delete(id)).toMatchObject({ status: 'running' });
    expect(await store.count()).toBe(0);
  });

  it('wakes a watcher on any node for a change published by a script on another', async () => {
    const store = new SessionStore(redis, { prefix, runningGraceMs: 5_000 });
    const watcher = new SessionWatcher(subscriber);
    const ids = await spreadIds(1);
    for (const id of ids) await store.create({ sessionId: id, agent: 'echo', tenant: '', state: [] });
    const watches = await Promise.all(ids.map((id) => watcher.watch(store.sessionKeys(id).events)));
    const woken = watches.map((w) => w.next(20_000));
    for (const id of ids) await store.submit({ sessionId: id, turnId: randomUUID(), message: null, webhook: null, policy: 'reject' });
    await Promise.all(woken);
    for (const w of watches) w.close();
    expect(watcher.channels).toBe(0);
  });

  it('reads many sandboxes (each in its own slot) and writes delivery logs', async () => {
    const sandboxes = new SandboxStore(redis, { prefix });
    const created = await Promise.all(Array.from({ length: 9 }, () => sandboxes.create({ sandboxSpecId: 's', conversationIds: [randomUUID()] })));
    const ids = created.map((r) => r?.id as string);
    expect((await sandboxes.getMany(ids)).map((r) => r?.id)).toEqual(ids);
    expect((await sandboxes.list(100)).items).toHaveLength(9);
    expect(await sandboxes.removeConversation(ids[0] as string, created[0]?.conversation_ids[0] as string)).toBe(0);
    expect(await sandboxes.remove(ids[0] as string)).toBe(true);

    const log = new DeliveryLog(redis, prefix);
    const [sessionId] = await spreadIds(1);
    const delivery = {
      id: 'd1', webhook_id: 'msg_t', session_id: sessionId as string, turn_id: 't', type: 'turn.completed' as const,
      target: 'message' as const, url: 'https://example.com', body: '{}', status: 'pending' as const, attempts: [],
      schedule_base: 0, redeliveries: 0, next_attempt_at: null, created_at: new Date().toISOString(),
    };
    expect(await log.add(delivery)).toBe(true);
    expect(await log.add(delivery)).toBe(false);
    await log.addDeadLetter({ session_id: sessionId as string, id: 'd1', tenant: 't_a' });
    expect(await log.deadLetters(10)).toMatchObject([{ session_id: sessionId, delivery_id: 'd1' }]);
    expect(await log.deadLetters(10, 't_a')).toMatchObject([{ session_id: sessionId, delivery_id: 'd1' }]);
    expect(await log.deadLetters(10, 't_b')).toEqual([]);
  });
});
