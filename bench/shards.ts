/**
 * Bench phase `s` (BENCH_PHASES=s): how queue traffic spreads over the masters of a
 * 3-master Redis Cluster, with the unsharded layout (TURN_QUEUE_SHARDS=1) and with
 * sharded queues (16, the cluster default), in the same run. Per master: Redis
 * commands processed (INFO stats total_commands_processed) during a run of turns.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatonProcess, RedisCluster } from '@baton/devtools';

const TURNS = Number(process.env.BENCH_SHARD_TURNS ?? 2_000);
const SESSIONS = 200;
const CONNECTIONS = 20;

export interface LayoutResult {
  shards: number;
  turns: number;
  seconds: number;
  commands_per_master: number[];
  max_over_min: number;
}

export async function shardSpread(quiet: Record<string, string>, log: (...args: unknown[]) => void): Promise<{ layouts: LayoutResult[] }> {
  const cluster = await RedisCluster.start({ masters: 3 });
  const nodes = cluster.addresses.map((address) => new Redis(`redis://${address}`));
  try {
    const layouts: LayoutResult[] = [];
    for (const shards of [1, 16]) {
      const result = await runLayout(cluster.url, nodes, shards, quiet);
      log(result);
      layouts.push(result);
    }
    return { layouts };
  } finally {
    for (const node of nodes) node.disconnect();
    await cluster.dispose();
  }
}

async function runLayout(url: string, nodes: Redis[], shards: number, quiet: Record<string, string>): Promise<LayoutResult> {
  const env = { REDIS_URL: url, BATON_PREFIX: `bench-s${shards}`, TURN_QUEUE_SHARDS: String(shards), ...quiet };
  const api = await BatonProcess.start('api', env);
  const worker = await BatonProcess.start('worker', { ...env, WORKER_CONCURRENCY: '32' });
  try {
    const ids = Array.from({ length: SESSIONS }, () => randomUUID());
    for (const id of ids) await call(api.url, 'PUT', `/sessions/${id}`);
    const before = await Promise.all(nodes.map(commandsProcessed));
    const started = performance.now();
    let next = 0;
    // Each connection: POST to one of its sessions, long-poll until the turn is over, again.
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, conn) => {
        for (let k = 0; next < TURNS; k++) {
          next++;
          const id = ids[(conn + k * CONNECTIONS) % SESSIONS] as string;
          const posted = await call(api.url, 'POST', `/sessions/${id}/messages`, { content: 'hello' });
          if (posted.status !== 202) throw new Error(`POST answered ${posted.status}`);
          while ((await call(api.url, 'GET', `/sessions/${id}?wait=true&timeout=30`)).text.includes('"status":"running"'));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await Promise.all(nodes.map(commandsProcessed));
    // Less the INFO call of `before` itself (one per node): counts only Baton's traffic.
    const perMaster = after.map((n, i) => n - (before[i] as number) - 1);
    return {
      shards,
      turns: TURNS,
      seconds: Math.round(seconds * 10) / 10,
      commands_per_master: perMaster,
      max_over_min: Math.round((Math.max(...perMaster) / Math.max(1, Math.min(...perMaster))) * 100) / 100,
    };
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
  }
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

async function commandsProcessed(node: Redis): Promise<number> {
  const info = await node.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1]);
}
