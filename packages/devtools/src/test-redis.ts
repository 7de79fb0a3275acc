import { afterAll, beforeAll, inject } from 'vitest';
import { Redis } from 'ioredis';

/**
 * A test file's client on the run's test Redis (vitest's `redisUrl`, a private redis-server
 * started for the run): made before the file's tests, given to `set`, closed after them.
 * Vitest-only, so it has an entry of its own (`@baton/devtools/test-redis`).
 */
export function useTestRedis(set: (client: Redis) => void): void {
  let client: Redis | undefined;
  beforeAll(() => {
    client = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    set(client);
  });
  afterAll(async () => {
    await client?.quit();
  });
}
