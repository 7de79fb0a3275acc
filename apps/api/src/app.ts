import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { SandboxStore } from '@baton/store';
import { type Keyring, keyFrom, requireKey } from './http/auth.ts';
import { errorHandler, notFound } from './http/errors.ts';
import { jsonBody } from './http/json-body.ts';
import { sessionRoutes, type SessionRoutesDeps } from './routes/sessions.ts';
import { webhookRoutes, type WebhookRoutesDeps } from './routes/webhooks.ts';
import { mountSurfaces } from './surfaces/index.ts';

export interface AppDeps extends SessionRoutesDeps, WebhookRoutesDeps {
  logger: Logger;
  bodyLimit: string;
  keyring: Keyring;
  /** OpenHands V1 sandboxes: the execution contexts its conversations run in. */
  sandboxes: SandboxStore;
}

/** The HTTP app, given its dependencies; `main.ts` wires them. */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // The compatibility surfaces (OpenHands, agenhq): each with its own auth header and error shape.
  mountSurfaces(app, deps);
  // The native API, at the root: `Authorization: Bearer <key>`.
  app.use(['/sessions', '/webhooks'], requireKey(deps.keyring, keyFrom.bearer));
  app.use(jsonBody(deps.bodyLimit));
  app.use(sessionRoutes(deps));
  app.use(webhookRoutes(deps));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
