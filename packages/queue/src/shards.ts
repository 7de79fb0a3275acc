import { type JobType, Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { type ShardedQueueKind, queueShardPrefixes, shardOf } from '@baton/core';

/**
 * One logical queue split into shards, each a BullMQ queue under a hash tag of its own
 * (see `queueShardPrefixes`); a session's jobs always go to the same shard.
 */
export class ShardedQueue {
  /** The shards' BullMQ queues, by shard number. */
  readonly shards: Queue[];

  constructor(
    connection: Redis | Cluster,
    prefix: string,
    readonly name: ShardedQueueKind,
    shardCount = 1,
  ) {
    this.shards = queueShardPrefixes(prefix, name, shardCount).map((shardPrefix) => new Queue(name, { connection, prefix: shardPrefix }));
  }

  /** The shard of a session's jobs. */
  shardOf(sessionId: string): number {
    return shardOf(sessionId, this.shards.length);
  }

  /** The BullMQ queue holding a session's jobs. */
  queueFor(sessionId: string): Queue {
    return this.shards[this.shardOf(sessionId)] as Queue;
  }

  /** Job counts summed over the shards. */
  async getJobCounts(...states: JobType[]): Promise<Record<string, number>> {
    const all = await Promise.all(this.shards.map((queue) => queue.getJobCounts(...states)));
    const sum: Record<string, number> = {};
    for (const counts of all) for (const [state, n] of Object.entries(counts)) sum[state] = (sum[state] ?? 0) + n;
    return sum;
  }

  /**
   * Wakes a job parked as delayed (its tenant was at its cap and a slot freed): it goes back
   * to waiting. False when it is not delayed any more (it woke by itself, or is gone).
   */
  async wake(sessionId: string, jobId: string): Promise<boolean> {
    const job = await this.queueFor(sessionId).getJob(jobId);
    if (!job) return false;
    try {
      await job.promote();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((queue) => queue.close()));
  }
}
