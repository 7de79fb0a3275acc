import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * A connection to one Redis server or to a Redis Cluster. Both have the same command
 * API; Baton keeps every multi-key command and Lua script inside one hash tag, so all
 * its code runs unchanged on either (`isCluster` tells them apart where it matters).
 */
export type RedisClient = Redis | Cluster;

/** Seed nodes and credentials of a `redis+cluster://` URL. */
export interface ClusterTarget {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)/;

/** True for `redis+cluster://…` and `rediss+cluster://…` URLs. */
export function isClusterUrl(url: string): boolean {
  return CLUSTER_URL.test(url);
}

/**
 * `redis+cluster://[user:password@]host:port,host:port,…` (`rediss+cluster://` for TLS):
 * any reachable node(s) of a Redis Cluster; the client discovers the others. Null for
 * any other URL (a single server).
 */
export function parseClusterUrl(url: string): ClusterTarget | null {
  const m = CLUSTER_URL.exec(url);
  if (!m) return null;
  const [, scheme, auth, hosts] = m as unknown as [string, string, string | undefined, string];
  const nodes = hosts.split(',').map((entry) => {
    const hostPort = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry.trim());
    if (!hostPort) throw new Error(`invalid node "${entry}" in the Redis Cluster URL`);
    return { host: (hostPort[1] as string).replace(/^\[|\]$/g, ''), port: Number(hostPort[2] ?? 6379) };
  });
  const target: ClusterTarget = { nodes, tls: scheme === 'rediss' };
  if (auth) {
    const [user, ...rest] = auth.split(':');
    if (rest.length) {
      if (user) target.username = decodeURIComponent(user);
      target.password = decodeURIComponent(rest.join(':'));
    } else if (user) {
      target.password = decodeURIComponent(user);
    }
  }
  return target;
}

/**
 * A client for `url`: an ioredis `Cluster` for a `redis+cluster://` URL, else a `Redis`.
 * `options` are a single server's options; on a cluster the connection-wide ones
 * (offline queue, retry strategy, auto-pipelining, lazy connect) apply to the cluster
 * and the rest to its connection to each node.
 */
export function makeRedisClient(url: string, options: RedisOptions = {}): RedisClient {
  const target = parseClusterUrl(url);
  if (!target) return new Redis(url, options);
  const { enableOfflineQueue, retryStrategy, enableAutoPipelining, lazyConnect, ...nodeOptions } = options;
  const clusterOptions: ClusterOptions = {
    redisOptions: {
      ...nodeOptions,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  };
  if (enableOfflineQueue !== undefined) clusterOptions.enableOfflineQueue = enableOfflineQueue;
  if (retryStrategy) clusterOptions.clusterRetryStrategy = retryStrategy;
  if (enableAutoPipelining !== undefined) clusterOptions.enableAutoPipelining = enableAutoPipelining;
  if (lazyConnect !== undefined) clusterOptions.lazyConnect = lazyConnect;
  return new Cluster(target.nodes, clusterOptions);
}

/**
 * True for Redis's refusal of a write at `maxmemory` under `noeviction` ("OOM command not
 * allowed when used memory > 'maxmemory'"), whether a command or a script's first write got it.
 */
export function isRedisFull(err: unknown): boolean {
  return /^OOM command not allowed/.test((err as { message?: string } | null)?.message ?? '');
}

/**
 * Producers (the API) fail fast when Redis is away: a request gets a 503 at once
 * rather than a 202 for a turn that was never stored. Workers and subscribers wait
 * for Redis to come back (`maxRetriesPerRequest: null`, as BullMQ workers require).
 */
export function makeProducerConnection(url: string, name: string): RedisClient {
  return makeRedisClient(url, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Auto-pipelining was measured (npm run bench, phase a): it saves Redis CPU (44 vs 60 µs
    // a POST) but delays each write to the next tick, and submission throughput fell
    // (0.60× vs 0.65× the baseline). Left off.
    enableAutoPipelining: false,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  } satisfies RedisOptions);
}

export function makeWorkerConnection(url: string, name: string): RedisClient {
  return makeRedisClient(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  } satisfies RedisOptions);
}

/**
 * Resolves when the connection is ready (a cluster: when it knows every slot's node
 * and CLUSTER INFO says ok); rejects with a message that says what to do.
 */
export function waitForReady(redis: RedisClient, url: string, timeoutMs = 10_000): Promise<void> {
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
      redis.off('node error', onError);
    };
    redis.on('ready', onReady);
    redis.on('error', onError);
    // A cluster reports each unreachable node on its own.
    redis.on('node error', onError);
  });
}
