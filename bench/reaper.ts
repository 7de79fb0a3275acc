/**
 * Bench phase `r`: does the reaper keep up with many active sessions? Simulated with index
 * entries: sessions whose turn is running and whose job is alive (waiting in the queue, as a
 * healthy turn's), their checks spread over the grace period as in steady state. Two reapers
 * (two workers) run the real pass code against them; the figures are how late after its check
 * time each entry was checked over a steady-state grace period (p99 and max), and how long
 * after its check time each of a few orphans (running turns whose job never arrived, due one
 * after another over an interval) was repaired, beside the same with 100 sessions.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { TURN_JOB_NAME, TurnQueue, turnJobOptions } from '@baton/queue';
import { SessionStore } from '@baton/store';
import { startReaper } from '../apps/worker/src/reaper.ts';
import { percentile, round } from './load.ts';

/** The defaults (RUNNING_GRACE_MS, REAPER_INTERVAL_MS): the documented bound is one interval after the check time. */
const GRACE_MS = 10_000;
const INTERVAL_MS = 2_000;
const ORPHANS = 10;
const REAPERS = 2;

export interface ReaperRow {
  sessions: number;
  /** Entries checked per second in steady state (each healthy turn once per grace period). */
  checks_per_s: number;
  /** How late after its check time each entry was checked, over a steady-state grace period (ms). */
  lag_p99_ms: number;
  lag_max_ms: number;
  /** The oldest due entry's wait, sampled from outside every 250 ms over the same period (ms). */
  oldest_due_ms: number;
  orphans: number;
  /** The latest orphan repair after its check time (ms); bound: REAPER_INTERVAL_MS. */
  repair_ms: number;
  /** Seconds of CPU per second in steady state: the reapers (this process) and Redis. */
  cpu_share: number;
  redis_cpu_share: number;
}

export async function reaperBench(redisUrl: string, sizes: number[]): Promise<{ bound_ms: number; rows: ReaperRow[] }> {
  const rows: ReaperRow[] = [];
  for (const size of sizes) rows.push(await oneSize(redisUrl, size));
  return { bound_ms: INTERVAL_MS, rows };
}

async function oneSize(redisUrl: string, size: number): Promise<ReaperRow> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const prefix = `reap${size}x`;
  const store = new SessionStore(client, { prefix, runningGraceMs: GRACE_MS });
  const queue = new TurnQueue(client, prefix);
  const logger = pino({ level: 'silent' });
  try {
    await seed(client, store, queue, size);
    // Healthy turns' checks: due over the last interval and the coming grace period, as in
    // steady state (set once seeding is done, which takes a while at 100,000).
    const now = Date.now();
    const dueAt = (i: number) => now - INTERVAL_MS + Math.floor((i * (GRACE_MS + INTERVAL_MS)) / size);
    for (let from = 0; from < size; from += 10_000) {
      const ids = Array.from({ length: Math.min(10_000, size - from) }, (_, k) => from + k);
      await client.zadd(store.keys.running, ...ids.flatMap((i) => [dueAt(i), `s-${i}`]));
    }
    // Each reaper with its own connection, as in separate workers; both report their checks' lags.
    let lags: number[] | null = null;
    const onChecked = (batch: number[]) => lags?.push(...batch);
    const clients = Array.from({ length: REAPERS }, () => new Redis(redisUrl, { maxRetriesPerRequest: null }));
    const queues = clients.map((c) => new TurnQueue(c, prefix));
    const reapers = clients.map((c, i) =>
      startReaper(
        { store: new SessionStore(c, { prefix, runningGraceMs: GRACE_MS }), queue: queues[i]!, logger, flushOutbox: async () => {}, graceMs: GRACE_MS, onChecked },
        INTERVAL_MS,
      ),
    );
    try {
      // The first passes drain the interval's entries due at once (the seed's); then steady
      // state for one grace period: how late entries are checked.
      await sleep(2 * INTERVAL_MS);
      lags = [];
      const cpu0 = process.cpuUsage();
      const redisCpu0 = await redisCpu(client);
      const started = Date.now();
      let oldest = 0;
      while (Date.now() - started < GRACE_MS) {
        await sleep(250);
        const [, score] = await client.zrange(store.keys.running, 0, 0, 'WITHSCORES');
        oldest = Math.max(oldest, Date.now() - Number(score ?? Date.now()));
      }
      const elapsed = Date.now() - started;
      const cpu = process.cpuUsage(cpu0);
      const redisCpuShare = ((await redisCpu(client)) - redisCpu0) / elapsed;
      const checked: number[] = lags;
      lags = null;

      // Orphans: accepted long ago, no job; due one after another over an interval, so some
      // come due at every point of a pass's cycle.
      const orphanDue = Date.now() + 100;
      const orphans = Array.from({ length: ORPHANS }, (_, i) => ({ id: `orphan-${size}-${i}`, dueAt: orphanDue + Math.floor((i * INTERVAL_MS) / ORPHANS) }));
      const pipe = client.pipeline();
      for (const { id, dueAt } of orphans) {
        pipe.hset(store.sessionKeys(id).meta, 'status', 'running', 'turn_id', `turn-${id}`, 'turn_accepted_at', orphanDue - 2 * GRACE_MS);
        pipe.zadd(store.keys.running, dueAt, id);
      }
      await pipe.exec();
      // Repaired when the reaper enqueued its job: the job's own creation time (the reaper's
      // clock, this process), so this loop's polling adds nothing to the figure.
      const repairMs = new Map<string, number>();
      while (repairMs.size < orphans.length) {
        for (const { id, dueAt } of orphans) {
          if (repairMs.has(id)) continue;
          const job = await queue.queueFor(id).getJob(`turn-${id}`);
          if (job) repairMs.set(id, job.timestamp - dueAt);
        }
        if (repairMs.size < orphans.length) await sleep(50);
        if (Date.now() - orphanDue > 120_000) throw new Error(`reaper bench: orphans not repaired after 120 s`);
      }
      return {
        sessions: size,
        checks_per_s: Math.round((checked.length * 1000) / elapsed),
        lag_p99_ms: Math.round(percentile(checked, 99)),
        lag_max_ms: Math.round(checked.reduce((max, lag) => Math.max(max, lag), 0)),
        oldest_due_ms: Math.max(0, oldest),
        orphans: ORPHANS,
        repair_ms: Math.max(...repairMs.values()),
        cpu_share: round((cpu.user + cpu.system) / 1000 / elapsed),
        redis_cpu_share: round(redisCpuShare),
      };
    } finally {
      await Promise.all(reapers.map((r) => r.stop()));
      await Promise.all(queues.map((q) => q.close()));
      for (const c of clients) c.disconnect();
    }
  } finally {
    await queue.close();
    // Drop this size's keys before the next one.
    for (let cursor = '0'; ; ) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 5_000);
      if (keys.length) await client.unlink(...keys);
      if ((cursor = next) === '0') break;
    }
    client.disconnect();
  }
}

/** Redis's own CPU time so far (ms, user + system). */
async function redisCpu(client: Redis): Promise<number> {
  const info = await client.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/** `count` sessions with a running turn and its job waiting in the queue. */
async function seed(client: Redis, store: SessionStore, queue: TurnQueue, count: number) {
  const now = Date.now();
  for (let from = 0; from < count; from += 2_000) {
    const ids = Array.from({ length: Math.min(2_000, count - from) }, (_, k) => `s-${from + k}`);
    const pipe = client.pipeline();
    for (const id of ids) pipe.hset(store.sessionKeys(id).meta, 'status', 'running', 'turn_id', `turn-${id}`, 'turn_accepted_at', now);
    await pipe.exec();
    // Each session's job on its own shard (one shard unless TURN_QUEUE_SHARDS says otherwise).
    await Promise.all(
      queue.shards.map((shard, i) =>
        shard.addBulk(
          ids
            .filter((id) => queue.shardOf(id) === i)
            .map((id) => ({ name: TURN_JOB_NAME, data: { session_id: id, turn_id: `turn-${id}` }, opts: turnJobOptions(`turn-${id}`) })),
        ),
      ),
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
