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
import { type LoadResult, mergeLoads, round, runLoad, summary } from './load.ts';

const REQUESTS = Number(process.env.BENCH_DURABILITY_REQUESTS ?? 3_000);
const WARMUP = 300;
const ROUNDS = 3;

type Mode = 'everysec' | 'always' | 'wait1';

interface Setup {
  mode: Mode;
  api: BatonProcess;
  ids: string[];
  next: number;
  stop: () => Promise<void>;
}

/** A Redis (with a replica for `wait1`) and an API process for one mode, with idle sessions to post to. */
async function setUp(mode: Mode, sessions: number, quiet: Record<string, string>): Promise<Setup> {
  const redis = await RedisServer.start({ appendonly: true, appendfsync: mode === 'always' ? 'always' : 'everysec' });
  const replica = mode === 'wait1' ? await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(redis.port)] }) : null;
  const client = new Redis(redis.url);
  let api: BatonProcess | null = null;
  const stop = async () => {
    await api?.stop();
    client.disconnect();
    await replica?.dispose();
    await redis.dispose();
  };
  try {
    if (replica) {
      await waitUntil(async () => /^slave0:.*state=online/m.test(await client.info('replication')), { timeoutMs: 30_000, what: 'the replica online' });
    }
    const prefix = 'bench';
    const store = new SessionStore(client, { prefix, runningGraceMs: 60_000 });
    const ids = Array.from({ length: sessions }, () => randomUUID());
    for (let i = 0; i < ids.length; i += 500) {
      await Promise.all(ids.slice(i, i + 500).map((sessionId) => store.create({ sessionId, agent: 'echo', tenant: '', state: [] })));
    }
    api = await BatonProcess.start('api', {
      REDIS_URL: redis.url,
      BATON_PREFIX: prefix,
      ...quiet,
      ...(mode === 'wait1' ? { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '1000' } : {}),
    });
    return { mode, api, ids, next: 0, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function post(setup: Setup, connections: number, total: number): Promise<LoadResult> {
  const next = () => ({ method: 'POST', path: `/sessions/${setup.ids[setup.next++]}/messages`, body: { content: 'hello' } });
  return runLoad({ baseUrl: setup.api.url, connections, total, next });
}

/**
 * The three modes side by side: all set up first, warmed up, then measured in alternating
 * rounds (as (a) does), so a busier moment of the machine hits every mode alike.
 */
export async function durabilityPhase(connections: number, quiet: Record<string, string>) {
  const modes: Mode[] = ['everysec', 'always', 'wait1'];
  const setups: Setup[] = [];
  try {
    for (const mode of modes) setups.push(await setUp(mode, REQUESTS + WARMUP, quiet));
    for (const setup of setups) await post(setup, connections, WARMUP);
    const rounds = new Map<Mode, LoadResult[]>(modes.map((m) => [m, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const setup of setups) rounds.get(setup.mode)?.push(await post(setup, connections, REQUESTS / ROUNDS));
    }
    const results = Object.fromEntries(modes.map((m) => [m, summary(mergeLoads(rounds.get(m) ?? []))]));
    const base = results.everysec?.per_second ?? NaN;
    return {
      connections,
      requests_per_mode: REQUESTS,
      rounds: ROUNDS,
      modes: Object.fromEntries(
        Object.entries(results).map(([mode, r]) => [mode, { ...r, accepted: r.statuses[202] ?? 0, throughput_vs_everysec: round(r.per_second / base) }]),
      ),
    };
  } finally {
    await Promise.all(setups.map((s) => s.stop()));
  }
}
