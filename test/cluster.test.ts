import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { Cluster } from 'ioredis';
import { CLUSTER_DEFAULT_SHARDS, keySlot, queueShardPrefixes, shardOf } from '@baton/core';
import { RedisCluster } from '@baton/devtools';
import { isClusterUrl } from '@baton/store';
import { Baton, http, waitForIdle } from './support/baton.ts';

// Runs on the run's cluster under `npm run test:cluster`, else on a private one of its own.
let own: RedisCluster | null = null;
let baton: Baton;
let cluster: Cluster;

beforeAll(async () => {
  let redisUrl = inject('redisUrl');
  if (!isClusterUrl(redisUrl)) {
    own = await RedisCluster.start({ masters: 3 });
    redisUrl = own.url;
  }
  baton = await Baton.start({ redisUrl, workers: 2, env: { ECHO_DELAY_MS: '300' } });
  cluster = baton.redis as Cluster;
  if (cluster.status === 'wait') await cluster.connect(); // resolves once it knows every slot's node
});
afterAll(async () => {
  await baton?.stop();
  await own?.dispose();
});

/** Session ids whose keys land on each master of the cluster, `perNode` on each. */
async function idsOnEveryMaster(perNode: number): Promise<Map<string, string[]>> {
  const masters = cluster.nodes('master');
  const byNode = new Map<string, string[]>(masters.map((m) => [`${m.options.host}:${m.options.port}`, []]));
  while ([...byNode.values()].some((ids) => ids.length < perNode)) {
    const id = randomUUID();
    const slot = (await cluster.call('CLUSTER', 'KEYSLOT', `{${id}}`)) as number;
    const owner = cluster.slots[slot]?.[0] ?? '';
    const ids = byNode.get(owner);
    if (ids && ids.length < perNode) ids.push(id);
  }
  return byNode;
}

it('runs turns end to end on a Redis Cluster, with sessions on all three masters', async () => {
  expect(baton.redis.isCluster).toBe(true);
  const byNode = await idsOnEveryMaster(2);
  expect(byNode.size).toBe(3);
  const ids = [...byNode.values()].flat();

  for (const id of ids) expect((await http(baton.url, 'PUT', `/sessions/${id}`)).status).toBe(201);
  // Two messages each: the second waits in the session's inbox behind the first.
  for (const id of ids) {
    expect((await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: `one ${id}` })).status).toBe(202);
    const queued = await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: `two ${id}`, if_busy: 'enqueue' });
    expect(queued.body).toMatchObject({ status: 'running', queued: true });
  }
  // Long-polls are woken over pub/sub by scripts running on each session's node.
  for (const id of ids) {
    const view = await waitForIdle(baton.url, id, 20);
    expect(view).toMatchObject({ status: 'idle', total_messages: 4, pending_messages: 0, response: { content: `echo: two ${id}` } });
    expect((await http(baton.url, 'GET', `/sessions/${id}/messages`)).body.map((m: { content: string }) => m.content)).toEqual([
      `one ${id}`,
      `echo: one ${id}`,
      `two ${id}`,
      `echo: two ${id}`,
    ]);
  }
  const listed = (await http(baton.url, 'GET', '/sessions?limit=200')).body.map((s: { session_id: string }) => s.session_id);
  expect([...listed].sort()).toEqual([...ids].sort());

  // Each master holds the keys of the sessions we placed on it, and only those.
  for (const [address, expected] of byNode) {
    const node = cluster.nodes('master').find((m) => `${m.options.host}:${m.options.port}` === address);
    const keys = (await node?.keys(`${baton.prefix}:sess:*`)) ?? [];
    const held = [...new Set(keys.map((k) => /\{([^}]+)\}/.exec(k)?.[1]))].sort();
    expect(held).toEqual([...expected].sort());
  }
});

it('spreads the queues over the masters: each shard under its own hash tag, shards on every master (16 by default)', async () => {
  const masters = cluster.nodes('master');
  const address = (m: (typeof masters)[number]) => `${m.options.host}:${m.options.port}`;
  const prefixes = queueShardPrefixes(baton.prefix, 'turns', CLUSTER_DEFAULT_SHARDS);
  const masterOf = (key: string) => cluster.slots[keySlot(key)]?.[0] ?? '';
  // The default layout on a cluster puts shards on all three masters (6/5/5).
  expect(new Set(prefixes.map((p) => masterOf(`${p}:turns:wait`))).size).toBe(3);

  // A session per master, by the master of its turn queue shard.
  const byMaster = new Map<string, string>();
  while (byMaster.size < 3) {
    const id = randomUUID();
    const owner = masterOf(`${prefixes[shardOf(id, CLUSTER_DEFAULT_SHARDS)]}:turns:wait`);
    if (!byMaster.has(owner)) byMaster.set(owner, id);
  }
  for (const id of byMaster.values()) {
    expect((await http(baton.url, 'PUT', `/sessions/${id}`)).status).toBe(201);
    expect((await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'hi' })).status).toBe(202);
  }
  for (const id of byMaster.values()) expect(await waitForIdle(baton.url, id, 20)).toMatchObject({ response: { content: 'echo: hi' } });

  // Every master ran turns from a shard of its own: its finished jobs sit there, in the
  // shard of their session; nothing went to the unsharded `{prefix}` layout.
  for (const [owner, id] of byMaster) {
    const shard = prefixes[shardOf(id, CLUSTER_DEFAULT_SHARDS)]!;
    const node = masters.find((m) => address(m) === owner)!;
    expect(await node.zcard(`${shard}:turns:completed`)).toBeGreaterThanOrEqual(1);
  }
  for (const master of masters) expect(await master.keys(`{${baton.prefix}}:turns:*`)).toEqual([]);
});
