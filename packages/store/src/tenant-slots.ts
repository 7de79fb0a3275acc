import type { RedisClient } from './connections.ts';
import { callScript, defineScripts } from './scripts.ts';

/** What a tenant's slots limit: its turns running at once, or its webhook deliveries in flight. */
export type SlotKind = 'turns' | 'webhooks';

/** A job waiting for one of its tenant's slots: enough to find it again on its queue. */
export interface ParkedJob {
  sessionId: string;
  jobId: string;
}

/**
 * A cap per tenant on jobs of one kind at once, across every worker (TENANT_MAX_RUNNING,
 * TENANT_MAX_WEBHOOKS_IN_FLIGHT). Each slot is a lease that lapses unless renewed, so a
 * dead worker's slots free themselves. A job over the cap is parked: the caller defers it
 * (a delayed job, which also wakes on its own) and whoever frees a slot wakes the oldest.
 */
export class TenantSlots {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    readonly kind: SlotKind,
    private readonly options: { max: number; leaseMs: number },
  ) {
    defineScripts(redis);
  }

  private keys(tenant: string): [string, string] {
    const base = `${this.prefix}:fair:{${tenant}}:${this.kind}`;
    return [base, `${base}:parked`];
  }

  /** True when the job got a slot; false when it is parked (defer it). */
  async take(tenant: string, job: ParkedJob, now = Date.now()): Promise<boolean> {
    const taken = await callScript(this.redis, 'slotTake', this.keys(tenant), [
      job.jobId,
      now,
      this.options.leaseMs,
      this.options.max,
      `${job.sessionId} ${job.jobId}`,
    ]);
    return taken === 1;
  }

  /** Extends a held slot's lease (a long turn); false when it had lapsed already. */
  async renew(tenant: string, jobId: string, now = Date.now()): Promise<boolean> {
    const [leases] = this.keys(tenant);
    const [changed] = (await this.redis.multi().zadd(leases, 'XX', 'CH', now + this.options.leaseMs, jobId).pexpire(leases, this.options.leaseMs).exec()) ?? [];
    return changed?.[1] === 1;
  }

  /** Frees the job's slot; answers the oldest parked job, taken off the parked list, to wake. */
  async release(tenant: string, jobId: string): Promise<ParkedJob | null> {
    const woken = (await callScript(this.redis, 'slotRelease', this.keys(tenant), [jobId])) as string | null;
    if (!woken) return null;
    const [sessionId = '', parkedId = ''] = woken.split(' ');
    return { sessionId, jobId: parkedId };
  }

  /** Slots held now (leases not lapsed), for tests and metrics. */
  async held(tenant: string, now = Date.now()): Promise<number> {
    return this.redis.zcount(this.keys(tenant)[0], now, '+inf');
  }
}
