import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { queuePrefix } from '@baton/core';
import { TURN_JOB_NAME, TURN_QUEUE, TurnJob, turnJobId, turnJobOptions } from './catalog.ts';

/** Producer side of the turn queue. */
export class TurnQueue {
  readonly queue: Queue;

  constructor(connection: Redis | Cluster, prefix: string) {
    this.queue = new Queue(TURN_QUEUE, { connection, prefix: queuePrefix(prefix) });
  }

  async enqueue(job: TurnJob): Promise<void> {
    // Built by Baton itself (typed), so not parsed again on this hot path.
    const run = job.run ?? 0;
    const data: TurnJob = run > 0 ? { session_id: job.session_id, turn_id: job.turn_id, run } : { session_id: job.session_id, turn_id: job.turn_id };
    await this.queue.add(TURN_JOB_NAME, data, turnJobOptions(job.turn_id, run));
  }

  /** The job's fate, for the reaper: missing, still going, or failed for good. */
  async jobState(turnId: string, run = 0): Promise<{ state: 'missing' | 'alive' | 'completed' } | { state: 'failed'; reason: string }> {
    const job = await this.queue.getJob(turnJobId(turnId, run));
    if (!job) return { state: 'missing' };
    // `finishedOn` is set only once a job is done for good (retries go back to waiting).
    if (!job.finishedOn) return { state: 'alive' };
    // A job that failed once and then succeeded keeps its old failedReason: ask its state.
    return (await job.isFailed()) ? { state: 'failed', reason: job.failedReason } : { state: 'completed' };
  }

  /**
   * For many turns at once: true when the turn's job exists and is not done for good (what
   * `jobState` calls alive). One pipeline: a queue's keys share one cluster slot.
   */
  async aliveJobs(turns: { turnId: string; run: number }[]): Promise<boolean[]> {
    if (turns.length === 0) return [];
    const pipe = ((await this.queue.client) as unknown as Redis | Cluster).pipeline();
    for (const { turnId, run } of turns) pipe.hmget(this.queue.toKey(turnJobId(turnId, run)), 'timestamp', 'finishedOn');
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([err, fields]) => {
      if (err) throw err;
      const [created, finished] = fields as (string | null)[];
      return created !== null && !finished;
    });
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
