import { z } from 'zod';
import type { JobsOptions } from 'bullmq';

/**
 * The job catalog: every queue Baton uses, the name and payload schema of its jobs,
 * and their retry policy. Producers and workers both go through it, so a payload is
 * validated against the same schema on both sides.
 */
export const TURN_QUEUE = 'turns';

/**
 * What each queue keeps of its finished jobs (BullMQ trims as jobs finish): completed jobs an
 * hour, the newest 1,000; failed jobs a week, the newest 1,000. Redis holds no more than that
 * whatever the traffic (a turn's outcome lives with its session; a delivery's in its log).
 */
export const KEEP_COMPLETED = { age: 3600, count: 1000 } as const;
export const KEEP_FAILED = { age: 7 * 24 * 3600, count: 1000 } as const;

export const TurnJob = z.strictObject({
  session_id: z.string().min(1),
  turn_id: z.string().min(1),
  /** The turn's resumes before this job (absent: 0). A turn that waited for a person goes on in a job of its own. */
  run: z.int().min(0).optional(),
});
export type TurnJob = z.infer<typeof TurnJob>;

/** A turn's job id: the turn id, then `<turn id>.<run>` for each resume after an interrupt. */
export function turnJobId(turnId: string, run = 0): string {
  return run > 0 ? `${turnId}.${run}` : turnId;
}

export const TURN_JOB_NAME = 'turn.run';

/**
 * A turn job fails only when Redis itself fails under it (agent errors are results,
 * recorded on the session): retry it a few times with backoff. The job id is the turn
 * id, so a turn enqueued twice (by the API and later the reaper) runs once.
 */
export const turnJobOptions = (turnId: string, run = 0): JobsOptions => ({
  jobId: turnJobId(turnId, run),
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
});

/** Webhook deliveries: a queue of their own, so a slow receiver never holds a turn worker. */
export const WEBHOOK_QUEUE = 'webhooks';

export const WebhookJob = z.strictObject({
  session_id: z.string().min(1),
  delivery_id: z.string().min(1),
});
export type WebhookJob = z.infer<typeof WebhookJob>;

export const WEBHOOK_JOB_NAME = 'webhook.deliver';

/**
 * One job per delivery run (`.r<n>` counts redeliveries), so queueing a delivery twice
 * is a no-op. The retry schedule is not BullMQ's: the processor moves the job to
 * delayed itself (see the delivery log); `attempts` here only covers Redis failures.
 */
export const webhookJobOptions = (deliveryId: string, redeliveries: number): JobsOptions => ({
  jobId: `${deliveryId}.r${redeliveries}`,
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
});

/**
 * Readiness canaries: `/ready` sends one at most every few seconds and each worker
 * process answers them on a queue of its own (concurrency 1), so a canary is answered
 * even when every turn slot is busy. One job id: at most one canary waits at a time.
 */
export const CANARY_QUEUE = 'canary';

export const CanaryJob = z.strictObject({ sent_at: z.number() });
export type CanaryJob = z.infer<typeof CanaryJob>;

export const CANARY_JOB_NAME = 'canary';

export const canaryJobOptions = (): JobsOptions => ({
  jobId: 'canary',
  removeOnComplete: true,
  removeOnFail: true,
});
