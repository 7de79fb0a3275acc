import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ConfigError } from '@baton/core';
import { RedisCluster, RedisServer } from '@baton/devtools';
import { makeRedisClient, type RedisClient } from './connections.ts';
import { checkRedisSettings } from './redis-settings.ts';

/** Each test's own redis-server(s) and clients, stopped after it. */
const servers: RedisServer[] = [];
const clients: RedisClient[] = [];
async function server(args: string[], appendonly = false): Promise<RedisClient> {
  const s = await RedisServer.start({ args, appendonly });
  servers.push(s);
  const client = makeRedisClient(s.url, { maxRetriesPerRequest: 1 });
  clients.push(client);
  return client;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(servers.splice(0).map((s) => s.dispose()));
});

/** The default user may do everything but `denied` (as managed Redis services set it up). */
const acl = (...denied: string[]) => ['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', ...denied];

async function refusal(redis: RedisClient, allowEviction = false): Promise<string> {
  const err = await checkRedisSettings(redis, { allowEviction }).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return (err as Error).message;
}

describe('checkRedisSettings', () => {
  it('refuses maxmemory-policy allkeys-lru, naming the setting, its fix and the override', async () => {
    const redis = await server(['--maxmemory-policy', 'allkeys-lru']);
    const message = await refusal(redis);
    expect(message).toContain('maxmemory-policy allkeys-lru');
    expect(message).toContain('maxmemory-policy noeviction');
    expect(message).toContain('REDIS_ALLOW_EVICTION=true');
  });

  it('starts with REDIS_ALLOW_EVICTION, and says so in a warning', async () => {
    const redis = await server(['--maxmemory-policy', 'volatile-lru'], true);
    const report = await checkRedisSettings(redis, { allowEviction: true });
    expect(report.warnings).toEqual([expect.stringContaining('maxmemory-policy volatile-lru (REDIS_ALLOW_EVICTION=true)')]);
  });

  it('accepts noeviction with AOF on: no warning', async () => {
    const redis = await server([], true);
    expect(await checkRedisSettings(redis, { allowEviction: false })).toMatchObject({
      nodes: [{ policy: 'noeviction', persistenceOff: false }],
      warnings: [],
    });
  });

  it('accepts RDB save points alone as persistence', async () => {
    const redis = await server(['--save', '3600 1']);
    expect((await checkRedisSettings(redis, { allowEviction: false })).warnings).toEqual([]);
  });

  it('warns when Redis persists nothing (no AOF, no save points)', async () => {
    const redis = await server([]);
    const { warnings } = await checkRedisSettings(redis, { allowEviction: false });
    expect(warnings).toEqual([expect.stringMatching(/has no persistence \(appendonly no, no save points\)/)]);
  });

  it('reads the policy from INFO memory where CONFIG is not permitted (managed Redis)', async () => {
    const redis = await server(['--maxmemory-policy', 'allkeys-lru', ...acl('-config')]);
    expect(await refusal(redis)).toContain('maxmemory-policy allkeys-lru');
    // Persistence cannot be read without CONFIG: no warning rather than a guess.
    const noEviction = await server(acl('-config'));
    expect(await checkRedisSettings(noEviction, { allowEviction: false })).toMatchObject({
      nodes: [{ policy: 'noeviction', persistenceOff: null }],
      warnings: [],
    });
  });

  it('warns, rather than refuses, when neither CONFIG nor INFO can be read', async () => {
    const redis = await server(['--maxmemory-policy', 'allkeys-lru', ...acl('-config', '-info')]);
    const { warnings } = await checkRedisSettings(redis, { allowEviction: false });
    expect(warnings).toEqual([expect.stringMatching(/^Could not read maxmemory-policy of Redis at 127\.0\.0\.1:\d+ .*make sure it is noeviction/)]);
  });
});

describe('checkRedisSettings on a Redis Cluster', () => {
  let cluster: RedisCluster | undefined;
  afterAll(async () => {
    await cluster?.dispose();
  });

  it('checks every master: one evicting master is refused by name', async () => {
    cluster = await RedisCluster.start();
    const client = makeRedisClient(`redis+cluster://${cluster.nodes}`, { maxRetriesPerRequest: 1 });
    clients.push(client);
    expect((await checkRedisSettings(client, { allowEviction: false })).nodes).toHaveLength(3);
    const last = cluster.addresses[2] as string;
    const direct = new Redis(`redis://${last}`);
    await direct.config('SET', 'maxmemory-policy', 'allkeys-lfu');
    direct.disconnect();
    const message = await refusal(client);
    expect(message).toContain(`${last} has maxmemory-policy allkeys-lfu`);
    for (const other of cluster.addresses.slice(0, 2)) expect(message).not.toContain(other);
  }, 60_000);
});
