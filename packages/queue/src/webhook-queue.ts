import type { Cluster, Redis } from 'ioredis';
import { WEBHOOK_JOB_NAME, WEBHOOK_QUEUE, WebhookJob, webhookJobOptions } from './catalog.ts';
import { ShardedQueue } from './shards.ts';

/** Producer side of the webhook delivery queue: `shards` queues (WEBHOOK_QUEUE_SHARDS), by session. */
export class WebhookQueue extends ShardedQueue {
  constructor(connection: Redis | Cluster, prefix: string, shards = 1) {
    super(connection, prefix, WEBHOOK_QUEUE, shards);
  }

  /** `delayMs`: when the first attempt may start (the schedule's first entry). */
  async enqueue(jobs: (WebhookJob & { redeliveries: number })[], delayMs = 0): Promise<void> {
    const byShard = new Map<number, typeof jobs>();
    for (const job of jobs) {
      const shard = this.shardOf(job.session_id);
      byShard.set(shard, [...(byShard.get(shard) ?? []), job]);
    }
    await Promise.all(
      [...byShard].map(([shard, group]) =>
        this.shards[shard]!.addBulk(
          group.map(({ redeliveries, ...job }) => ({
            name: WEBHOOK_JOB_NAME,
            data: WebhookJob.parse(job),
            opts: { ...webhookJobOptions(job.delivery_id, redeliveries), ...(delayMs > 0 ? { delay: delayMs } : {}) },
          })),
        ),
      ),
    );
  }
}
