import type { Express, RequestHandler } from 'express';
import type { AppDeps } from '../app.ts';
import { keyFrom } from '../http/auth.ts';
import { agenhqRoutes } from './agenhq/index.ts';
import { agenhqError } from './agenhq/errors.ts';
import { mountSurface } from './mount.ts';
import { openhandsRoutes } from './openhands/index.ts';
import { fastApiError } from './openhands/errors.ts';
import { openhandsV1Routes } from './openhands-v1/index.ts';

/**
 * Every compatibility surface, each under its own paths with its own auth header and
 * error shape. All of them are thin adapters over the one SessionService.
 */
export function mountSurfaces(app: Express, deps: AppDeps, guards: { rateLimit: RequestHandler; idempotency: RequestHandler }): void {
  const common = { keyring: deps.keyring, bodyLimit: deps.bodyLimit, logger: deps.logger, ...guards };
  // OpenHands agent server (and the 0.53 events route): X-Session-API-Key, FastAPI errors.
  mountSurface(app, openhandsV1Routes(deps), {
    ...common,
    paths: ['/api/v1/app-conversations', '/api/v1/sandboxes', '/api/v1/sandbox-specs'],
    readKey: keyFrom.header('x-session-api-key'),
    format: fastApiError,
  });
  mountSurface(app, openhandsRoutes(deps), {
    ...common,
    paths: ['/api/conversations'],
    readKey: keyFrom.header('x-session-api-key'),
    format: fastApiError,
  });
  // agenhq: x-api-key, Fastify-style errors.
  mountSurface(app, agenhqRoutes(deps), {
    ...common,
    paths: ['/api/v1/sessions'],
    readKey: keyFrom.header('x-api-key'),
    format: agenhqError,
  });
}
