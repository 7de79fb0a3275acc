import type { RequestHandler } from 'express';
import { RateLimitedError } from '@baton/core';
import type { RateLimiter } from '@baton/store';
import { tenantOf } from './auth.ts';

/** Per API key (`RATE_LIMIT_PER_S`, `RATE_LIMIT_BURST`): 429 with Retry-After beyond it. Off without keys. */
export function rateLimit(limiter: RateLimiter | undefined): RequestHandler {
  return (_req, res, next) => {
    const tenant = tenantOf(res);
    if (!limiter || tenant === '') return next();
    limiter.take(tenant).then(
      (waitMs) => next(waitMs > 0 ? new RateLimitedError(waitMs) : undefined),
      (err: unknown) => next(err),
    );
  };
}
