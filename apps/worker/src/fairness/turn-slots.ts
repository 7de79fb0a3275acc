import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { TenantSlots } from '@baton/store';
import { PARK_MS, type WakeJob, deferJob, releaseSlot } from './slots.ts';

export interface TurnSlotDeps {
  /** The session's tenant ('' for none: not capped), null when the session is gone. */
  tenantOf: (sessionId: string) => Promise<string | null>;
  slots: TenantSlots;
  wake: WakeJob;
  /** The slot's lease (ms); renewed every fifth of it while the turn runs, as the job lock. */
  leaseMs: number;
  logger: Logger;
  parkMs?: number;
}

type Processor = (job: Job, token?: string) => Promise<string>;

/**
 * TENANT_MAX_RUNNING: a turn runs only with one of its tenant's slots. Over the cap its job
 * is parked (delayed), so the worker takes other tenants' jobs; a finishing turn of the
 * tenant wakes the oldest parked one. A session has one turn at a time and its next turn is
 * queued only when that one ends, so parking never reorders a session's turns.
 */
export function withTenantSlot(processor: Processor, deps: TurnSlotDeps): Processor {
  return async (job, token) => {
    const sessionId = String((job.data as { session_id?: unknown }).session_id ?? '');
    const jobId = job.id ?? '';
    const tenant = sessionId ? await deps.tenantOf(sessionId) : null;
    if (!tenant) return processor(job, token);
    if (!(await deps.slots.take(tenant, { sessionId, jobId }))) {
      deps.logger.debug({ sessionId, turnId: jobId, tenant }, 'tenant at TENANT_MAX_RUNNING: turn parked');
      return deferJob(job, token, Date.now() + (deps.parkMs ?? PARK_MS));
    }
    const renew = setInterval(() => {
      deps.slots.renew(tenant, jobId).catch(() => undefined);
    }, Math.max(50, Math.floor(deps.leaseMs / 5)));
    try {
      return await processor(job, token);
    } finally {
      clearInterval(renew);
      await releaseSlot(deps.slots, deps.wake, tenant, jobId, deps.logger);
    }
  };
}
