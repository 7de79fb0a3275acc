import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { type Health, openApiDocument } from '@baton/core';
import type { IdempotencyStore, RateLimiter, SandboxStore } from '@baton/store';
import { type Keyring, keyFrom, requireKey } from './http/auth.ts';
import { errorHandler, notFound } from './http/errors.ts';
import { idempotency } from './http/idempotency.ts';
import { jsonBody } from './http/json-body.ts';
import { rateLimit } from './http/rate-limit.ts';
import { requestContext } from './http/request-context.ts';
import { mountOps, type OpsDeps } from './routes/ops.ts';
import { consoleRoutes } from './routes/console.ts';
import { docsRoutes } from './routes/docs.ts';
import { eventRoutes, type EventRoutesDeps } from './routes/events.ts';
import { sessionRoutes, type SessionRoutesDeps } from './routes/sessions.ts';
import { webhookRoutes, type WebhookRoutesDeps } from './routes/webhooks.ts';
import { mountSurfaces } from './surfaces/index.ts';
import { serverDetailsRoutes } from './surfaces/openhands/server-details.ts';

export interface AppDeps extends SessionRoutesDeps, WebhookRoutesDeps, EventRoutesDeps {
  logger: Logger;
  bodyLimit: string;
  keyring: Keyring;
  /** OpenHands V1 sandboxes: the execution contexts its conversations run in. */
  sandboxes: SandboxStore;
  /** `/ready`, `/metrics`, Bull Board; off when not given. */
  ops?: OpsDeps;
  /** One log line per request (`LOG_REQUESTS`, default true). */
  logRequests?: boolean;
  /** Idempotency-Key records; without it the header is ignored. */
  idempotency?: IdempotencyStore;
  /** Per-API-key rate limit; without it, none. */
  rateLimiter?: RateLimiter;
  /** Where the console's built files are (default `apps/console/dist`). */
  consoleDir?: string;
}

/** The native API's paths; every other path belongs to a surface, the docs or operations. */
const NATIVE_PATHS = ['/sessions', '/webhooks'];

const skip: RequestHandler = (_req, _res, next) => next();

/** The HTTP app, given its dependencies; `main.ts` wires them. */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Request id (x-request-id), per-request logger, access line and latency metric.
  app.use(requestContext({ logger: deps.logger, logRequests: deps.logRequests ?? true, ...(deps.ops ? { observe: deps.ops.metrics.observe } : {}) }));

  const guards = {
    rateLimit: rateLimit(deps.rateLimiter),
    idempotency: deps.idempotency ? idempotency(deps.idempotency, deps.logger) : skip,
  };
  // The native API (`Authorization: Bearer <key>`) first: its routes take most of the
  // traffic, so they are matched with the fewest layers in front of them.
  app.use(NATIVE_PATHS, requireKey(deps.keyring, keyFrom.bearer), guards.rateLimit, jsonBody(deps.bodyLimit), guards.idempotency);
  app.use(sessionRoutes(deps));
  app.use(eventRoutes(deps));
  app.use(webhookRoutes(deps));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' } satisfies Health);
  });
  // The OpenHands agent server's liveness and version routes: public, as upstream.
  const details = serverDetailsRoutes();
  app.use('/alive', details.alive);
  app.use('/server_info', details.info);
  if (deps.ops) mountOps(app, deps.ops);
  // The OpenAPI document of the native API and its interactive docs: public, like /health.
  const { pageLimitMax, longPoll } = deps;
  app.use(docsRoutes(openApiDocument({ pageLimitMax, longPollDefaultS: longPoll.defaultS, longPollMaxS: longPoll.maxS })));
  // The web console: built static files, public (its calls to the API carry the key).
  app.use(consoleRoutes(deps.consoleDir));
  // The compatibility surfaces (OpenHands, agenhq): each with its own auth header and error shape.
  mountSurfaces(app, deps, guards);
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
