import { Router, type Request } from 'express';
import { type DeadLetter, DeadLetterQuery, type Delivery, type SameType } from '@baton/core';
import type { DeliveryView, SessionService, WebhookService } from '@baton/store';
import { tenantOf } from '../http/auth.ts';
import { allow } from '../http/errors.ts';
import { parse } from '../http/validate.ts';
import { sessionId } from './sessions.ts';

export interface WebhookRoutesDeps {
  service: SessionService;
  webhooks: WebhookService;
}

// The store's views are the documented bodies (`Delivery`, `DeadLetter` in @baton/core): a type error when they drift.
const sameDelivery: SameType<DeliveryView, Delivery> = true;
const sameDeadLetter: SameType<Awaited<ReturnType<WebhookService['deadLetters']>>[number], DeadLetter> = true;
void [sameDelivery, sameDeadLetter];

/** The webhook delivery log, dead letters and redelivery. */
export function webhookRoutes(deps: WebhookRoutesDeps): Router {
  const router = Router();

  router
    .route('/sessions/:id/webhooks')
    .get(async (req, res) => {
      const id = sessionId(req);
      await deps.service.scope(tenantOf(res)).getSession(id); // 404 for a missing session or another key's
      res.json(await deps.webhooks.deliveries(id));
    })
    .all(allow('GET'));

  router
    .route('/sessions/:id/webhooks/:deliveryId/redeliver')
    .post(async (req, res) => {
      const delivery = await deps.webhooks.redeliver(sessionId(req), deliveryId(req), { tenant: tenantOf(res) });
      res.status(202).json(delivery);
    })
    .all(allow('POST'));

  router
    .route('/webhooks/dead-letters')
    .get(async (req, res) => {
      const { limit } = parse(DeadLetterQuery, req.query, 'query');
      res.json(await deps.webhooks.deadLetters(limit, tenantOf(res)));
    })
    .all(allow('GET'));

  return router;
}

function deliveryId(req: Request): string {
  return String(req.params.deliveryId).slice(0, 200);
}
