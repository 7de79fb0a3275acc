import type { ErrorRequestHandler, Express, Request, RequestHandler, Router } from 'express';
import type { Logger } from 'pino';
import { type ErrorFormat, errorHandler, notFound } from '../http/errors.ts';
import { type KeyFallback, type Keyring, UnauthorizedError, conversationOf, requireKey } from '../http/auth.ts';
import { AppError } from '@baton/core';
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
  /** Keys minted for one conversation, accepted besides the API keys. */
  mintedKeys?: KeyFallback;
  /**
   * The conversation a request is about (its id as given), or null for routes about no
   * single conversation (lists, creation, sandboxes). A minted key reaches its own
   * conversation's routes only: another conversation is not found (404), other routes 401.
   */
  conversationOf?: (req: Request) => string | null;
  /** Rewrites some errors in the surface's own terms before they are answered. */
  mapErrors?: ErrorRequestHandler;
  /** The same conversation id, however it was written (hex or dashed UUID), or null. */
  normalizeId?: (raw: string) => string | null;
}

/** A minted key reaches its own conversation's routes only. */
function scopeGuard(options: SurfaceOptions): RequestHandler {
  return (req, res, next) => {
    const own = conversationOf(res);
    if (own === undefined) return next();
    const raw = options.conversationOf?.(req) ?? null;
    if (raw === null) return next(new UnauthorizedError('This key is for one conversation only'));
    if ((options.normalizeId?.(raw) ?? raw) === own) return next();
    next(new AppError(404, 'session_not_found', `Session ${raw} not found`));
  };
}

/**
 * Mounts one API surface: its auth, JSON body parsing, routes, 404 and error shape
 * apply to its own paths only, so each surface answers in its own dialect.
 */
export function mountSurface(app: Express, router: Router, options: SurfaceOptions): void {
  app.use(
    options.paths,
    requireKey(options.keyring, options.readKey, options.mintedKeys),
    scopeGuard(options),
    options.rateLimit,
    jsonBody(options.bodyLimit),
    options.idempotency,
    router,
    notFound,
    ...(options.mapErrors ? [options.mapErrors] : []),
    errorHandler(options.logger, options.format),
  );
}
