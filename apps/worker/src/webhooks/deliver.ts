import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { WebhookJob } from '@baton/queue';
import type { Delivery, DeliveryLog, DeliveryStatus, EndpointBreakers, TenantSlots } from '@baton/store';
import {
  type SendResult,
  USER_AGENT,
  classifyResponse,
  endpointOf,
  isEndpointFailure,
  logSafeUrl,
  retryDelay,
  sendWebhook,
  signPayload,
} from '@baton/webhooks';
import { PARK_MS, type WakeJob, deferJob, releaseSlot } from '../fairness/slots.ts';

/** The longest `Retry-After` honoured; a receiver cannot park a delivery for longer. */
const MAX_RETRY_AFTER_MS = 24 * 3600_000;
/** Attempts kept in a delivery's log entry (the oldest are dropped). */
const MAX_ATTEMPTS_KEPT = 50;

export interface DeliverDeps {
  log: DeliveryLog;
  /** Delay before each attempt (ms); the first is usually 0. */
  schedule: number[];
  /** Server signing secrets (WEBHOOK_SECRET): used when a webhook has none of its own. */
  secrets: string[];
  timeoutMs: number;
  /** The webhook jobs' lock (ms): renewed before an attempt is recorded, to prove the job is still this worker's. */
  lockMs?: number;
  allowPrivate: boolean;
  logger: Logger;
  random?: () => number;
  send?: typeof sendWebhook;
  /** Told of every attempt's outcome (metrics): `retry` when another attempt is scheduled. */
  onAttempt?: (outcome: AttemptOutcome) => void;
  /** TENANT_MAX_WEBHOOKS_IN_FLIGHT: a tenant's deliveries in flight at once (none: no cap). */
  slots?: TenantSlots;
  /** Wakes a parked delivery job when one of its tenant's slots frees. */
  wake?: WakeJob;
  /** Per-endpoint circuit breakers (none: every delivery is sent). */
  breakers?: EndpointBreakers;
}

export type AttemptOutcome = 'delivered' | 'retry' | 'failed' | 'dead';

/**
 * `webhook.deliver`: one attempt at one delivery. Success, a 410 or a refused address
 * ends it; any other failure waits for the schedule's next delay (at least the
 * receiver's `Retry-After` on 429/503) and tries again; when the schedule is used up
 * the delivery is dead-lettered. Every attempt is written to the session's delivery log.
 */
export function makeWebhookProcessor(deps: DeliverDeps) {
  const send = deps.send ?? sendWebhook;
  return async (job: Job, token?: string): Promise<string> => {
    const { session_id: sessionId, delivery_id: deliveryId } = WebhookJob.parse(job.data);
    const delivery = await deps.log.get(sessionId, deliveryId);
    // Delivered, dead or stopped already (a repeated flush or a stalled job's rerun).
    if (!delivery || delivery.status !== 'pending') return 'skipped';

    // One tenant's deliveries in flight are capped across workers: over it, the job is parked
    // (delayed) and the worker takes other tenants' deliveries; a finished one wakes it.
    const tenant = delivery.tenant ?? '';
    const capped = deps.slots && deps.wake && tenant ? { slots: deps.slots, wake: deps.wake } : null;
    const jobId = job.id ?? deliveryId;
    if (capped && !(await capped.slots.take(tenant, { sessionId, jobId }))) {
      deps.logger.debug({ sessionId, deliveryId, tenant }, 'tenant at TENANT_MAX_WEBHOOKS_IN_FLIGHT: delivery parked');
      return deferJob(job, token, Date.now() + PARK_MS);
    }
    try {
      return await attempt(deps, send, job, token, delivery);
    } finally {
      if (capped) await releaseSlot(capped.slots, capped.wake, tenant, jobId, deps.logger);
    }
  };
}

/** One attempt, unless the endpoint's breaker defers it or the endpoint is disabled. */
async function attempt(deps: DeliverDeps, send: typeof sendWebhook, job: Job, token: string | undefined, delivery: Delivery): Promise<string> {
  const { session_id: sessionId, id: deliveryId } = delivery;
  const endpoint = endpointOf(delivery.url);
  const admission = deps.breakers ? await deps.breakers.admit(endpoint) : ({ verdict: 'send' } as const);
  if (admission.verdict === 'defer') {
    // Not an attempt: the retry schedule is untouched. Spread the wake-ups a little.
    return deferJob(job, token, admission.until + Math.floor((deps.random ?? Math.random)() * 250));
  }
  const result: SendResult =
    admission.verdict === 'disabled'
      ? disabledResult(endpoint, admission.since)
      : await send({
          url: delivery.url,
          headers: requestHeaders(delivery, deps.secrets),
          body: delivery.body,
          timeoutMs: deps.timeoutMs,
          allowPrivate: deps.allowPrivate,
        });
  if (deps.breakers && admission.verdict !== 'disabled' && result.errorCode !== 'EBLOCKED' && result.errorCode !== 'EINVALIDURL') {
    await deps.breakers.record(endpoint, !isEndpointFailure(result)).catch((err: Error) =>
      deps.logger.warn({ err: err.message, url: logSafeUrl(delivery.url) }, 'recording the endpoint breaker failed'),
    );
  }
  // A disabled endpoint's delivery is dead-lettered at once, with the reason as its attempt's error.
  const { status, delay } = admission.verdict === 'disabled' ? refuse(delivery, result) : record(delivery, result, deps);
  // A worker that stalled past its lock (its event loop blocked, say) has had the job taken
  // over: its attempt must not overwrite the newer record (it could put a delivered one back
  // to pending, with nobody left to retry it).
  if (token && deps.lockMs && (await job.extendLock(token, deps.lockMs)) !== 1) {
    deps.logger.warn({ sessionId, deliveryId }, 'stale webhook attempt not recorded: another worker took the delivery over');
    return 'stale';
  }
  // Dead-lettered first: once the log says `dead`, the dead-letter list already has it.
  if (status === 'dead') await deps.log.addDeadLetter(delivery);
  await deps.log.save(delivery);
  deps.onAttempt?.(status === 'pending' ? 'retry' : status);

  // Never the whole URL: its path or query may hold the receiver's secret.
  const log = deps.logger.child({ sessionId, turnId: delivery.turn_id, deliveryId, url: logSafeUrl(delivery.url) });
  if (status === 'delivered') log.debug({ status: result.statusCode, ms: result.latencyMs }, 'webhook delivered');
  else log.warn({ status: result.statusCode, error: result.error, next: delivery.next_attempt_at, outcome: status }, 'webhook attempt failed');

  if (delay !== null) {
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  }
  return status;
}

/** What a disabled endpoint's delivery records instead of an attempt. */
function disabledResult(endpoint: string, since: number): SendResult {
  const error =
    `Endpoint disabled: ${endpoint} has failed since ${new Date(since).toISOString()} without a success ` +
    '(WEBHOOK_DISABLE_AFTER_S); its deliveries are dead-lettered until one is redelivered';
  return { statusCode: null, latencyMs: 0, retryAfterMs: null, responseBody: '', error, errorCode: 'EDISABLED' };
}

function refuse(delivery: Delivery, result: SendResult, now = Date.now()): { status: DeliveryStatus; delay: null } {
  record(delivery, result, { schedule: [] }, now);
  delivery.status = 'dead';
  delivery.next_attempt_at = null;
  return { status: 'dead', delay: null };
}

/** Standard Webhooks headers, plus `Authorization` when the webhook has a token. */
export function requestHeaders(delivery: Delivery, serverSecrets: string[], now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  const headers: Record<string, string> = {
    'user-agent': USER_AGENT,
    'webhook-id': delivery.webhook_id,
    'webhook-timestamp': String(timestamp),
  };
  const secrets = delivery.secret ? delivery.secret.split(' ') : serverSecrets;
  if (secrets.length > 0) {
    headers['webhook-signature'] = signPayload({ id: delivery.webhook_id, timestamp, body: delivery.body, secrets });
  }
  if (delivery.token) headers.authorization = `Bearer ${delivery.token}`;
  return headers;
}

/** Adds the attempt to the delivery and sets its new status, and the delay before the next attempt (if any). */
export function record(
  delivery: Delivery,
  result: SendResult,
  opts: { schedule: number[]; random?: () => number },
  now = Date.now(),
): { status: DeliveryStatus; delay: number | null } {
  const delay = nextStep(delivery, result, opts, now);
  return { status: delivery.status, delay };
}

function nextStep(
  delivery: Delivery,
  result: SendResult,
  opts: { schedule: number[]; random?: () => number },
  now: number,
): number | null {
  delivery.attempts.push({
    at: new Date(now - Math.round(result.latencyMs)).toISOString(), // when it was sent
    status_code: result.statusCode,
    latency_ms: result.latencyMs,
    error: result.error,
  });
  if (delivery.attempts.length > MAX_ATTEMPTS_KEPT) {
    const dropped = delivery.attempts.length - MAX_ATTEMPTS_KEPT;
    delivery.attempts.splice(0, dropped);
    delivery.schedule_base = Math.max(0, delivery.schedule_base - dropped);
  }
  delivery.next_attempt_at = null;
  const verdict = classifyResponse(result);
  if (verdict === 'delivered') {
    delivery.status = 'delivered';
    return null;
  }
  if (verdict === 'stop') {
    delivery.status = 'failed';
    return null;
  }
  const made = delivery.attempts.length - delivery.schedule_base;
  let delay = retryDelay(opts.schedule, made, opts.random ? { random: opts.random } : {});
  if (delay === null) {
    delivery.status = 'dead';
    return null;
  }
  if ((result.statusCode === 429 || result.statusCode === 503) && result.retryAfterMs !== null) {
    delay = Math.max(delay, Math.min(result.retryAfterMs, MAX_RETRY_AFTER_MS));
  }
  delivery.next_attempt_at = new Date(now + delay).toISOString();
  return delay;
}
