import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { errorHandler, notFound } from './http/errors.ts';
import { jsonBody } from './http/json-body.ts';
import { sessionRoutes, type SessionRoutesDeps } from './routes/sessions.ts';

export interface AppDeps extends SessionRoutesDeps {
  logger: Logger;
  bodyLimit: string;
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
  app.use(jsonBody(deps.bodyLimit));
  app.use(sessionRoutes(deps));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
