import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { queuePrefix } from '@baton/core';
import { CANARY_JOB_NAME, CANARY_QUEUE, CanaryJob, canaryJobOptions } from './catalog.ts';

/** When a worker last answered a canary (ms, Redis's clock). */
export const canaryKey = (prefix: string) => `${prefix}:canary:seen`;

/** Both sides read the clock of the Redis node that holds the key: no skew between hosts. */
const RECORD = `local t = redis.call('TIME')
redis.call('SET', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000), 'PX', 86400000)
return 1`;
const AGE = `local t = redis.call('TIME')
local seen = redis.call('GET', KEYS[1])
if not seen then return -1 end
return math.max(0, t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(seen))`;

/** Worker side: the canary processor records when it answered. */
export async function recordCanary(redis: Redis | Cluster, prefix: string): Promise<void> {
  await redis.eval(RECORD, 1, canaryKey(prefix));
}

export interface ReadinessOptions {
  /** A canary answered longer ago than this does not count (READY_MAX_AGE_MS). */
  maxAgeMs: number;
  /** This process sends at most one canary per interval (READY_CANARY_INTERVAL_MS). */
  intervalMs: number;
  /** How long `check` waits for a canary's answer when the last one is too old (READY_WAIT_MS). */
  waitMs: number;
  pollMs?: number;
}

export type Readiness =
  | { ready: true; ageMs: number }
  | { ready: false; reason: 'no_worker' | 'redis_unavailable'; ageMs: number | null; message: string };

/**
 * API side of readiness: Redis answering is not enough, a worker must have consumed a
 * canary job recently. `check` sends a canary when the last answer is older than the
 * interval (so probes keep it fresh) and, when none is recent enough, waits briefly
 * for one.
 */
export class CanaryQueue {
  readonly queue: Queue;
  private lastSent = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
    private readonly options: ReadinessOptions,
  ) {
    this.queue = new Queue(CANARY_QUEUE, { connection: redis, prefix: queuePrefix(prefix) });
  }

  /** Sends a canary, unless this process sent one within the interval. */
  async send(now = Date.now()): Promise<void> {
    if (now - this.lastSent < this.options.intervalMs) return;
    this.lastSent = now;
    await this.queue.add(CANARY_JOB_NAME, CanaryJob.parse({ sent_at: now }), canaryJobOptions());
  }

  /** Milliseconds since a worker last answered a canary, or null when none has. */
  async age(): Promise<number | null> {
    const age = Number(await this.redis.eval(AGE, 1, canaryKey(this.prefix)));
    return age < 0 ? null : age;
  }

  async check(): Promise<Readiness> {
    const { maxAgeMs, intervalMs, waitMs, pollMs = 50 } = this.options;
    const fresh = (age: number | null): age is number => age !== null && age <= maxAgeMs;
    try {
      let age = await this.age();
      if (age === null || age > intervalMs) await this.send();
      const deadline = Date.now() + waitMs;
      while (!fresh(age) && Date.now() < deadline) {
        await sleep(pollMs);
        age = await this.age();
      }
      if (fresh(age)) return { ready: true, ageMs: age };
      const message =
        age === null
          ? 'No worker has answered a readiness canary: is any worker running?'
          : `No worker has answered a readiness canary for ${age} ms (more than ${maxAgeMs} ms)`;
      return { ready: false, reason: 'no_worker', ageMs: age, message };
    } catch (err) {
      return { ready: false, reason: 'redis_unavailable', ageMs: null, message: `Redis is unavailable: ${(err as Error).message}` };
    }
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
