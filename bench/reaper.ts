/**
 * Bench phase `r`: does the reaper keep up with many active sessions? Simulated with index
 * entries: sessions whose turn is running and whose job is alive (waiting in the queue, as a
 * healthy turn's), their checks spread over the grace period as in steady state, and a few
 * orphans (running turns whose job never arrived) due at once behind them. Two reapers (two
 * workers) run the real pass code against them; the figure is how long after its check time
 * each orphan is repaired (its job enqueued), beside the same with 100 sessions.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { TURN_JOB_NAME, TurnQueue, turnJobOptions } from '@baton/queue';
import { SessionStore } from '@baton/store';
import { startReaper } from '../apps/worker/src/reaper.ts';
import { round } from './load.ts';

/** The defaults (RUNNING_GRACE_MS, REAPER_INTERVAL_MS): the documented bound is one interval after the check time. */
const GRACE_MS = 10_000;
const INTERVAL_MS = 2_000;
const ORPHANS = 10;
const REAPERS = 2;

export interface ReaperRow {
  sessions: number;
  orphans: number;
  /** From the orphans' check time to the last one's repair (ms); bound: REAPER_INTERVAL_MS. */
  repair_ms: number;
  /** How long the oldest due entry had waited, at most, over a steady-state grace period (ms; sampled every 250 ms after the first passes). */
  max_lag_ms: number;
  /** Seconds of reaper work (its process's CPU) per second, in steady state. */
  cpu_share: number;
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
    // Each reaper with its own connection, as in separate workers.
    const clients = Array.from({ length: REAPERS }, () => new Redis(redisUrl, { maxRetriesPerRequest: null }));
    const queues = clients.map((c) => new TurnQueue(c, prefix));
    const reapers = clients.map((c, i) =>
      startReaper(
        { store: new SessionStore(c, { prefix, runningGraceMs: GRACE_MS }), queue: queues[i]!, logger, flushOutbox: async () => {}, graceMs: GRACE_MS },
        INTERVAL_MS,
      ),
    );
    try {
      // Steady state for one grace period: how far behind its due entries the reaper falls.
      const cpu0 = process.cpuUsage();
      const started = Date.now();
      let maxLag = 0;
      while (Date.now() - started < GRACE_MS) {
        await sleep(250);
        // After the first passes (the seed starts with one interval's entries due at once).
        if (Date.now() - started < 2 * INTERVAL_MS) continue;
        const [, score] = await client.zrange(store.keys.running, 0, 0, 'WITHSCORES');
        maxLag = Math.max(maxLag, Date.now() - Number(score ?? Date.now()));
      }
      const cpu = process.cpuUsage(cpu0);
      const cpuShare = (cpu.user + cpu.system) / 1000 / (Date.now() - started);

      // Orphans: accepted long ago, no job; due now, behind every healthy entry due by now.
      const dueAt = Date.now();
      const orphans = Array.from({ length: ORPHANS }, (_, i) => `orphan-${size}-${i}`);
      const pipe = client.pipeline();
      for (const id of orphans) {
        pipe.hset(store.sessionKeys(id).meta, 'status', 'running', 'turn_id', `turn-${id}`, 'turn_accepted_at', dueAt - 2 * GRACE_MS);
        pipe.zadd(store.keys.running, dueAt, id);
      }
      await pipe.exec();
      // Repaired when the reaper enqueued its job: the job's own creation time (the reaper's
      // clock, this process), so this loop's polling adds nothing to the figure.
      const repairedAt = new Map<string, number>();
      while (repairedAt.size < orphans.length) {
        for (const id of orphans) {
          if (repairedAt.has(id)) continue;
          const job = await queue.queueFor(id).getJob(`turn-${id}`);
          if (job) repairedAt.set(id, job.timestamp);
        }
        if (repairedAt.size < orphans.length) await sleep(50);
        if (Date.now() - dueAt > 120_000) throw new Error(`reaper bench: orphans not repaired after 120 s`);
      }
      return { sessions: size, orphans: ORPHANS, repair_ms: Math.max(...repairedAt.values()) - dueAt, max_lag_ms: Math.max(0, maxLag), cpu_share: round(cpuShare) };
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
