import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { TURN_JOB_NAME, TURN_QUEUE, TurnJob, turnJobId, turnJobOptions } from './catalog.ts';
import { ShardedQueue } from './shards.ts';

const ALIVE_JOBS_LUA = readFileSync(new URL('./lua/alive-jobs.lua', import.meta.url), 'utf8');

/** lua/alive-jobs.lua on this connection: one '0'/'1' per job key. */
function aliveJobsScript(client: Redis | Cluster, keys: string[]): Promise<string> {
  const command = client as unknown as { batonAliveJobs?: (count: number, ...keys: string[]) => Promise<string> };
  if (!command.batonAliveJobs) client.defineCommand('batonAliveJobs', { lua: ALIVE_JOBS_LUA });
  return (command.batonAliveJobs as NonNullable<typeof command.batonAliveJobs>).call(client, keys.length, ...keys);
}

/** Producer side of the turn queue: `shards` queues (TURN_QUEUE_SHARDS), a session's turns all in one. */
export class TurnQueue extends ShardedQueue {
  constructor(connection: Redis | Cluster, prefix: string, shards = 1) {
    super(connection, prefix, TURN_QUEUE, shards);
  }

  async enqueue(job: TurnJob): Promise<void> {
    // Built by Baton itself (typed), so not parsed again on this hot path.
    const run = job.run ?? 0;
    const data: TurnJob = run > 0 ? { session_id: job.session_id, turn_id: job.turn_id, run } : { session_id: job.session_id, turn_id: job.turn_id };
    await this.queueFor(job.session_id).add(TURN_JOB_NAME, data, turnJobOptions(job.turn_id, run));
  }

  /** The job's fate, for the reaper: missing, still going, or failed for good. */
  async jobState(
    sessionId: string,
    turnId: string,
    run = 0,
  ): Promise<{ state: 'missing' | 'alive' | 'completed' } | { state: 'failed'; reason: string }> {
    const job = await this.queueFor(sessionId).getJob(turnJobId(turnId, run));
    if (!job) return { state: 'missing' };
    // `finishedOn` is set only once a job is done for good (retries go back to waiting).
    if (!job.finishedOn) return { state: 'alive' };
    // A job that failed once and then succeeded keeps its old failedReason: ask its state.
    return (await job.isFailed()) ? { state: 'failed', reason: job.failedReason } : { state: 'completed' };
  }

  /**
   * For many turns at once: true when the turn's job exists and is not done for good (what
   * `jobState` calls alive). One script call per shard: a shard's keys share one cluster slot.
   */
  async aliveJobs(turns: { sessionId: string; turnId: string; run: number }[]): Promise<boolean[]> {
    const alive: boolean[] = new Array(turns.length).fill(false);
    const byShard = new Map<number, number[]>();
    turns.forEach((turn, i) => {
      const shard = this.shardOf(turn.sessionId);
      const indexes = byShard.get(shard);
      if (indexes) indexes.push(i);
      else byShard.set(shard, [i]);
    });
    await Promise.all(
      [...byShard].map(async ([shard, indexes]) => {
        const queue = this.shards[shard] as (typeof this.shards)[number];
        const client = (await queue.client) as unknown as Redis | Cluster;
        const keys = indexes.map((i) => {
          const { turnId, run } = turns[i] as (typeof turns)[number];
          return queue.toKey(turnJobId(turnId, run));
        });
        const flags = await aliveJobsScript(client, keys);
        indexes.forEach((i, j) => (alive[i] = flags[j] === '1'));
      }),
    );
    return alive;
  }
}
