import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { TenantSlots } from '@baton/store';

/**
 * A job parked over its tenant's cap wakes by itself after this long even if no freed slot
 * wakes it first (the worker that should have died, or the wake-up raced the parking).
 */
export const PARK_MS = 5_000;

/** Wakes a delayed job on its queue; false when it is not delayed (any more). */
export type WakeJob = (sessionId: string, jobId: string) => Promise<boolean>;

/** Defers a job being processed until `at`: it goes to BullMQ's delayed set, holding nothing. */
export async function deferJob(job: Job, token: string | undefined, at: number): Promise<never> {
  await job.moveToDelayed(at, token);
  throw new DelayedError();
}

/**
 * Frees the job's slot and wakes the oldest parked job of the tenant. A parked job that
 * cannot be woken (deleted, or woken by itself meanwhile) is skipped for the next one.
 */
export async function releaseSlot(slots: TenantSlots, wake: WakeJob, tenant: string, jobId: string, log: Logger): Promise<void> {
  try {
    for (let i = 0; i < 5; i++) {
      const parked = await slots.release(tenant, jobId);
      if (!parked || (await wake(parked.sessionId, parked.jobId))) return;
    }
  } catch (err) {
    // The lease lapses by itself; parked jobs wake after PARK_MS.
    log.warn({ err: (err as Error).message, kind: slots.kind }, 'freeing a tenant slot failed; it frees itself when its lease lapses');
  }
}
