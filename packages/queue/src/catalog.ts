import { z } from 'zod';
import type { JobsOptions } from 'bullmq';

/**
 * The job catalog: every queue Baton uses, the name and payload schema of its jobs,
 * and their retry policy. Producers and workers both go through it, so a payload is
 * validated against the same schema on both sides.
 */
export const TURN_QUEUE = 'turns';

export const TurnJob = z.strictObject({
  session_id: z.string().min(1),
  turn_id: z.string().min(1),
});
export type TurnJob = z.infer<typeof TurnJob>;

export const TURN_JOB_NAME = 'turn.run';

/**
 * A turn job fails only when Redis itself fails under it (agent errors are results,
 * recorded on the session): retry it a few times with backoff. The job id is the turn
 * id, so a turn enqueued twice (by the API and later the reaper) runs once.
 */
export const turnJobOptions = (turnId: string): JobsOptions => ({
  jobId: turnId,
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});
