/**
 * Phase (e) of `npm run bench`: what the durability modes cost a POST /messages. Each mode
 * gets a Redis of its own with AOF on (as production should run), one API process, and the
 * same closed-loop load as (a):
 * - `everysec`: the default (`appendfsync everysec`): a host crash may lose about the last second;
 * - `always`: `appendfsync always`, the AOF is fsynced before Redis answers a write;
 * - `wait1`: `everysec` plus a real replica (`replicaof`) and REDIS_WAIT_REPLICAS=1: the API
 *   answers once the replica has the turn.
 */
import { randomUUID } from 'node:crypto';
import { BatonProcess, RedisServer, waitUntil } from '@baton/devtools';
import { Redis } from 'ioredis';
import { SessionStore } from '@baton/store';
import { round, runLoad, summary } from './load.ts';

const REQUESTS = Number(process.env.BENCH_DURABILITY_REQUESTS ?? 3_000);
const WARMUP = 500;

type Mode = 'everysec' | 'always' | 'wait1';

async function measure(mode: Mode, connections: number, quiet: Record<string, string>) {
  const redis = await RedisServer.start({ appendonly: true, appendfsync: mode === 'always' ? 'always' : 'everysec' });
  const replica = mode === 'wait1' ? await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(redis.port)] }) : null;
  const client = new Redis(redis.url);
  let api: BatonProcess | null = null;
  try {
    if (replica) {
      await waitUntil(async () => /^slave0:.*state=online/m.test(await client.info('replication')), { timeoutMs: 30_000, what: 'the replica online' });
    }
    const prefix = 'bench';
    const store = new SessionStore(client, { prefix, runningGraceMs: 60_000 });
    const ids = Array.from({ length: REQUESTS + WARMUP }, () => randomUUID());
    for (let i = 0; i < ids.length; i += 500) {
      await Promise.all(ids.slice(i, i + 500).map((sessionId) => store.create({ sessionId, agent: 'echo', tenant: '', state: [] })));
    }
    api = await BatonProcess.start('api', {
      REDIS_URL: redis.url,
      BATON_PREFIX: prefix,
      ...quiet,
      ...(mode === 'wait1' ? { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '1000' } : {}),
    });
    let next = 0;
    const request = () => ({ method: 'POST', path: `/sessions/${ids[next++]}/messages`, body: { content: 'hello' } });
    await runLoad({ baseUrl: api.url, connections, total: WARMUP, next: request });
    const result = summary(await runLoad({ baseUrl: api.url, connections, total: REQUESTS, next: request }));
    const accepted = result.statuses[202] ?? 0;
    return { ...result, accepted };
  } finally {
    await api?.stop();
    client.disconnect();
    await replica?.dispose();
    await redis.dispose();
  }
}

export async function durabilityPhase(connections: number, quiet: Record<string, string>) {
  const modes: Mode[] = ['everysec', 'always', 'wait1'];
  const results: Record<string, Awaited<ReturnType<typeof measure>>> = {};
  for (const mode of modes) results[mode] = await measure(mode, connections, quiet);
  const base = results.everysec?.per_second ?? NaN;
  return {
    connections,
    requests_per_mode: REQUESTS,
    modes: Object.fromEntries(
      Object.entries(results).map(([mode, r]) => [mode, { ...r, throughput_vs_everysec: round(r.per_second / base) }]),
    ),
  };
}
