import type { Cluster, Redis } from 'ioredis';
import { TURN_JOB_NAME, TURN_QUEUE, TurnJob, turnJobId, turnJobOptions } from './catalog.ts';
import { ShardedQueue } from './shards.ts';

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
   * `jobState` calls alive). One pipeline per shard: a shard's keys share one cluster slot.
   */
  async aliveJobs(turns: { sessionId: string; turnId: string; run: number }[]): Promise<boolean[]> {
    const alive: boolean[] = new Array(turns.length).fill(false);
    const byShard = new Map<number, number[]>();
    turns.forEach((turn, i) => {
      const shard = this.shardOf(turn.sessionId);
      byShard.set(shard, [...(byShard.get(shard) ?? []), i]);
    });
    await Promise.all(
      [...byShard].map(async ([shard, indexes]) => {
        const queue = this.shards[shard] as (typeof this.shards)[number];
        const pipe = ((await queue.client) as unknown as Redis | Cluster).pipeline();
        for (const i of indexes) {
          const { turnId, run } = turns[i] as (typeof turns)[number];
          pipe.hmget(queue.toKey(turnJobId(turnId, run)), 'timestamp', 'finishedOn');
        }
        const replies = (await pipe.exec()) ?? [];
        replies.forEach(([err, fields], j) => {
          if (err) throw err;
          const [created, finished] = fields as (string | null)[];
          alive[indexes[j] as number] = created !== null && !finished;
        });
      }),
    );
    return alive;
  }
}
