import { DeliveryNotFoundError, DeliveryPendingError } from '@baton/core';
import type { WebhookQueue } from '@baton/queue';
import { endpointOf } from '@baton/webhooks';
import { type DeliveryLog, type DeliveryView, deliveryView } from './delivery-log.ts';
import type { EndpointBreakers } from './endpoint-breakers.ts';

/** What the API offers about webhooks: the delivery log, dead letters and redelivery. */
export class WebhookService {
  constructor(
    private readonly log: DeliveryLog,
    private readonly queue: WebhookQueue,
    /** Endpoint breakers: a redelivery closes its endpoint's (a disabled endpoint is tried again). */
    private readonly breakers?: Pick<EndpointBreakers, 'reset'>,
  ) {}

  async deliveries(sessionId: string): Promise<DeliveryView[]> {
    return (await this.log.list(sessionId)).map(deliveryView);
  }

  async deadLetters(limit: number, tenant = ''): Promise<(DeliveryView & { dead_at: string })[]> {
    const letters = await this.log.deadLetters(limit, tenant);
    const deliveries = await Promise.all(letters.map((l) => this.log.record(l.session_id, l.delivery_id)));
    // A letter whose log expired (its session was deleted a day ago) is left out.
    return letters.flatMap((letter, i) => {
      const delivery = deliveries[i];
      return delivery ? [{ ...deliveryView(delivery), dead_at: letter.dead_at }] : [];
    });
  }

  /**
   * Sends a delivery again with the same `webhook-id` and body, running the retry
   * schedule from its start. Only a delivery that has ended (delivered, failed, dead).
   * It also closes the endpoint's breaker: a disabled endpoint is tried again.
   */
  async redeliver(sessionId: string, deliveryId: string, options: { tenant?: string; now?: number } = {}): Promise<DeliveryView> {
    const now = options.now ?? Date.now();
    // With its body: a delivery logged before bodies were kept apart moves its body out first.
    const delivery = await this.log.get(sessionId, deliveryId);
    // Another tenant's delivery is not found (the log outlives a deleted session, so the
    // delivery's own tenant is checked, not the session's).
    if (!delivery || (options.tenant && (delivery.tenant ?? '') !== options.tenant)) throw new DeliveryNotFoundError(deliveryId);
    if (delivery.status === 'pending') throw new DeliveryPendingError();
    delivery.status = 'pending';
    delivery.redeliveries += 1;
    delivery.schedule_base = delivery.attempts.length;
    delivery.next_attempt_at = new Date(now).toISOString();
    // Only the record changes: the body the job sends is the one stored when the delivery was made.
    if (!(await this.log.save(delivery))) throw new DeliveryNotFoundError(deliveryId);
    await this.log.removeDeadLetter(delivery);
    await this.breakers?.reset(endpointOf(delivery.url));
    await this.queue.enqueue([{ session_id: sessionId, delivery_id: deliveryId, redeliveries: delivery.redeliveries }]);
    return deliveryView(delivery);
  }
}
