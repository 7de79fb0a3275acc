import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import { pino } from 'pino';
import { RedisCluster } from '@baton/devtools';
import { TurnQueue } from '@baton/queue';
import { SessionStore, makeWorkerConnection, waitForReady } from '@baton/store';
import { reapOnce } from './reaper.ts';

/**
 * The reaper's batch check on a Redis Cluster: each session's keys in a slot of their own
 * (read one command each), the index in another, the job hashes under each queue shard's
 * hash tag (one script call per shard).
 */
const GRACE = 50;
const T0 = 1_700_000_000_000;
let cluster: RedisCluster;
let redis: Cluster;

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
  redis = makeWorkerConnection(cluster.url, 'reaper-cluster-test') as Cluster;
  await waitForReady(redis, cluster.url);
}, 60_000);
afterAll(async () => {
  redis?.disconnect();
  await cluster?.dispose();
});

/**
 * Two session ids per master, grouped by master: on the n-th master, one in queue shard n and
 * one in shard n + 1 (of 3), so each role below spans masters and shards.
 */
async function idsOnEveryMaster(queue: TurnQueue): Promise<string[][]> {
  const masters = redis.nodes('master').map((m) => `${m.options.host}:${m.options.port}`);
  const byNode = masters.map((): string[] => []);
  while (byNode.some((ids) => ids.length < 2)) {
    const id = randomUUID();
    const slot = (await redis.call('CLUSTER', 'KEYSLOT', `{${id}}`)) as number;
    const n = masters.indexOf(redis.slots[slot]?.[0] ?? '');
    const ids = byNode[n];
    if (ids && ids.length < 2 && queue.shardOf(id) === (n + ids.length) % 3) ids.push(id);
  }
  return byNode;
}

it('postpones healthy turns, enqueues orphans and drops a finished session\'s entry, with sessions on every master and 3 queue shards', async () => {
  let clock = T0;
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const store = new SessionStore(redis, { prefix, runningGraceMs: GRACE, now: () => clock });
  const queue = new TurnQueue(redis, prefix, 3);
  try {
    const byNode = await idsOnEveryMaster(queue);
    const turns = new Map<string, string>();
    for (const id of byNode.flat()) {
      await store.create({ sessionId: id, agent: 'echo', tenant: '', state: [] });
      const turnId = randomUUID();
      expect(await store.submit({ sessionId: id, turnId, message: { role: 'user', content: 'hi' }, webhook: null, policy: 'reject' })).toMatchObject({ kind: 'started' });
      turns.set(id, turnId);
    }
    // On each master: one healthy turn (its job queued) and one orphan (no job); one session's turn ended.
    const healthy = byNode.map((ids) => ids[0] as string);
    const orphans = byNode.map((ids) => ids[1] as string);
    for (const id of healthy) await queue.enqueue({ session_id: id, turn_id: turns.get(id)! });
    const ended = orphans.pop() as string;
    const claim = await store.claim(ended, turns.get(ended)!);
    if (claim.kind !== 'ok') throw new Error(claim.kind);
    await store.finish(ended, turns.get(ended)!, claim.fence, { ok: true, reply: { role: 'assistant', content: 'echo: hi' } });

    // The batch reads themselves (a pass whose batch read throws checks its entries one by one).
    const live = [...healthy, ...orphans];
    expect(await store.running.turnIds([...live, ended, 'gone'])).toEqual([
      ...live.map((id) => ({ status: 'running', turnId: turns.get(id), run: 0 })),
      { status: 'idle', turnId: turns.get(ended), run: 0 },
      null,
    ]);
    expect(await queue.aliveJobs(live.map((id) => ({ sessionId: id, turnId: turns.get(id)!, run: 0 })))).toEqual(live.map((id) => healthy.includes(id)));

    clock = T0 + GRACE;
    const deps = { store, queue, logger: pino({ level: 'silent' }), flushOutbox: async () => {}, graceMs: GRACE, now: () => clock };
    expect(await reapOnce(deps)).toBe(orphans.length);

    for (const id of healthy) {
      expect(Number(await redis.zscore(store.keys.running, id))).toBe(clock + GRACE);
      expect((await queue.queueFor(id).getJobCounts('wait')).wait).toBeGreaterThan(0);
    }
    for (const id of orphans) {
      expect(await queue.jobState(id, turns.get(id)!)).toEqual({ state: 'alive' });
      expect(Number(await redis.zscore(store.keys.running, id))).toBe(clock + GRACE);
    }
    expect(await redis.zscore(store.keys.running, ended)).toBeNull();
  } finally {
    await queue.close();
  }
}, 30_000);
