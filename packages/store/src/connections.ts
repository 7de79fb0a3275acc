import { Redis, type RedisOptions } from 'ioredis';

/**
 * Producers (the API) fail fast when Redis is away: a request gets a 503 at once
 * rather than a 202 for a turn that was never stored. Workers and subscribers wait
 * for Redis to come back (`maxRetriesPerRequest: null`, as BullMQ workers require).
 */
export function makeProducerConnection(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Commands issued in the same tick (many requests' scripts and queue adds) go out in
    // one socket write: fewer syscalls, the API's largest cost after idle time.
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  } satisfies RedisOptions);
}

export function makeWorkerConnection(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  } satisfies RedisOptions);
}

/** Resolves when the connection is ready; rejects with a message that says what to do. */
export function waitForReady(redis: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (err: Error) => {
      lastError = err;
    };
    const timer = setTimeout(() => {
      cleanup();
      const safeUrl = url.replace(/\/\/[^@/]*@/, '//***@');
      reject(
        new Error(
          `Cannot reach Redis at ${safeUrl} (${lastError?.message ?? 'no answer'}). Start Redis or set REDIS_URL to a running one.`,
        ),
      );
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
    };
    redis.on('ready', onReady);
    redis.on('error', onError);
  });
}
