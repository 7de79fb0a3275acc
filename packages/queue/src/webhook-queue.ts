import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { queuePrefix } from '@baton/core';
import { WEBHOOK_JOB_NAME, WEBHOOK_QUEUE, WebhookJob, webhookJobOptions } from './catalog.ts';

/** Producer side of the webhook delivery queue. */
export class WebhookQueue {
  readonly queue: Queue;

  constructor(connection: Redis | Cluster, prefix: string) {
    this.queue = new Queue(WEBHOOK_QUEUE, { connection, prefix: queuePrefix(prefix) });
  }

  /** `delayMs`: when the first attempt may start (the schedule's first entry). */
  async enqueue(jobs: (WebhookJob & { redeliveries: number })[], delayMs = 0): Promise<void> {
    if (jobs.length === 0) return;
    await this.queue.addBulk(
      jobs.map(({ redeliveries, ...job }) => ({
        name: WEBHOOK_JOB_NAME,
        data: WebhookJob.parse(job),
        opts: { ...webhookJobOptions(job.delivery_id, redeliveries), ...(delayMs > 0 ? { delay: delayMs } : {}) },
      })),
    );
  }

  /**
   * Wakes a job parked as delayed (its tenant was at its cap and a slot freed): it goes back
   * to waiting. False when it is not delayed any more (it woke by itself, or is gone).
   */
  async wake(_sessionId: string, jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job) return false;
    try {
      await job.promote();
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
