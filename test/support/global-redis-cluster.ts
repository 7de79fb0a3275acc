import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { RedisCluster } from '@baton/devtools';

/**
 * `npm run test:cluster`: one private 3-master Redis Cluster per run. It provides the
 * same `redisUrl` as global-redis.ts, as a `redis+cluster://` URL, so every test runs
 * unchanged against the cluster (the processes and the harness's client understand it).
 */
export default async function setup(project: TestProject) {
  const cluster = await RedisCluster.start({ masters: 3 });
  project.provide('redisUrl', cluster.url);
  return async () => {
    await cluster.dispose();
  };
}
