import { defineConfig } from 'vitest/config';
import { SOURCE_CONDITIONS } from './vitest.config.ts';

/**
 * `npm run test:cluster`: the end-to-end suite against a private 3-master Redis Cluster
 * (test/support/global-redis-cluster.ts). Left out: tests that stop or start a Redis
 * server of their own (a single server is what they are about).
 */
export default defineConfig({
  resolve: { conditions: SOURCE_CONDITIONS },
  ssr: { resolve: { conditions: SOURCE_CONDITIONS } },
  test: {
    name: 'cluster',
    include: ['test/**/*.test.ts'],
    exclude: [
      'test/faults-redis.test.ts', // stops and restarts its own redis-server
      'test/long-poll-scale.test.ts', // its own redis-server, counts its clients
      'test/start.test.ts', // `npm start` with its private redis-server
      'test/console-build.test.ts', // builds the console: no Redis at all
      'test/redis-settings.test.ts', // single redis-servers of its own, with their settings
      'test/storage-full.test.ts', // fills a redis-server of its own
      'test/replication.test.ts', // a redis-server of its own and its replica
    ],
    globalSetup: ['test/support/global-redis-cluster.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
