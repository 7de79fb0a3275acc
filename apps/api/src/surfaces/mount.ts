import type { Express, Request, RequestHandler, Router } from 'express';
import type { Logger } from 'pino';
import { type ErrorFormat, errorHandler, notFound } from '../http/errors.ts';
import { type Keyring, requireKey } from '../http/auth.ts';
import { jsonBody } from '../http/json-body.ts';

export interface SurfaceOptions {
  /** Path prefixes the surface owns; its router's paths are relative to them. */
  paths: string[];
  keyring: Keyring;
  /** Where the surface's clients put their API key. */
  readKey: (req: Request) => string | undefined;
  bodyLimit: string;
  logger: Logger;
  /** The surface's own error body (401, 404, 422... all go through it). */
  format: ErrorFormat;
  /** Per-key rate limit (after auth) and Idempotency-Key handling (after the body is parsed). */
  rateLimit: RequestHandler;
  idempotency: RequestHandler;
}

/**
 * Mounts one API surface: its auth, JSON body parsing, routes, 404 and error shape
 * apply to its own paths only, so each surface answers in its own dialect.
 */
export function mountSurface(app: Express, router: Router, options: SurfaceOptions): void {
  app.use(
    options.paths,
    requireKey(options.keyring, options.readKey),
    options.rateLimit,
    jsonBody(options.bodyLimit),
    options.idempotency,
    router,
    notFound,
    errorHandler(options.logger, options.format),
  );
}
