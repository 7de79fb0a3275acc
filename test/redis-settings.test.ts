import { afterEach, describe, expect, it } from 'vitest';
import { BatonProcess, RedisServer } from '@baton/devtools';

/**
 * A Redis that may evict keys loses accepted sessions when it fills up: API and worker
 * processes refuse to start on one, unless told REDIS_ALLOW_EVICTION=true. A Redis that
 * persists nothing gets a warning at start. Each test runs its own redis-server.
 */
const servers: RedisServer[] = [];
const processes: BatonProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  await Promise.all(servers.splice(0).map((s) => s.dispose()));
});

async function redis(args: string[], appendonly = true): Promise<RedisServer> {
  const server = await RedisServer.start({ args, appendonly });
  servers.push(server);
  return server;
}

async function start(kind: 'api' | 'worker', env: Record<string, string>): Promise<BatonProcess> {
  const proc = await BatonProcess.start(kind, { BATON_PREFIX: 'settings', LOG_PRETTY: 'false', ...env });
  processes.push(proc);
  return proc;
}

/** Starts a process that must refuse: resolves with what it printed. */
async function refusedStart(kind: 'api' | 'worker', env: Record<string, string>): Promise<string> {
  const err = await start(kind, env).then(() => null, (e: unknown) => e as Error);
  expect(err?.message).toContain(`${kind} exited with 1 before it was ready`);
  return err?.message ?? '';
}

describe('maxmemory-policy', () => {
  it('API and worker refuse to start on allkeys-lru, naming the setting and the fix', async () => {
    const server = await redis(['--maxmemory-policy', 'allkeys-lru']);
    for (const kind of ['api', 'worker'] as const) {
      const output = await refusedStart(kind, { REDIS_URL: server.url });
      expect(output).toContain(`baton-${kind}: Redis would evict Baton's data: 127.0.0.1:${server.port} has maxmemory-policy allkeys-lru`);
      expect(output).toContain('Set `maxmemory-policy noeviction`');
      expect(output).toContain('REDIS_ALLOW_EVICTION=true');
    }
  });

  it('REDIS_ALLOW_EVICTION=true starts them anyway, with a warning', async () => {
    const server = await redis(['--maxmemory-policy', 'allkeys-lru']);
    for (const kind of ['api', 'worker'] as const) {
      const proc = await start(kind, { REDIS_URL: server.url, REDIS_ALLOW_EVICTION: 'true' });
      expect(proc.count(/"level":40.*maxmemory-policy allkeys-lru \(REDIS_ALLOW_EVICTION=true\)/)).toBe(1);
    }
  });

  it('noeviction with AOF: they start without a word about Redis settings', async () => {
    const server = await redis([]);
    for (const kind of ['api', 'worker'] as const) {
      const proc = await start(kind, { REDIS_URL: server.url });
      expect(proc.output).not.toMatch(/maxmemory-policy|no persistence/);
    }
  });
});

describe('persistence', () => {
  it('a Redis with neither AOF nor save points gets one warning at start from each process', async () => {
    const server = await redis([], false);
    for (const kind of ['api', 'worker'] as const) {
      const proc = await start(kind, { REDIS_URL: server.url });
      expect(proc.count(/"level":40.*has no persistence \(appendonly no, no save points\)/)).toBe(1);
    }
  });
});
